package notify_test

import (
	"bytes"
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/maestro-ml/auth"
	"github.com/maestro-ml/auth/notify"
	"github.com/stretchr/testify/require"
)

func TestLogKeepsSecretsOut(t *testing.T) {
	var buf bytes.Buffer
	n := notify.Log{Logger: slog.New(slog.NewTextHandler(&buf, nil))}
	m := auth.Message{Kind: auth.MessageResetPassword, UserID: "u1", To: "kate@example.com", Token: "secret-token-value", ExpiresAt: time.Now()}
	require.NoError(t, n.Notify(context.Background(), m))
	out := buf.String()
	require.Contains(t, out, "kind="+string(auth.MessageResetPassword))
	require.Contains(t, out, "user=u1")
	require.NotContains(t, out, "secret-token-value", "the token is never logged")
	require.NotContains(t, out, "kate@example.com", "nor the address")
}
