package auth

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"

	"github.com/spendsense/operator-api/internal/review"
)

// The fixed parts of every token. Verify requires all of them.
const (
	// Audience is the aud claim: tokens are for this API only.
	Audience = "spendsense-operator-api"
	// IssuerName is the iss claim.
	IssuerName = "spendsense"
	// Algorithm is the one signing algorithm issued and accepted.
	Algorithm = "HS256"
	// Leeway is the clock skew tolerated on exp and iat.
	Leeway = 30 * time.Second
	// MinSecretBytes is the shortest signing secret accepted.
	MinSecretBytes = 32
	// DefaultTTL is how long a token lives unless told otherwise.
	DefaultTTL = time.Hour
	// MaxTTL is the longest a token may live, however it was made: a
	// token is a bearer credential, and `token --ttl 87600h` once issued
	// one for ten years. Verify refuses a token whose exp is further than
	// this from its iat.
	MaxTTL = 24 * time.Hour
)

// ErrInvalidToken is the one error Verify returns, for every reason a token
// is refused. Match it with errors.Is and answer clients with a plain 401;
// the wrapped text says why, for logs only.
var ErrInvalidToken = errors.New("invalid or expired token")

// ErrWeakSecret is returned by NewIssuer for a secret that is too short.
var ErrWeakSecret = fmt.Errorf("JWT secret must be at least %d bytes", MinSecretBytes)

// Claims are a token's contents: the registered claims (sub is the operator
// id, jti a UUIDv7 used for logout), the operator's role at issue time and
// its password epoch: the store counts an operator's password changes, and
// refuses a token carrying an older count, which is how a password change
// ends every token issued before it (to the token, not to the second, as
// an issue time would).
type Claims struct {
	Role  review.Role `json:"role"`
	Epoch int64       `json:"epoch,omitempty"`
	jwt.RegisteredClaims
}

// OperatorID is the subject: the operator the token acts for.
func (c Claims) OperatorID() string { return c.Subject }

// Expiry is when the token stops being accepted (zero if it has no exp).
func (c Claims) Expiry() time.Time {
	if c.ExpiresAt == nil {
		return time.Time{}
	}
	return c.ExpiresAt.Time
}

// Validate is called by the parser after the standard checks: a token must
// also name an operator, carry an id and a known role, and say when it was
// issued, no longer than MaxTTL before it expires.
func (c Claims) Validate() error {
	switch {
	case c.Subject == "":
		return errors.New("token has no subject")
	case c.ID == "":
		return errors.New("token has no jti")
	case !review.ValidRole(string(c.Role)):
		return fmt.Errorf("token has unknown role %q", c.Role)
	case c.Epoch < 0:
		return errors.New("token has a negative epoch")
	case c.IssuedAt == nil:
		return errors.New("token has no iat")
	case c.ExpiresAt != nil && c.ExpiresAt.Sub(c.IssuedAt.Time) > MaxTTL:
		return fmt.Errorf("token lives %s, longer than %s", c.ExpiresAt.Sub(c.IssuedAt.Time), MaxTTL)
	}
	return nil
}

// UnmarshalJSON refuses time claims that are not JSON numbers: RFC 7519
// makes exp, nbf and iat NumericDates, and the jwt library would also take
// "exp": "99999999999", a string.
func (c *Claims) UnmarshalJSON(b []byte) error {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	for _, k := range []string{"exp", "nbf", "iat"} {
		if v, ok := raw[k]; ok && (len(v) == 0 || (v[0] != '-' && (v[0] < '0' || v[0] > '9'))) {
			return fmt.Errorf("token claim %s is not a number", k)
		}
	}
	type plain Claims // without this method
	return json.Unmarshal(b, (*plain)(c))
}

// Issuer signs and verifies tokens with one HMAC secret.
type Issuer struct {
	secret   []byte
	ttl      time.Duration
	now      func() time.Time
	verified verifiedTokens
}

// verifiedTokens remembers the claims of tokens whose signature has been
// checked. Every request carries its token, and parsing it (base64, JSON,
// HMAC) was a tenth of the CPU of a simple read; a token's bytes either
// carry a valid signature or not, for good, so only the claims that depend
// on the time are checked again on a hit. Revocation is not decided here
// (the store is asked on every request).
type verifiedTokens struct {
	mu sync.Mutex
	m  map[string]Claims
}

// maxVerifiedTokens bounds the memory (~0.5 KB a token); when it is
// reached the map starts again empty.
const maxVerifiedTokens = 10_000

func (v *verifiedTokens) get(token string) (Claims, bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	c, ok := v.m[token]
	return c, ok
}

func (v *verifiedTokens) put(token string, c Claims) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.m == nil || len(v.m) >= maxVerifiedTokens {
		v.m = make(map[string]Claims)
	}
	v.m[token] = c
}

