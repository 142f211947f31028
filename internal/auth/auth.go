// Package auth holds SpendSense's credentials: bcrypt password hashes and
// the signed tokens (HS256 JWTs, algorithm pinned) operators present on every
// call. It knows nothing of HTTP or SQL: revocation, disabled operators and
// login throttling live in the store, which the HTTP layer asks after Verify.
//
// A login, put together:
//
//	key := auth.LoginKey(identifier)            // (+ client IP if wanted)
//	if wait, ok, err := st.LoginAllowed(ctx, key, now); !ok { 429, Retry-After: wait }
//	op, hash, err := st.OperatorCredentials(ctx, identifier)
//	if not found { auth.DummyCheck(); record failure; 401 }
//	if !auth.CheckPassword(hash, pw) || op.Disabled { record failure; 401 }
//	st.ClearLoginFailures(ctx, key); token, claims, err := issuer.Issue(op.ID, op.Role)
package auth

import "strings"

// LoginKey is the throttling key for a login identifier (operator id or
// email): trimmed and lower-cased, so case variants share one counter.
func LoginKey(identifier string) string {
	return strings.ToLower(strings.TrimSpace(identifier))
}
