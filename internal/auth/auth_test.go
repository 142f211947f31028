package auth_test

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
	"golang.org/x/crypto/bcrypt"

	"github.com/spendsense/operator-api/internal/auth"
	"github.com/spendsense/operator-api/internal/review"
)

var secret = []byte("0123456789abcdef0123456789abcdef-test-secret")

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func newIssuer(t *testing.T) *auth.Issuer {
	t.Helper()
	iss, err := auth.NewIssuer(secret, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	iss.SetClock(func() time.Time { return t0 })
	return iss
}

// goodClaims are claims Verify should accept at t0, for building variants.
func goodClaims() jwt.MapClaims {
	return jwt.MapClaims{
		"sub":  "op_1",
		"jti":  uuid.Must(uuid.NewV7()).String(),
		"iat":  t0.Unix(),
		"exp":  t0.Add(time.Hour).Unix(),
		"aud":  []string{auth.Audience},
		"iss":  auth.IssuerName,
		"role": "operator",
	}
}

func sign(t *testing.T, m jwt.SigningMethod, key any, c jwt.Claims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(m, c).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func mustReject(t *testing.T, iss *auth.Issuer, token string) {
	t.Helper()
	c, err := iss.Verify(token)
	if err == nil {
		t.Fatalf("token accepted, claims %+v", c)
	}
	t.Logf("refused: %v", err)
	if !errors.Is(err, auth.ErrInvalidToken) {
		t.Fatalf("error %v is not ErrInvalidToken", err)
	}
	if c.Subject != "" || c.ID != "" || c.Role != "" {
		t.Fatalf("claims returned with error: %+v", c)
	}
}

func TestTokenRoundTrip(t *testing.T) {
	iss := newIssuer(t)
	tok, issued, err := iss.Issue("op_1", review.RoleSenior)
	if err != nil {
		t.Fatal(err)
	}
	if issued.OperatorID() != "op_1" || issued.Role != review.RoleSenior {
		t.Fatalf("issued claims %+v", issued)
	}
	if !issued.Expiry().Equal(t0.Add(time.Hour)) || !issued.IssuedAt.Time.Equal(t0) {
		t.Fatalf("issued times exp=%v iat=%v", issued.Expiry(), issued.IssuedAt)
	}
	id, err := uuid.Parse(issued.ID)
	if err != nil || id.Version() != 7 {
		t.Fatalf("jti %q is not a UUIDv7 (%v)", issued.ID, err)
	}
	got, err := iss.Verify(tok)
	if err != nil {
		t.Fatal(err)
	}
	if got.Subject != "op_1" || got.Role != review.RoleSenior || got.ID != issued.ID ||
		got.Issuer != auth.IssuerName || len(got.Audience) != 1 || got.Audience[0] != auth.Audience ||
		!got.Expiry().Equal(issued.Expiry()) {
		t.Fatalf("verified claims %+v, issued %+v", got, issued)
	}
	// The header names HS256 and nothing else.
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("token %q", tok)
	}
	hdr, _ := jwt.NewParser().DecodeSegment(parts[0])
	if !strings.Contains(string(hdr), `"alg":"HS256"`) {
		t.Fatalf("header %s", hdr)
	}

	// Two tokens never share a jti.
	_, again, _ := iss.Issue("op_1", review.RoleSenior)
	if again.ID == issued.ID {
		t.Fatal("jti reused")
	}

	// A token built by hand the same way is accepted too.
	if _, err := iss.Verify(sign(t, jwt.SigningMethodHS256, secret, goodClaims())); err != nil {
		t.Fatalf("hand-built token: %v", err)
	}
}

func TestTokenExpired(t *testing.T) {
	iss := newIssuer(t)
	tok, _, err := iss.Issue("op_1", review.RoleOperator)
	if err != nil {
		t.Fatal(err)
	}
	// Within the leeway it still passes...
	iss.SetClock(func() time.Time { return t0.Add(time.Hour + auth.Leeway - time.Second) })
	if _, err := iss.Verify(tok); err != nil {
		t.Fatalf("inside leeway: %v", err)
	}
	// ...past it, it does not.
	iss.SetClock(func() time.Time { return t0.Add(time.Hour + auth.Leeway + time.Second) })
	mustReject(t, iss, tok)

	// Same for a hand-built token that expired long ago.
	iss.SetClock(func() time.Time { return t0 })
	c := goodClaims()
	c["iat"], c["exp"] = t0.Add(-2*time.Hour).Unix(), t0.Add(-time.Hour).Unix()
	mustReject(t, iss, sign(t, jwt.SigningMethodHS256, secret, c))
}

func TestTokenIssuedInFuture(t *testing.T) {
	iss := newIssuer(t)
	c := goodClaims()
	c["iat"] = t0.Add(10 * time.Minute).Unix()
	mustReject(t, iss, sign(t, jwt.SigningMethodHS256, secret, c))
}

func TestTokenTamperedSignature(t *testing.T) {
	iss := newIssuer(t)
	tok, _, err := iss.Issue("op_1", review.RoleOperator)
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(tok, ".")
	// The genuine token, verified first, is remembered (verifiedTokens):
	// that must not let an altered copy through.
	if _, err := iss.Verify(tok); err != nil {
		t.Fatal(err)
	}

	// Flip a bit of the signature.
	sig := []byte(parts[2])
	if sig[0] == 'A' {
		sig[0] = 'B'
	} else {
		sig[0] = 'A'
	}
	mustReject(t, iss, parts[0]+"."+parts[1]+"."+string(sig))

	// Keep the signature, change the payload: promote to admin.
	payload, err := jwt.NewParser().DecodeSegment(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	forged := strings.Replace(string(payload), `"role":"operator"`, `"role":"admin"`, 1)
	if forged == string(payload) {
		t.Fatalf("payload %s has no role to forge", payload)
	}
	mustReject(t, iss, parts[0]+"."+b64([]byte(forged))+"."+parts[2])

	// No signature at all.
	mustReject(t, iss, parts[0]+"."+parts[1]+".")
	mustReject(t, iss, "")
	mustReject(t, iss, "not-a-token")
}

func TestTokenAlgNone(t *testing.T) {
	iss := newIssuer(t)
	tok := sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, goodClaims())
	if !strings.HasSuffix(tok, ".") {
		t.Fatalf("unsigned token %q", tok)
	}
	mustReject(t, iss, tok)

	// "none" spelled otherwise, over a real HS256 signature.
	good := strings.Split(sign(t, jwt.SigningMethodHS256, secret, goodClaims()), ".")
	for _, alg := range []string{"none", "None", "NONE", ""} {
		hdr := b64([]byte(`{"alg":"` + alg + `","typ":"JWT"}`))
		mustReject(t, iss, hdr+"."+good[1]+".")
		mustReject(t, iss, hdr+"."+good[1]+"."+good[2])
	}
}

func TestTokenOtherSecret(t *testing.T) {
	iss := newIssuer(t)
	other := []byte("another-secret-of-at-least-32-bytes!!")
	mustReject(t, iss, sign(t, jwt.SigningMethodHS256, other, goodClaims()))

	// And an Issuer with the other secret refuses this one's tokens.
	iss2, err := auth.NewIssuer(other, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	iss2.SetClock(func() time.Time { return t0 })
	tok, _, err := iss.Issue("op_1", review.RoleAdmin)
	if err != nil {
		t.Fatal(err)
	}
	mustReject(t, iss2, tok)
}

func TestTokenAlgorithmConfusion(t *testing.T) {
	iss := newIssuer(t)
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	// A valid RS256 token (whoever holds an RSA key) is refused.
	mustReject(t, iss, sign(t, jwt.SigningMethodRS256, key, goodClaims()))

	// Other HMAC sizes with the right secret are refused too: the algorithm
	// is pinned, not merely the key type.
	mustReject(t, iss, sign(t, jwt.SigningMethodHS384, secret, goodClaims()))
	mustReject(t, iss, sign(t, jwt.SigningMethodHS512, secret, goodClaims()))

	// An HS256 header over an RS256 signature is refused.
	rs := strings.Split(sign(t, jwt.SigningMethodRS256, key, goodClaims()), ".")
	hs := strings.Split(sign(t, jwt.SigningMethodHS256, secret, goodClaims()), ".")
	mustReject(t, iss, hs[0]+"."+rs[1]+"."+rs[2])
}

func TestTokenWrongAudience(t *testing.T) {
	iss := newIssuer(t)
	c := goodClaims()
	c["aud"] = []string{"some-other-api"}
	mustReject(t, iss, sign(t, jwt.SigningMethodHS256, secret, c))
	delete(c, "aud")
	mustReject(t, iss, sign(t, jwt.SigningMethodHS256, secret, c))
}

func TestTokenWrongIssuer(t *testing.T) {
	iss := newIssuer(t)
	c := goodClaims()
	c["iss"] = "someone-else"
	mustReject(t, iss, sign(t, jwt.SigningMethodHS256, secret, c))
	delete(c, "iss")
	mustReject(t, iss, sign(t, jwt.SigningMethodHS256, secret, c))
}

func TestTokenMissingExp(t *testing.T) {
	iss := newIssuer(t)
	c := goodClaims()
	delete(c, "exp")
	mustReject(t, iss, sign(t, jwt.SigningMethodHS256, secret, c))
}

func TestTokenMissingOrBadClaims(t *testing.T) {
	iss := newIssuer(t)
	for name, edit := range map[string]func(jwt.MapClaims){
		"no sub":       func(c jwt.MapClaims) { delete(c, "sub") },
		"no jti":       func(c jwt.MapClaims) { delete(c, "jti") },
		"no role":      func(c jwt.MapClaims) { delete(c, "role") },
		"unknown role": func(c jwt.MapClaims) { c["role"] = "root" },
		"no iat":       func(c jwt.MapClaims) { delete(c, "iat") },
		// Time claims are JSON numbers (RFC 7519 NumericDate), not strings.
		"exp a string": func(c jwt.MapClaims) { c["exp"] = strconv.FormatInt(t0.Add(time.Hour).Unix(), 10) },
		"iat a string": func(c jwt.MapClaims) { c["iat"] = strconv.FormatInt(t0.Unix(), 10) },
		"nbf a string": func(c jwt.MapClaims) { c["nbf"] = strconv.FormatInt(t0.Unix(), 10) },
		"exp a bool":   func(c jwt.MapClaims) { c["exp"] = true },
		// Signed with the right secret but living longer than MaxTTL.
		"ten years": func(c jwt.MapClaims) { c["exp"] = t0.Add(10 * 365 * 24 * time.Hour).Unix() },
	} {
		t.Run(name, func(t *testing.T) {
			c := goodClaims()
			edit(c)
			mustReject(t, iss, sign(t, jwt.SigningMethodHS256, secret, c))
		})
	}
}

func TestNewIssuer(t *testing.T) {
	if _, err := auth.NewIssuer(make([]byte, auth.MinSecretBytes-1), time.Hour); !errors.Is(err, auth.ErrWeakSecret) {
		t.Fatalf("short secret: %v", err)
	}
	if _, err := auth.NewIssuer(secret, -time.Minute); err == nil {
		t.Fatal("negative ttl accepted")
	}
	if _, err := auth.NewIssuer(secret, 87600*time.Hour); err == nil {
		t.Fatal("a ten-year ttl accepted")
	}
	if _, err := auth.NewIssuer(secret, auth.MaxTTL); err != nil {
		t.Fatalf("the longest ttl refused: %v", err)
	}
	iss, err := auth.NewIssuer(secret, 0)
	if err != nil || iss.TTL() != auth.DefaultTTL {
		t.Fatalf("default ttl: %v %v", iss, err)
	}
	if _, _, err := iss.Issue("", review.RoleAdmin); err == nil {
		t.Fatal("empty operator id issued")
	}
	if _, _, err := iss.Issue("op_1", "root"); err == nil {
		t.Fatal("unknown role issued")
	}
}

func TestNewSecret(t *testing.T) {
	a, b := auth.NewSecret(), auth.NewSecret()
	if a == b {
		t.Fatal("NewSecret repeated itself")
	}
	raw, err := hex.DecodeString(a)
	if err != nil || len(raw) != 32 {
		t.Fatalf("NewSecret %q: %d bytes, %v", a, len(raw), err)
	}
	if _, err := auth.NewIssuer([]byte(a), time.Hour); err != nil {
		t.Fatalf("NewSecret not usable: %v", err)
	}
}

func TestPasswords(t *testing.T) {
	t.Parallel()
	h, err := auth.HashPassword("correct horse battery staple")
	if err != nil {
		t.Fatal(err)
	}
	if cost, err := bcrypt.Cost([]byte(h)); err != nil || cost != auth.Cost {
		t.Fatalf("cost %d, %v", cost, err)
	}
	if strings.Contains(h, "correct horse") {
		t.Fatal("hash contains the password")
	}
	if !auth.CheckPassword(h, "correct horse battery staple") {
		t.Fatal("right password refused")
	}
	for _, wrong := range []string{"", "correct horse battery stapl", "Correct horse battery staple", strings.Repeat("x", 100)} {
		if auth.CheckPassword(h, wrong) {
			t.Fatalf("wrong password %q accepted", wrong)
		}
	}
	if auth.CheckPassword("", "x") || auth.CheckPassword("not-a-hash", "x") {
		t.Fatal("bad hash accepted")
	}
	h2, _ := auth.HashPassword("correct horse battery staple")
	if h2 == h {
		t.Fatal("hashes are not salted")
	}

	if _, err := auth.HashPassword(""); !errors.Is(err, auth.ErrEmptyPassword) {
		t.Fatalf("empty: %v", err)
	}
	if _, err := auth.HashPassword(strings.Repeat("a", 73)); !errors.Is(err, auth.ErrPasswordTooLong) {
		t.Fatalf("73 bytes: %v", err)
	}
	if _, err := auth.HashPassword(strings.Repeat("a", 72)); err != nil {
		t.Fatalf("72 bytes: %v", err)
	}
	// 72 bytes of multi-byte runes counts bytes, not runes.
	if _, err := auth.HashPassword(strings.Repeat("é", 37)); !errors.Is(err, auth.ErrPasswordTooLong) {
		t.Fatalf("74-byte unicode: %v", err)
	}
}

// TestDummyCheck: the dummy comparison costs what a real one does, so an
// unknown login id cannot be told from a wrong password by timing.
func TestDummyCheck(t *testing.T) {
	t.Parallel()
	h, err := auth.HashPassword("pw")
	if err != nil {
		t.Fatal(err)
	}
	measure := func(f func()) time.Duration {
		best := time.Duration(1<<63 - 1)
		for range 3 {
			start := time.Now()
			f()
			best = min(best, time.Since(start))
		}
		return best
	}
	real := measure(func() { auth.CheckPassword(h, "wrong") })
	dummy := measure(auth.DummyCheck)
	if dummy < real/5 || dummy > real*5 { // loose: the leak it guards against is ~1000x
		t.Fatalf("dummy check %s, real check %s", dummy, real)
	}
}

func TestLoginKey(t *testing.T) {
	if got := auth.LoginKey("  Ana@Example.COM "); got != "ana@example.com" {
		t.Fatalf("LoginKey = %q", got)
	}
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }
