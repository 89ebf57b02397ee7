package auth

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/maestro-ml/auth/internal/blocklist"
	"golang.org/x/text/unicode/norm"
)

// MaxPasswordBytes is the hard cap on a password's length in bytes, checked
// before normalisation or hashing so that a huge input costs nothing.
const MaxPasswordBytes = 1024

// PasswordPolicy checks new passwords per NIST SP 800-63B §3.1.1.2: a length
// range counted in characters after NFKC normalisation, no composition
// rules, and a blocklist of common passwords and context-specific words.
// The zero value is the secure default.
type PasswordPolicy struct {
	// MinLength in characters. Zero: 8 (the NIST minimum when the password
	// is one factor of several; 15 is recommended for password-only sign-in).
	MinLength int
	// MaxLength in characters. Zero: 256. Values below 64 are raised to 64,
	// the least NIST lets a verifier accept. MaxPasswordBytes applies too.
	MaxLength int
	// Words are context-specific words a password must not be, such as the
	// service name. Compared case-insensitively, ignoring trailing digits
	// and punctuation.
	Words []string
	// AllowCommon turns off the common-password blocklist. Insecure; meant
	// for tests that need short, memorable fixtures.
	AllowCommon bool
}

func (p PasswordPolicy) withDefaults() PasswordPolicy {
	if p.MinLength <= 0 {
		p.MinLength = 8
	}
	if p.MaxLength == 0 {
		p.MaxLength = 256
	}
	p.MaxLength = max(p.MaxLength, 64, p.MinLength)
	return p
}

// commonPasswords is immutable data embedded in the binary, indexed lazily.
var commonPasswords blocklist.List

// Check returns nil if password is acceptable for an account with the given
// email (which may be empty), or the policy error saying why not:
// ErrPasswordTooLong, ErrPasswordEncoding, ErrPasswordTooShort,
// ErrPasswordCommon or ErrPasswordContext. All of them match
// errors.Is(err, ErrPasswordPolicy).
func (p PasswordPolicy) Check(password, email string) error {
	p = p.withDefaults()
	if len(password) > MaxPasswordBytes {
		return ErrPasswordTooLong
	}
	if !utf8.ValidString(password) {
		return ErrPasswordEncoding
	}
	pw := norm.NFKC.String(password)
	n := 0
	for _, r := range pw {
		if unicode.IsControl(r) {
			return ErrPasswordEncoding
		}
		n++
	}
	// Count code points (NIST SP 800-63B §3.1.1.2) both as typed and after
	// NFKC: the minimum applies to the shorter count, so one ligature that
	// expands to many letters is not a long password; the maximum applies
	// to what was typed, so 64 typed characters are always accepted.
	typed := utf8.RuneCountInString(password)
	switch {
	case min(n, typed) < p.MinLength:
		return ErrPasswordTooShort
	case typed > p.MaxLength:
		return ErrPasswordTooLong
	}
	lower := strings.ToLower(pw)
	if !p.AllowCommon && (commonPasswords.Contains(lower) || commonPasswords.Contains(trimDecoration(lower))) {
		return ErrPasswordCommon
	}
	words := p.Words
	if email != "" {
		local, _, _ := strings.Cut(email, "@")
		words = append([]string{email, local}, words...)
	}
	core := trimDecoration(lower)
	for _, w := range words {
		w = strings.ToLower(norm.NFKC.String(w))
		if w != "" && (lower == w || core == w || (len(w) >= 4 && core == trimDecoration(w))) {
			return ErrPasswordContext
		}
	}
	if email != "" && strings.Contains(lower, strings.ToLower(email)) {
		return ErrPasswordContext
	}
	return nil
}

// trimDecoration strips the trailing digits and punctuation people append to
// a weak password to pass composition rules ("password123!").
func trimDecoration(s string) string {
	return strings.TrimRightFunc(s, func(r rune) bool { return unicode.IsDigit(r) || unicode.IsPunct(r) || unicode.IsSymbol(r) })
}
