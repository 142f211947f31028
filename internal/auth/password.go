package auth

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/crypto/bcrypt"
)

// Cost is the bcrypt work factor of every password hash this package makes.
const Cost = 10

// MaxPasswordBytes is the longest password bcrypt can use: it would silently
// ignore anything past 72 bytes, so longer passwords are refused instead.
const MaxPasswordBytes = 72

// MinPasswordChars is the shortest password PasswordRule accepts.
const MinPasswordChars = 12

// Password errors. They are safe to show whoever is setting the password.
var (
	ErrEmptyPassword     = errors.New("password must not be empty")
	ErrPasswordTooLong   = fmt.Errorf("password must be at most %d bytes", MaxPasswordBytes)
	ErrPasswordTooShort  = fmt.Errorf("password must be at least %d characters", MinPasswordChars)
	ErrPasswordBlank     = errors.New("password must not be all whitespace")
	ErrPasswordIsAccount = errors.New("password must not be the operator id or e-mail")
)

// PasswordRule reports why pw may not become the password of the operator
// with this id and e-mail (either may be empty), or nil: at least
// MinPasswordChars characters, not all whitespace, not the id or the
// e-mail (in any case), and no longer than bcrypt can use. Every path that
// sets a password (the command line, the admin API, self-service) applies
// it; logins do not, so an older, weaker password still works until it is
// changed.
func PasswordRule(pw, operatorID, email string) error {
	if err := ValidatePassword(pw); err != nil {
		return err
	}
	switch {
	case strings.TrimFunc(pw, unicode.IsSpace) == "":
		return ErrPasswordBlank
	case utf8.RuneCountInString(pw) < MinPasswordChars:
		return ErrPasswordTooShort
	}
	for _, account := range []string{operatorID, email} {
		if account != "" && strings.EqualFold(strings.TrimSpace(pw), strings.TrimSpace(account)) {
			return ErrPasswordIsAccount
		}
	}
	return nil
}

// dummyHash is a bcrypt hash, at Cost, of a random password nobody knows.
// DummyCheck compares against it so that a login for an unknown operator
// spends the same time as one with a wrong password. TestDummyHashCost keeps
// its cost equal to Cost.
const dummyHash = "$2a$10$4.LKB3Mh/hEFGxc7Tb3s2e8p0NqRh.sSZ8aGl8yxOjz3knfLNCQZq"

// HashPassword returns the bcrypt hash of pw, for storing. It refuses an
// empty password and one longer than MaxPasswordBytes.
func HashPassword(pw string) (string, error) {
	if err := ValidatePassword(pw); err != nil {
		return "", err
	}
	h, err := bcrypt.GenerateFromPassword([]byte(pw), Cost)
	if err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	return string(h), nil
}

// NewPasswordHash applies PasswordRule for the operator with this id and
// e-mail and returns the hash to store: what every path that sets a
// password calls.
func NewPasswordHash(pw, operatorID, email string) (string, error) {
	if err := PasswordRule(pw, operatorID, email); err != nil {
		return "", err
	}
	return HashPassword(pw)
}

// ValidatePassword reports why pw cannot be hashed, or nil.
func ValidatePassword(pw string) error {
	switch {
	case pw == "":
		return ErrEmptyPassword
	case len(pw) > MaxPasswordBytes:
		return ErrPasswordTooLong
	}
	return nil
}

// CheckPassword reports whether pw matches hash. The comparison is bcrypt's,
// so it takes the hash's full cost and compares in constant time. A password
// that could never have been hashed still costs one comparison.
func CheckPassword(hash, pw string) bool {
	if ValidatePassword(pw) != nil {
		DummyCheck()
		return false
	}
	return bcrypt.CompareHashAndPassword([]byte(hash), []byte(pw)) == nil
}

// DummyCheck spends the time of one CheckPassword and always fails. Call it
// when the login identifier matches no operator, so that timing does not tell
// an unknown identifier from a wrong password.
func DummyCheck() {
	_ = bcrypt.CompareHashAndPassword([]byte(dummyHash), []byte("spendsense-dummy-password"))
}
