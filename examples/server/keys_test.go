package main

import (
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestKeyRetirement: a verify-only key leaves the key set at its
// retire_after, and the server's timer is set to fire just after it.
func TestKeyRetirement(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	path := filepath.Join(t.TempDir(), "keys.json")
	now := time.Now().UTC()
	_, err := loadKeys(path, now, log)
	require.NoError(t, err)
	require.Equal(t, time.Hour, untilRetirement(path, now, log), "nothing to retire: check again in an hour")

	kf, err := readKeyFile(path, log)
	require.NoError(t, err)
	old, err := newSigningEntry(now)
	require.NoError(t, err)
	retire := now.Add(90 * time.Second)
	old.RetireAfter = &retire
	kf.VerifyOnly = append(kf.VerifyOnly, old)
	data, err := json.Marshal(kf)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(path, data, 0o600))

	require.Equal(t, 91*time.Second, untilRetirement(path, now, log))
	ks, err := kf.keySet(now)
	require.NoError(t, err)
	require.Len(t, ks.Keys(), 2, "before retirement the old key verifies")
	ks, err = kf.keySet(retire)
	require.NoError(t, err)
	require.Len(t, ks.Keys(), 1, "at retirement it is gone")
}
