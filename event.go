package auth

import (
	"context"
	"log/slog"
	"time"
)

// EventType names a security-relevant action (OWASP ASVS 5.0 V16.3).
type EventType string

// Event types. Failure events carry a Reason class, never the input.
const (
	EventUserRegistered    EventType = "user.registered"
	EventUserCreated       EventType = "user.created" // by an administrator
	EventLoginSucceeded    EventType = "login.succeeded"
	EventLoginFailed       EventType = "login.failed"
	EventLoginLocked       EventType = "login.locked"
	EventRateLimited       EventType = "rate_limited"
	EventTokenRefreshed    EventType = "token.refreshed"
	EventRefreshReused     EventType = "token.reuse_detected"
	EventRefreshFailed     EventType = "token.refresh_failed"
	EventTokenRevoked      EventType = "token.revoked"
	EventLogout            EventType = "session.logout"
	EventLogoutAll         EventType = "session.logout_all"
	EventSessionRevoked    EventType = "session.revoked"
	EventRoleChanged       EventType = "user.role_changed"
	EventActivationChanged EventType = "user.activation_changed"
	EventEmailVerified     EventType = "user.email_verified"
	// EventVerificationRemoved: an administrator marked the address
	// unverified.
	EventVerificationRemoved EventType = "user.verification_removed"
	EventEmailChangeRequest  EventType = "user.email_change_requested"
	EventEmailChanged        EventType = "user.email_changed"
	EventPasswordResetAsked  EventType = "password.reset_requested"
	EventPasswordReset       EventType = "password.reset"
	EventPasswordChanged     EventType = "password.changed"
	EventUnlocked            EventType = "login.unlocked"
	EventKeysRotated         EventType = "keys.rotated"
	EventVerificationRequest EventType = "user.verification_requested"
	// Second factors and step-up. Reason names the factor ("totp",
	// "recovery_code") where one was used.
	EventMFARequired      EventType = "login.mfa_required" // the password was right; a second step is pending
	EventMFASucceeded     EventType = "mfa.succeeded"
	EventMFAFailed        EventType = "mfa.failed"
	EventMFALocked        EventType = "mfa.locked"
	EventMFAEnrolled      EventType = "mfa.enrolled"
	EventMFADisabled      EventType = "mfa.disabled"
	EventMFAReset         EventType = "mfa.reset" // by an administrator
	EventRecoveryCodeUsed EventType = "mfa.recovery_code_used"
	EventRecoveryCodesNew EventType = "mfa.recovery_codes_generated"
	EventStepUp           EventType = "session.stepped_up"
)

// Event is one audit record. It never holds a password, a token or a hash.
type Event struct {
	// ID is a UUIDv7 (time-ordered) given when the event is emitted; an
	// EventWriter stores each ID once, so a retried write cannot
	// duplicate an event.
	ID   string
	Type EventType
	Time time.Time
	// TenantID and UserID name the subject of the action.
	TenantID string
	UserID   string
	// ActorID is the user who performed an administrative action, taken
	// from the claims in the context (NewContext); empty for self-service.
	ActorID   string
	SessionID string
	IP        string
	UserAgent string
	// Reason classifies a failure ("invalid_credentials", "inactive",
	// "rate_limited_ip", ...) or a change ("role viewer->editor").
	Reason string
}

// EventSink receives events. Record is called synchronously on the
// goroutine of the flow, after the action took effect, and must return
// quickly: write to a database or a network exporter through audit.NewAsync.
// A panic in Record is recovered and logged; nothing a sink does can fail
// or undo the action.
type EventSink interface {
	Record(ctx context.Context, e Event)
}

// SlogSink writes each event as one structured log record at Info level
// (Warn for reuse detection and lockouts).
type SlogSink struct{ Logger *slog.Logger }

// Record implements EventSink.
func (s SlogSink) Record(ctx context.Context, e Event) {
	level := slog.LevelInfo
	switch e.Type {
	case EventRefreshReused, EventLoginLocked, EventMFALocked, EventMFAReset, EventMFADisabled, EventVerificationRemoved:
		level = slog.LevelWarn
	}
	attrs := []slog.Attr{slog.String("event", string(e.Type))}
	for _, kv := range [...][2]string{
		{"tenant", e.TenantID}, {"user", e.UserID}, {"actor", e.ActorID}, {"session", e.SessionID},
		{"ip", e.IP}, {"user_agent", e.UserAgent}, {"reason", e.Reason},
	} {
		if kv[1] != "" {
			attrs = append(attrs, slog.String(kv[0], kv[1]))
		}
	}
	s.Logger.LogAttrs(ctx, level, "auth: "+string(e.Type), attrs...)
}

func safeRecord(ctx context.Context, sink EventSink, e Event, log *slog.Logger) {
	defer func() {
		if r := recover(); r != nil && log != nil {
			log.ErrorContext(ctx, "auth: event sink panicked", "event", string(e.Type))
		}
	}()
	sink.Record(ctx, e)
}

// emit completes e from the context (time, client, actor) and records it.
func (a *Authenticator) emit(ctx context.Context, e Event) {
	a.tel.recordEvent(ctx, e)
	e.ID, e.Time = newID(), a.cfg.Now().UTC()
	if c, ok := ClientFromContext(ctx); ok {
		if e.IP == "" {
			e.IP = c.IP
		}
		if e.UserAgent == "" {
			e.UserAgent = c.UserAgent
		}
	}
	if c, ok := ClaimsFromContext(ctx); ok && e.ActorID == "" && c.UserID != e.UserID {
		e.ActorID = c.UserID
	}
	e.IP, e.UserAgent = clientString(e.IP, 64), clientString(e.UserAgent, 512)
	safeRecord(ctx, a.cfg.Events, e, a.cfg.Logger)
}
