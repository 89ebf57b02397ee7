package main

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"time"

	"github.com/maestro-ml/auth/factor/totp"
)

// totpKeyFile is the content of TOTP_KEY_FILE: the keys that seal users'
// TOTP secrets at rest (AES-256-GCM), the first sealing new ones and every
// one opening those it sealed. To rotate, put a new key first and keep the
// old ones after it until no secret names them (factor/totp explains).
//
//	{"keys": [{"id": "2026-12-07", "secret": "base64 of 32 random bytes"}]}
type totpKeyFile struct {
	Keys []totpKeyEntry `json:"keys"`
}

type totpKeyEntry struct {
	ID     string `json:"id"`
	Secret []byte `json:"secret"`
}

// loadTOTPKeys reads the TOTP sealing keys from path, creating the file
// (mode 0600) with one new key if it does not exist.
func loadTOTPKeys(path string, now time.Time, log *slog.Logger) ([]totp.Key, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		if err := createTOTPKeyFile(path, now); err != nil && !errors.Is(err, fs.ErrExist) {
			return nil, err
		}
		data, err = os.ReadFile(path)
	}
	if err != nil {
		return nil, err
	}
	if st, err := os.Stat(path); err == nil && st.Mode().Perm()&0o077 != 0 {
		log.Warn("the TOTP key file is readable by other users; chmod 600 it", "file", path, "mode", st.Mode().Perm().String())
	}
	var kf totpKeyFile
	if err := json.Unmarshal(data, &kf); err != nil || len(kf.Keys) == 0 {
		return nil, fmt.Errorf("TOTP key file %s: not a JSON object with keys", path) // never echo key material
	}
	keys := make([]totp.Key, len(kf.Keys))
	for i, k := range kf.Keys {
		keys[i] = totp.Key{ID: k.ID, Secret: k.Secret}
	}
	return keys, nil
}

func createTOTPKeyFile(path string, now time.Time) error {
	secret := make([]byte, 32)
	_, _ = rand.Read(secret) // crypto/rand.Read never fails (Go 1.24)
	data, err := json.MarshalIndent(totpKeyFile{Keys: []totpKeyEntry{{ID: now.UTC().Format("2006-01-02T150405Z"), Secret: secret}}}, "", "  ")
	if err != nil {
		return err
	}
	return createSecretFile(path, data)
}
