package totp

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"
)

// ErrSealed is returned when a stored secret cannot be opened: it was
// sealed for another user, under a key that is not in Config.Keys, or it
// was altered. It is not an invalid code: the secret, not the user, is at
// fault, and the error names neither the secret nor the key material.
var ErrSealed = errors.New("totp: stored secret cannot be opened (unknown key, other user's or altered)")

// Key is a key that seals (encrypts) TOTP secrets at rest.
type Key struct {
	// ID names the key; it is stored with every secret the key sealed.
	// 1 to 64 bytes of printable ASCII.
	ID string
	// Secret is the AES-256 key: 32 bytes from a CSPRNG.
	Secret []byte
}

// sealVersion is the first byte of a sealed secret.
const sealVersion = 1

type keyring struct {
	current string
	aeads   map[string]cipher.AEAD
}

func newKeyring(keys []Key) (*keyring, error) {
	if len(keys) == 0 {
		return nil, errors.New("totp: Config.Keys is empty: at least one key is needed to seal secrets")
	}
	kr := &keyring{current: keys[0].ID, aeads: make(map[string]cipher.AEAD, len(keys))}
	for i, k := range keys {
		if len(k.ID) == 0 || len(k.ID) > 64 {
			return nil, fmt.Errorf("totp: Config.Keys[%d].ID must be 1 to 64 bytes long", i)
		}
		for _, c := range []byte(k.ID) {
			if c < 0x21 || c > 0x7e {
				return nil, fmt.Errorf("totp: Config.Keys[%d].ID must be printable ASCII without spaces", i)
			}
		}
		if len(k.Secret) != 32 {
			return nil, fmt.Errorf("totp: Config.Keys[%d] (%s): Secret must be 32 bytes (AES-256), not %d", i, k.ID, len(k.Secret))
		}
		if _, dup := kr.aeads[k.ID]; dup {
			return nil, fmt.Errorf("totp: Config.Keys[%d]: duplicate key ID %q", i, k.ID)
		}
		block, err := aes.NewCipher(k.Secret)
		if err != nil {
			return nil, fmt.Errorf("totp: Config.Keys[%d] (%s): %w", i, k.ID, err)
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, fmt.Errorf("totp: Config.Keys[%d] (%s): %w", i, k.ID, err)
		}
		kr.aeads[k.ID] = aead
	}
	return kr, nil
}

// aad binds a sealed secret to its user and key: a blob copied to another
// user's row, or relabelled with another key ID, does not open. User IDs
// are fixed-length UUIDs, so the concatenation is unambiguous.
func aad(userID, keyID string) []byte { return []byte("totp:" + userID + keyID) }

// seal encrypts secret for userID under the current key. The blob is
// version (1 byte) | len(keyID) (1 byte) | keyID | nonce (12) | ciphertext+tag.
func (kr *keyring) seal(userID string, secret []byte) (keyID string, blob []byte, err error) {
	keyID = kr.current
	aead := kr.aeads[keyID]
	blob = make([]byte, 0, 2+len(keyID)+aead.NonceSize()+len(secret)+aead.Overhead())
	blob = append(blob, sealVersion, byte(len(keyID)))
	blob = append(blob, keyID...)
	nonce := make([]byte, aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", nil, err
	}
	blob = append(blob, nonce...)
	return keyID, aead.Seal(blob, nonce, secret, aad(userID, keyID)), nil
}

// open decrypts a blob sealed for userID. keyID is the key the store says
// sealed it; it must agree with the blob's own.
func (kr *keyring) open(userID, keyID string, blob []byte) ([]byte, error) {
	if len(blob) < 2 || blob[0] != sealVersion {
		return nil, ErrSealed
	}
	n := int(blob[1])
	if len(blob) < 2+n || string(blob[2:2+n]) != keyID {
		return nil, ErrSealed
	}
	aead, ok := kr.aeads[keyID]
	if !ok {
		return nil, ErrSealed
	}
	rest := blob[2+n:]
	if len(rest) < aead.NonceSize()+aead.Overhead() {
		return nil, ErrSealed
	}
	secret, err := aead.Open(nil, rest[:aead.NonceSize()], rest[aead.NonceSize():], aad(userID, keyID))
	if err != nil {
		return nil, ErrSealed
	}
	return secret, nil
}
