// Package auth holds SpendSense's credentials: bcrypt password hashes and
// the signed tokens (HS256 JWTs, algorithm pinned) operators present on every
// call. It knows nothing of HTTP or SQL: revocation, disabled operators and
// login throttling live in the store, which the HTTP layer asks after Verify.
//
// A login, put together:
//
//	op, hash, err := st.OperatorCredentials(ctx, identifier)
//	account := op.ID, or auth.LoginKey(identifier) when there is no such operator
//	if wait, ok, err := st.ReserveLogin(ctx, account, clientIP, now); !ok { 429, Retry-After: wait }
//	if not found { auth.DummyCheck(); 401 }     // the attempt is already counted
//	if !auth.CheckPassword(hash, pw) || op.Disabled { 401 }
//	st.LoginSucceeded(ctx, account, clientIP, now); token, claims, err := issuer.Issue(op.ID, op.Role)
package auth

import "strings"

// LoginKey is the throttling key for a login identifier (operator id or
// email): trimmed and lower-cased, so case variants share one counter.
func LoginKey(identifier string) string {
	return strings.ToLower(strings.TrimSpace(identifier))
}
