package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/maestro-ml/auth"
)

// keyFile is the content of KEY_FILE: the signing key, as a private JWK,
// and the keys it replaced, as public JWKs that only verify tokens until
// their retire_after time. For example:
//
//	{
//	  "signing": {"created_at": "2026-11-28T12:00:00Z", "jwk": {"kty": "OKP", "crv": "Ed25519", "d": "...", ...}},
//	  "verify_only": [
//	    {"created_at": "2026-10-01T09:00:00Z", "retire_after": "2026-11-28T12:16:00Z", "jwk": {"kty": "OKP", ...}}
//	  ]
//	}
//
// Retired keys keep only their public half: they never sign again, so the
// file holds one private key at a time.
type keyFile struct {
	Signing    keyEntry   `json:"signing"`
	VerifyOnly []keyEntry `json:"verify_only,omitempty"`
}

// keyEntry is one key of a keyFile.
type keyEntry struct {
	CreatedAt time.Time `json:"created_at"`
	// RetireAfter is when a verify-only key stops verifying: every token it
	// signed has expired by then.
	RetireAfter *time.Time      `json:"retire_after,omitempty"`
	JWK         json.RawMessage `json:"jwk"`
}

// keyFileMode is the permission of KEY_FILE: it holds a private key.
const keyFileMode = 0o600

// loadKeys reads the key set from path, creating the file with a new
// Ed25519 signing key if it does not exist, so that restarts (and other
// instances sharing the file) keep issued tokens valid.
func loadKeys(path string, now time.Time, log *slog.Logger) (*auth.KeySet, error) {
	kf, err := readKeyFile(path, log)
	if errors.Is(err, fs.ErrNotExist) {
		kf, err = createKeyFile(path, now)
		if err == nil {
			log.Info("created a new signing key", "file", path, "kid", mustKID(kf.Signing))
		} else if errors.Is(err, fs.ErrExist) { // another process created it first
			kf, err = readKeyFile(path, log)
		}
	}
	if err != nil {
		return nil, err
	}
	return kf.keySet(now)
}

// mustKID returns the key ID of an entry this program wrote.
func mustKID(e keyEntry) string {
	k, err := auth.ParseKey(e.JWK)
	if err != nil {
		return ""
	}
	return k.ID()
}

// readKeyFile reads and decodes path. A file that others can read is used,
// with a warning: it may come from a secrets volume whose mode the process
// cannot choose.
func readKeyFile(path string, log *slog.Logger) (*keyFile, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if st, err := os.Stat(path); err == nil && st.Mode().Perm()&0o077 != 0 {
		log.Warn("the key file is readable by other users; chmod 600 it", "file", path, "mode", st.Mode().Perm().String())
	}
	var kf keyFile
	if err := json.Unmarshal(data, &kf); err != nil {
		return nil, fmt.Errorf("key file %s: not valid JSON", path) // never echo key material
	}
	return &kf, nil
}

// keySet returns the keys of kf that are live at now: the signing key
// and the verify-only keys not yet retired.
func (kf *keyFile) keySet(now time.Time) (*auth.KeySet, error) {
	signing, err := auth.ParseKey(kf.Signing.JWK)
	if err != nil {
		return nil, fmt.Errorf("key file: signing key: %w", err)
	}
	var verify []*auth.Key
	for i, e := range kf.VerifyOnly {
		if e.RetireAfter == nil || !now.Before(*e.RetireAfter) {
			continue
		}
		k, err := auth.ParseKey(e.JWK)
		if err != nil {
			return nil, fmt.Errorf("key file: verify_only[%d]: %w", i, err)
		}
		verify = append(verify, k)
	}
	return auth.NewKeySet(signing, verify...)
}

// untilRetirement returns how long until the next verify-only key of the
// key file retires (a second after its retire_after), or an hour if none
// does sooner: the key set is then checked again.
func untilRetirement(path string, now time.Time, log *slog.Logger) time.Duration {
	next := time.Hour
	kf, err := readKeyFile(path, log)
	if err != nil {
		return next
	}
	for _, e := range kf.VerifyOnly {
		if e.RetireAfter != nil && e.RetireAfter.After(now) {
			next = min(next, e.RetireAfter.Sub(now)+time.Second)
		}
	}
	return next
}

// newSigningEntry generates an Ed25519 key (EdDSA, the library's default:
// small, fast, deterministic signatures) as a private JWK.
func newSigningEntry(now time.Time) (keyEntry, error) {
	k, err := auth.GenerateKey(auth.EdDSA)
	if err != nil {
		return keyEntry{}, err
	}
	jwk, err := k.MarshalJWK(true)
	if err != nil {
		return keyEntry{}, err
	}
	return keyEntry{CreatedAt: now.UTC(), JWK: jwk}, nil
}

// createKeyFile writes a new key file at path, failing with fs.ErrExist if
// there is one already.
func createKeyFile(path string, now time.Time) (*keyFile, error) {
	e, err := newSigningEntry(now)
	if err != nil {
		return nil, err
	}
	kf := &keyFile{Signing: e}
	data, err := json.MarshalIndent(kf, "", "  ")
	if err != nil {
		return nil, err
	}
	return kf, createSecretFile(path, data)
}

// createSecretFile writes data and a newline to a new file at path, mode
// 0600, synced; it fails with fs.ErrExist if the file exists, and leaves
// no partial file behind.
func createSecretFile(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, keyFileMode)
	if err != nil {
		return err
	}
	if _, err := f.Write(append(data, '\n')); err != nil {
		f.Close()
		os.Remove(path)
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		os.Remove(path)
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return f.Close()
}

// rotateKeys replaces the signing key of the file at path with a new one.
// The previous signing key becomes verify-only until now+keep, so tokens
// it signed stay valid until they expire; verify-only keys already retired
// are dropped. It returns the previous and the new key IDs.
func rotateKeys(path string, now time.Time, keep time.Duration, log *slog.Logger) (oldKID, newKID string, err error) {
	kf, err := readKeyFile(path, log)
	if err != nil {
		return "", "", err
	}
	old, err := auth.ParseKey(kf.Signing.JWK)
	if err != nil {
		return "", "", fmt.Errorf("key file: signing key: %w", err)
	}
	public, err := old.MarshalJWK(false)
	if err != nil {
		return "", "", err
	}
	retire := now.Add(keep).UTC()
	verify := []keyEntry{{CreatedAt: kf.Signing.CreatedAt, RetireAfter: &retire, JWK: public}}
	for _, e := range kf.VerifyOnly {
		if e.RetireAfter != nil && now.Before(*e.RetireAfter) {
			verify = append(verify, e)
		}
	}
	signing, err := newSigningEntry(now)
	if err != nil {
		return "", "", err
	}
	next := &keyFile{Signing: signing, VerifyOnly: verify}
	if _, err := next.keySet(now); err != nil { // never write a file the server cannot load
		return "", "", err
	}
	data, err := json.MarshalIndent(next, "", "  ")
	if err != nil {
		return "", "", err
	}
	if err := writeFileAtomic(path, append(data, '\n'), keyFileMode); err != nil {
		return "", "", err
	}
	return old.ID(), mustKID(signing), nil
}

// writeFileAtomic replaces path with data: readers see the old file or the
// new one, never a partial write.
func writeFileAtomic(path string, data []byte, mode os.FileMode) (err error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if err = tmp.Chmod(mode); err != nil {
		return err
	}
	if _, err = tmp.Write(data); err != nil {
		return err
	}
	if err = tmp.Sync(); err != nil {
		return err
	}
	if err = tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
