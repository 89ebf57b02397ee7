package totp

// Seal seals secret for userID under the factor's current key, as Enroll
// does, so tests can store a known secret (RFC 6238's).
func (t *TOTP) Seal(userID string, secret []byte) (keyID string, sealed []byte, err error) {
	return t.keys.seal(userID, secret)
}

// CodeAt is the code the factor computes and compares for step.
func (t *TOTP) CodeAt(secret []byte, step int64) (string, error) { return t.codeAt(secret, step) }

// NormalizeRecoveryCode is the parser of typed recovery codes.
var NormalizeRecoveryCode = normalizeRecoveryCode
