package notify

import (
	"context"
	"log/slog"

	"github.com/maestro-ml/auth"
)

var _ auth.Notifier = Log{}

// Log logs that a message would be sent, with its kind, user and expiry
// but never its token or address: a placeholder for development when no
// mail is configured. A nil Logger logs to slog.Default().
type Log struct{ Logger *slog.Logger }

// Notify implements auth.Notifier. It never fails.
func (n Log) Notify(ctx context.Context, m auth.Message) error {
	l := n.Logger
	if l == nil {
		l = slog.Default()
	}
	l.InfoContext(ctx, "notify: message not sent (notify.Log)", "kind", string(m.Kind), "user", m.UserID, "expires", m.ExpiresAt)
	return nil
}
