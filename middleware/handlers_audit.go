package middleware

import (
	"net/http"
	"time"

	"github.com/maestro-ml/auth"
)

// EventJSON is an audit event as GET {prefix}/audit-events writes it:
// for exports of the log that must read like the API's pages (the
// console's JSON Lines). NewEventJSON makes one.
type EventJSON struct {
	ID        string         `json:"id"`
	Type      auth.EventType `json:"type"`
	Time      time.Time      `json:"time"`
	TenantID  string         `json:"tenant_id"`
	UserID    string         `json:"user_id,omitempty"`
	ActorID   string         `json:"actor_id,omitempty"`
	SessionID string         `json:"session_id,omitempty"`
	IP        string         `json:"ip,omitempty"`
	UserAgent string         `json:"user_agent,omitempty"`
	Reason    string         `json:"reason,omitempty"`
}

// NewEventJSON returns e as the API writes it.
func NewEventJSON(e auth.Event) EventJSON {
	return EventJSON{ID: e.ID, Type: e.Type, Time: e.Time, TenantID: e.TenantID, UserID: e.UserID, ActorID: e.ActorID,
		SessionID: e.SessionID, IP: e.IP, UserAgent: e.UserAgent, Reason: e.Reason}
}

// Response bodies of the audit log.
type (
	eventList struct {
		Events     []EventJSON `json:"events"`
		NextCursor string      `json:"next_cursor,omitempty"`
	}
)

// auditEvents answers GET, for an administrator, with 200 and a page of
// the audit events of the caller's tenant, newest first: {"events":
// [...], "next_cursor"?}. The tenant is always the caller's; no parameter
// can name another. Query parameters, each at most once: user (a user ID:
// events whose subject or actor is that user), type (an event type such
// as "login.failed"), since and until (RFC 3339 times, since <= time <
// until; percent-encode a "+" offset as %2B, or use Z), cursor (the
// next_cursor of the previous page), limit (1-100, default 50). It needs
// auth.Config.AuditLog: without it, 501 not_configured. Errors also: those
// of Authenticate, 403 insufficient_role, 400 invalid_parameter for an
// unknown, repeated or invalid parameter, 503.
func (h *Handler) auditEvents(w http.ResponseWriter, r *http.Request) error {
	q, err := eventQuery(r)
	if err != nil {
		return err
	}
	evs, next, err := h.a.AuditEvents(r.Context(), q)
	if err != nil {
		return err
	}
	out := eventList{Events: make([]EventJSON, 0, len(evs)), NextCursor: next}
	for _, e := range evs {
		out.Events = append(out.Events, NewEventJSON(e))
	}
	return writeJSON(w, http.StatusOK, out)
}

// eventQuery parses the query of an audit-log listing, scoped to the
// caller's tenant. Every parameter must be known, given once and valid.
func eventQuery(r *http.Request) (auth.EventQuery, error) {
	q := auth.EventQuery{TenantID: TenantID(r)}
	err := queryParams(r, func(name, v string) bool {
		switch name {
		case "limit":
			return pageLimit(v, &q.Limit)
		case "cursor":
			q.Before = v
			return auth.ValidID(v)
		case "user":
			q.UserID = v
			return auth.ValidID(v)
		case "type":
			q.Type = auth.EventType(v)
			return validEventType(v)
		case "since":
			return rfc3339(v, &q.Since)
		case "until":
			return rfc3339(v, &q.Until)
		}
		return false
	})
	if err == nil && !q.Since.IsZero() && !q.Until.IsZero() && !q.Since.Before(q.Until) {
		err = withField(errInvalidParameter, "until")
	}
	return q, err
}

// validEventType reports whether v looks like an event type: 1 to 64
// lower-case letters, digits, dots and underscores.
func validEventType(v string) bool {
	if v == "" || len(v) > 64 {
		return false
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '.' || c == '_') {
			return false
		}
	}
	return true
}

// rfc3339 parses an RFC 3339 time parameter into dst.
func rfc3339(v string, dst *time.Time) bool {
	t, err := time.Parse(time.RFC3339, v)
	*dst = t
	return err == nil
}
