package bunstore

import (
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
)

func TestAuditBound(t *testing.T) {
	require.Equal(t, "01234567-89ab-7000-8000-000000000000", auditBound(time.UnixMilli(0x0123456789ab)))
	require.Equal(t, "00000000-0000-7000-8000-000000000000", auditBound(time.Unix(-5, 0)), "before the epoch")

	before := uuid.Must(uuid.NewV7()).String()
	time.Sleep(2 * time.Millisecond)
	cut := time.Now()
	time.Sleep(time.Millisecond)
	after := uuid.Must(uuid.NewV7()).String()
	require.Less(t, before, auditBound(cut))
	require.Greater(t, after, auditBound(cut))
}

func TestAuditText(t *testing.T) {
	for in, want := range map[string]string{
		"":                             "",
		"plain":                        "plain",
		"a\x00b":                       "a\uFFFDb",
		"bad \xff\xfe end":             "bad \uFFFD end",
		strings.Repeat("x", 2000):      strings.Repeat("x", maxAuditField),
		"x" + strings.Repeat("é", 600): "x" + strings.Repeat("é", 511), // 1023 bytes: no half character
	} {
		got := auditText(in)
		require.Equal(t, want, got)
		require.LessOrEqual(t, len(got), maxAuditField)
	}
	require.Nil(t, auditID(""))
	require.Equal(t, "a\uFFFD", auditID("a\x00"))
}
