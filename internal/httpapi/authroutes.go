package httpapi

import (
	"context"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"strings"

	"github.com/danielgtaylor/huma/v2"

	"github.com/spendsense/operator-api/internal/auth"
	"github.com/spendsense/operator-api/internal/review"
)

// OperatorView is an operator as clients see it: never a password hash.
type OperatorView struct {
	OperatorID string  `json:"operator_id"`
	Name       string  `json:"name"`
	Email      *string `json:"email" nullable:"true"`
	Role       string  `json:"role" enum:"operator,senior_operator,admin,ingest"`
}

func viewOperator(op *review.Operator) OperatorView {
	return OperatorView{OperatorID: op.ID, Name: op.Name, Email: op.Email, Role: string(op.Role)}
}

type loginInput struct {
	Body struct {
		OperatorID string `json:"operator_id,omitempty" maxLength:"128" doc:"Operator id; or send email."`
		Email      string `json:"email,omitempty" maxLength:"254"`
		Password   string `json:"password" minLength:"1" maxLength:"1024"`
	}
}

type loginOutput struct {
	Body struct {
		AccessToken string       `json:"access_token"`
		TokenType   string       `json:"token_type" enum:"bearer"`
		ExpiresIn   int          `json:"expires_in" doc:"Seconds until the token expires."`
		Operator    OperatorView `json:"operator"`
	}
}

type meOutput struct {
	Body OperatorView
}

func (a *API) registerAuth(api huma.API) {
	tags := []string{"Auth"}
	register(api, huma.Operation{
		OperationID: "auth-login", Method: http.MethodPost, Path: "/api/auth/login", Tags: tags,
		Summary:     "Log in",
		Description: "Exchanges an operator id (or email) and password for a bearer token. A wrong id and a wrong password give the same 401. Repeated failures for one account (id and e-mail are one) give 429 with Retry-After: a few attempts are free, then each waits twice as long as the last, per client address and, more loosely, per account.",
		Errors:      []int{http.StatusUnauthorized, http.StatusTooManyRequests, http.StatusUnprocessableEntity},
	}, func(ctx context.Context, in *loginInput) (*loginOutput, error) {
		ident := in.Body.OperatorID
		if ident == "" {
			ident = in.Body.Email
		}
		if strings.TrimSpace(ident) == "" {
			return nil, invalid("body.operator_id", "send operator_id or email", nil)
		}
		op, hash, err := a.store.OperatorCredentials(ctx, ident)
		if err != nil && review.ErrorCode(err) != review.ENotFound {
			return nil, a.problem(ctx, err)
		}
		// One account whether named by id or e-mail; a name that is no
		// operator's is throttled as an account of its own.
		account := auth.LoginKey(ident)
		if op != nil {
			account = op.ID
		}
		source := sourceFrom(ctx)
		now := a.store.Now()
		// The attempt is counted before the password is compared, so that
		// parallel guesses cannot all pass a check made before any failed.
		wait, ok, err := a.store.ReserveLogin(ctx, account, source, now)
		if err != nil {
			return nil, a.problem(ctx, err)
		}
		if !ok {
			secs := strconv.Itoa(int(math.Ceil(wait.Seconds())))
			return nil, huma.ErrorWithHeaders(
				huma.NewError(http.StatusTooManyRequests, "too many failed logins; try again in "+secs+" seconds"),
				http.Header{"Retry-After": {secs}})
		}
		good := false
		if op == nil {
			auth.DummyCheck() // same cost as a real check: no user enumeration by timing
		} else {
			good = auth.CheckPassword(hash, in.Body.Password) && !op.Disabled
		}
		if !good {
			// Only a real operator's id is logged: whatever else was typed
			// into the id field may be a password typed one field early.
			logged := "(unknown)"
			if op != nil {
				logged = op.ID
			}
			a.log.WarnContext(ctx, "login failed", slog.String("operator_id", logged), slog.String("source", source))
			return nil, huma.NewError(http.StatusUnauthorized, "invalid credentials")
		}
		if err := a.store.LoginSucceeded(ctx, account, source, now); err != nil {
			return nil, a.problem(ctx, err)
		}
		if err := a.store.TouchLastLogin(ctx, op.ID); err != nil {
			return nil, a.problem(ctx, err)
		}
		token, _, err := a.issuer.IssueFor(op.ID, op.Role, op.TokenEpoch, 0)
		if err != nil {
			return nil, a.problem(ctx, err)
		}
		out := &loginOutput{}
		out.Body.AccessToken, out.Body.TokenType = token, "bearer"
		out.Body.ExpiresIn, out.Body.Operator = int(a.issuer.TTL().Seconds()), viewOperator(op)
		return out, nil
	})

	register(api, huma.Operation{
		OperationID: "auth-me", Method: http.MethodGet, Path: "/api/auth/me", Tags: tags, Summary: "The calling operator",
	}, func(ctx context.Context, _ *struct{}) (*meOutput, error) {
		op, err := a.store.GetOperator(ctx, actorFrom(ctx).ID)
		if err != nil {
			return nil, a.problem(ctx, err)
		}
		return &meOutput{Body: viewOperator(op)}, nil
	})

	register(api, huma.Operation{
		OperationID: "auth-logout", Method: http.MethodPost, Path: "/api/auth/logout", Tags: tags, Summary: "Log out",
		Description: "Revokes the token used for this call; it is refused from then on.", DefaultStatus: http.StatusNoContent,
	}, func(ctx context.Context, _ *struct{}) (*struct{}, error) {
		t, _ := ctx.Value(tokenKey{}).(tokenInfo)
		if err := a.store.RevokeToken(ctx, t.jti, t.exp); err != nil {
			return nil, a.problem(ctx, err)
		}
		return nil, nil
	})
}
