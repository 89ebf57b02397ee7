package auth

import (
	"context"
	"log/slog"
	"time"
)

// MessageKind says which message a Notifier should send.
type MessageKind string

// Message kinds.
const (
	// MessageVerifyEmail carries a token that verifies the address.
	MessageVerifyEmail MessageKind = "verify_email"
	// MessageResetPassword carries a token that sets a new password.
	MessageResetPassword MessageKind = "reset_password"
	// MessageChangeEmail, sent to the new address, carries a token that
	// confirms the change.
	MessageChangeEmail MessageKind = "change_email"
	// MessageEmailChangeRequested tells the current address that a change
	// to another address was requested. No token.
	MessageEmailChangeRequested MessageKind = "email_change_requested"
	// MessagePasswordChanged tells the user their password was changed or
	// reset. No token.
	MessagePasswordChanged MessageKind = "password_changed"
	// MessageAccountExists tells the owner of an address that someone tried
	// to register it again (the enumeration-safe answer to a taken email).
	// No token.
	MessageAccountExists MessageKind = "account_exists"
)

// Message is what a Notifier delivers. Token is a secret: put it in the
// fragment of a link (https://app.example/reset#token=...), which browsers
// never send to servers or in Referer headers, and never log it.
type Message struct {
	Kind      MessageKind
	To        string
	UserID    string
	TenantID  string
	Token     string
	ExpiresAt time.Time
}

// LogValue implements slog.LogValuer: a logged Message shows its kind,
// user and expiry, never its token or address.
func (m Message) LogValue() slog.Value {
	return slog.GroupValue(slog.String("kind", string(m.Kind)), slog.String("user", m.UserID), slog.Time("expires", m.ExpiresAt))
}

// Notifier delivers account messages, usually by e-mail. Notify should
// hand the message to a queue and return at once: a flow that answers the
// same whether or not an account exists (password reset) must not take
// longer when a message is sent. An error is logged and, for flows the
// user is waiting on (verification, e-mail change), returned.
type Notifier interface {
	Notify(ctx context.Context, m Message) error
}

// notifyQuietly sends a notice whose failure must not fail the flow.
func (a *Authenticator) notifyQuietly(ctx context.Context, m Message) {
	if a.cfg.Notifier == nil {
		return
	}
	if err := a.cfg.Notifier.Notify(ctx, m); err != nil {
		a.cfg.Logger.WarnContext(ctx, "auth: notice not sent", "kind", string(m.Kind), "user", m.UserID, "error", err)
	}
}