// NewIssuer returns an Issuer signing with secret (at least MinSecretBytes)
// whose tokens live for ttl (DefaultTTL if ttl is zero).
func NewIssuer(secret []byte, ttl time.Duration) (*Issuer, error) {
	if len(secret) < MinSecretBytes {
		return nil, ErrWeakSecret
	}
	if ttl == 0 {
		ttl = DefaultTTL
	}
	if ttl < 0 || ttl > MaxTTL {
		return nil, fmt.Errorf("token lifetime must be positive and at most %s, got %s", MaxTTL, ttl)
	}
	return &Issuer{secret: append([]byte(nil), secret...), ttl: ttl, now: time.Now}, nil
}

// NewSecret returns a fresh random secret: 32 random bytes, hex-encoded (so
// 64 characters), suitable for SPENDSENSE_JWT_SECRET.
func NewSecret() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic("auth: no randomness: " + err.Error()) // crypto/rand never fails on supported platforms
	}
	return hex.EncodeToString(b)
}

// TTL is the lifetime of the tokens Issue makes.
func (i *Issuer) TTL() time.Duration { return i.ttl }

// SetClock replaces the clock used to issue and verify (tests use a fixed one).
func (i *Issuer) SetClock(now func() time.Time) { i.now = now }

// Issue signs a token for operatorID acting as role, with the Issuer's TTL.
func (i *Issuer) Issue(operatorID string, role review.Role) (string, Claims, error) {
	return i.IssueTTL(operatorID, role, i.ttl)
}

// IssueTTL is Issue with its own lifetime (the token command's --ttl).
func (i *Issuer) IssueTTL(operatorID string, role review.Role, ttl time.Duration) (string, Claims, error) {
	return i.IssueFor(operatorID, role, 0, ttl)
}

// IssueFor signs a token for operatorID acting as role at password epoch
// (the operator's count of password changes), living ttl (the Issuer's TTL
// if zero).
func (i *Issuer) IssueFor(operatorID string, role review.Role, epoch int64, ttl time.Duration) (string, Claims, error) {
	if ttl == 0 {
		ttl = i.ttl
	}
	if operatorID == "" {
		return "", Claims{}, errors.New("issue token: empty operator id")
	}
	if !review.ValidRole(string(role)) {
		return "", Claims{}, fmt.Errorf("issue token: unknown role %q", role)
	}
	if ttl <= 0 || ttl > MaxTTL {
		return "", Claims{}, fmt.Errorf("issue token: lifetime must be positive and at most %s, got %s", MaxTTL, ttl)
	}
	jti, err := uuid.NewV7()
	if err != nil {
		return "", Claims{}, fmt.Errorf("issue token: %w", err)
	}
	now := i.now().UTC().Truncate(time.Second)
	c := Claims{
		Role:  role,
		Epoch: epoch,
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    IssuerName,
			Subject:   operatorID,
			Audience:  jwt.ClaimStrings{Audience},
			ExpiresAt: jwt.NewNumericDate(now.Add(ttl)),
			IssuedAt:  jwt.NewNumericDate(now),
			ID:        jti.String(),
		},
	}
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(i.secret)
	if err != nil {
		return "", Claims{}, fmt.Errorf("issue token: %w", err)
	}
	return s, c, nil
}

// Verify checks a token's signature (HS256 only), issuer, audience, expiry
// (required) and issue time, each with Leeway, and returns its claims. Every
// failure is ErrInvalidToken, wrapping the reason for logs.
//
// Verify knows nothing of logout or disabled operators: the caller must
// still ask the store (store.Authenticate) before trusting the claims.
func (i *Issuer) Verify(token string) (Claims, error) {
	opts := []jwt.ParserOption{
		jwt.WithValidMethods([]string{Algorithm}),
		jwt.WithAudience(Audience),
		jwt.WithIssuer(IssuerName),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(Leeway),
		jwt.WithTimeFunc(i.now),
	}
	if c, ok := i.verified.get(token); ok {
		if err := jwt.NewValidator(opts...).Validate(c); err != nil {
			return Claims{}, fmt.Errorf("%w: %w", ErrInvalidToken, err)
		}
		return c, nil
	}
	var c Claims
	_, err := jwt.NewParser(opts...).ParseWithClaims(token, &c, func(t *jwt.Token) (any, error) {
		// WithValidMethods already pins the algorithm; check the type too,
		// so no other key kind could ever be handed to another method.
		if _, ok := t.Method.(*jwt.SigningMethodHMAC); !ok || t.Method.Alg() != Algorithm {
			return nil, fmt.Errorf("unexpected signing method %v", t.Header["alg"])
		}
		return i.secret, nil
	})
	if err != nil {
		return Claims{}, fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	i.verified.put(token, c)
	return c, nil
}
