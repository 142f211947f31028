package httpapi

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/spendsense/operator-api/internal/auth"
	"github.com/spendsense/operator-api/internal/review"
)

// OperatorAdminView is an operator as an admin sees it: never a hash.
type OperatorAdminView struct {
	OperatorID  string     `json:"operator_id"`
	Name        string     `json:"name"`
	Email       *string    `json:"email" nullable:"true"`
	Role        string     `json:"role" enum:"operator,senior_operator,admin,ingest"`
	Enabled     bool       `json:"enabled"`
	CreatedAt   time.Time  `json:"created_at"`
	LastLoginAt *time.Time `json:"last_login_at" nullable:"true"`
}

func adminView(op *review.Operator) OperatorAdminView {
	v := OperatorAdminView{OperatorID: op.ID, Name: op.Name, Email: op.Email, Role: string(op.Role),
		Enabled: !op.Disabled, CreatedAt: op.CreatedAt.UTC()}
	if op.LastLoginAt != nil {
		t := op.LastLoginAt.UTC()
		v.LastLoginAt = &t
	}
	return v
}

type listOperatorsOutput struct {
	Body []OperatorAdminView
}

type operatorOutput struct {
	Body OperatorAdminView
}

type addOperatorInput struct {
	IdempotencyKey string `header:"Idempotency-Key" maxLength:"255" doc:"Repeat a request safely: the same key and body return the first response without acting again."`
	Body           struct {
		OperatorID string  `json:"operator_id" minLength:"1" maxLength:"128" pattern:"^[A-Za-z0-9_.:-]+$" patternDescription:"1 to 128 letters, digits, _ . : or -"`
		Name       string  `json:"name" minLength:"1" maxLength:"200"`
		Email      *string `json:"email,omitempty" maxLength:"320" format:"email"`
		Role       string  `json:"role" enum:"operator,senior_operator,admin,ingest"`
		Password   string  `json:"password" minLength:"1" maxLength:"1024" doc:"At least 12 characters, not all whitespace, not the operator id or e-mail."`
	}
}

type updateOperatorInput struct {
	IdempotencyKey string `header:"Idempotency-Key" maxLength:"255" doc:"Repeat a request safely: the same key and body return the first response without acting again."`
	OperatorID     string `path:"operator_id" maxLength:"128" pattern:"^[A-Za-z0-9_.:-]+$" patternDescription:"an operator id"`
	Body           struct {
		Name    *string `json:"name,omitempty" minLength:"1" maxLength:"200"`
		Email   *string `json:"email,omitempty" maxLength:"320" doc:"An empty string removes the e-mail."`
		Role    *string `json:"role,omitempty" enum:"operator,senior_operator,admin,ingest"`
		Enabled *bool   `json:"enabled,omitempty"`
	}
}

type setPasswordInput struct {
	IdempotencyKey string `header:"Idempotency-Key" maxLength:"255" doc:"Repeat a request safely: the same key and body return the first response without acting again."`
	OperatorID     string `path:"operator_id" maxLength:"128" pattern:"^[A-Za-z0-9_.:-]+$" patternDescription:"an operator id"`
	Body           struct {
		Password        string `json:"password" minLength:"1" maxLength:"1024" doc:"At least 12 characters, not all whitespace, not the operator id or e-mail."`
		CurrentPassword string `json:"current_password,omitempty" maxLength:"1024" doc:"Required when operators change their own password."`
	}
}

// passwordProblem is the 422 for a password the rule refuses. Neither the
// password nor anything derived from it goes back to the client.
func passwordProblem(err error) error {
	return invalid("body.password", err.Error(), nil)
}

// operatorsPath is where operator accounts are administered.
const operatorsPath = "/api/operator/operators"

func (a *API) registerOperators(api huma.API) {
	tags := []string{"Operators"}
	a.registerListOperators(api, tags)
	a.registerAddOperator(api, tags)
	a.registerUpdateOperator(api, tags)
	a.registerSetOperatorPassword(api, tags)
}

func (a *API) registerListOperators(api huma.API, tags []string) {
	register(api, huma.Operation{
		OperationID: "list-operators", Method: http.MethodGet, Path: operatorsPath, Tags: tags,
		Summary: "List operators", Description: "Every operator account, by id, enabled or not. Password hashes are never returned.",
	}, func(ctx context.Context, _ *struct{}) (*listOperatorsOutput, error) {
		ops, err := a.store.ListOperators(ctx)
		if err != nil {
			return nil, a.problem(ctx, err)
		}
		out := &listOperatorsOutput{Body: make([]OperatorAdminView, len(ops))}
		for i := range ops {
			out.Body[i] = adminView(&ops[i])
		}
		return out, nil
	})
}

func (a *API) registerAddOperator(api huma.API, tags []string) {
	register(api, huma.Operation{
		OperationID: "add-operator", Method: http.MethodPost, Path: operatorsPath, Tags: tags, DefaultStatus: http.StatusCreated,
		Summary:     "Add an operator",
		Description: "Creates an enabled operator, audited as operator_add. A taken id or e-mail is 409.",
		Errors:      []int{http.StatusConflict, http.StatusUnprocessableEntity},
	}, func(ctx context.Context, in *addOperatorInput) (*operatorOutput, error) {
		b := in.Body
		email := ""
		if b.Email != nil {
			email = *b.Email
		}
		if strings.TrimSpace(b.Name) == "" {
			return nil, invalid("body.name", "name must not be blank", nil)
		}
		hash, err := auth.NewPasswordHash(b.Password, b.OperatorID, email)
		if err != nil {
			return nil, passwordProblem(err)
		}
		recordInTx(ctx, http.StatusCreated, func(r ...any) any { return adminView(r[0].(*review.Operator)) })
		op, err := a.store.AddOperator(ctx, actorFrom(ctx).ID,
			review.Operator{ID: b.OperatorID, Name: b.Name, Email: b.Email, Role: review.Role(b.Role)}, hash)
		if err != nil {
			return nil, a.problem(ctx, err)
		}
		return &operatorOutput{Body: adminView(op)}, nil
	})
}

func (a *API) registerUpdateOperator(api huma.API, tags []string) {
	register(api, huma.Operation{
		OperationID: "update-operator", Method: http.MethodPatch, Path: operatorsPath + "/{operator_id}", Tags: tags,
		Summary: "Change an operator",
		Description: "Changes any of name, e-mail, role and enabled; each kind of change is its own audit row " +
			"(operator_edit, operator_role, operator_enable/operator_disable). Disabling and role changes take effect on " +
			"the operator's next request. The last enabled admin cannot be disabled or demoted (409).",
		Errors: []int{http.StatusNotFound, http.StatusConflict, http.StatusUnprocessableEntity},
	}, func(ctx context.Context, in *updateOperatorInput) (*operatorOutput, error) {
		b := in.Body
		if b.Name == nil && b.Email == nil && b.Role == nil && b.Enabled == nil {
			return nil, invalid("body", "send at least one of name, email, role, enabled", nil)
		}
		if b.Name != nil && strings.TrimSpace(*b.Name) == "" {
			return nil, invalid("body.name", "name must not be blank", nil)
		}
		ch := review.OperatorChange{Name: b.Name, Email: b.Email, Enabled: b.Enabled}
		if b.Role != nil {
			r := review.Role(*b.Role)
			ch.Role = &r
		}
		recordInTx(ctx, http.StatusOK, func(r ...any) any { return adminView(r[0].(*review.Operator)) })
		op, err := a.store.UpdateOperator(ctx, actorFrom(ctx).ID, in.OperatorID, ch)
		if err != nil {
			return nil, a.problem(ctx, err)
		}
		return &operatorOutput{Body: adminView(op)}, nil
	})
}

func (a *API) registerSetOperatorPassword(api huma.API, tags []string) {
	register(api, huma.Operation{
		OperationID: "set-operator-password", Method: http.MethodPost, Path: operatorsPath + "/{operator_id}/password", Tags: tags,
		DefaultStatus: http.StatusNoContent,
		Summary:       "Set an operator's password",
		Description: "An admin sets anyone's password; any operator may change their own by also sending current_password " +
			"(required for one's own password, admins included). Every token the operator was issued before the change " +
			"stops working. Audited as operator_passwd. Wrong current passwords count as failed logins.",
		Errors: []int{http.StatusNotFound, http.StatusTooManyRequests, http.StatusUnprocessableEntity},
	}, func(ctx context.Context, in *setPasswordInput) (*struct{}, error) {
		actor := actorFrom(ctx)
		self := actor.ID == in.OperatorID
		if !self && actor.Role != review.RoleAdmin {
			return nil, huma.NewError(http.StatusForbidden, "only an admin may set another operator's password")
		}
		target, err := a.store.GetOperator(ctx, in.OperatorID)
		if err != nil {
			return nil, a.problem(ctx, err)
		}
		email := ""
		if target.Email != nil {
			email = *target.Email
		}
		hash, err := auth.NewPasswordHash(in.Body.Password, target.ID, email)
		if err != nil {
			return nil, passwordProblem(err)
		}
		if self {
			if in.Body.CurrentPassword == "" {
				return nil, invalid("body.current_password", "send current_password to change your own password", nil)
			}
			if err := a.checkCurrentPassword(ctx, target.ID, in.Body.CurrentPassword); err != nil {
				return nil, err
			}
		}
		recordInTx(ctx, http.StatusNoContent, nil)
		if err := a.store.SetOperatorPassword(ctx, actor.ID, target.ID, hash); err != nil {
			return nil, a.problem(ctx, err)
		}
		return nil, nil
	})
}

// checkCurrentPassword verifies an operator's own password before it is
// changed, under the login throttle: a stolen token must not become a way to
// guess the password it was issued for.
func (a *API) checkCurrentPassword(ctx context.Context, operatorID, pw string) error {
	// The check counts against the same allowances as a login (store's
	// throttle): reserved before the comparison, reset on success.
	now, source := a.store.Now(), sourceFrom(ctx)
	if _, ok, err := a.store.ReserveLogin(ctx, operatorID, source, now); err != nil {
		return a.problem(ctx, err)
	} else if !ok {
		return huma.NewError(http.StatusTooManyRequests, "too many failed password checks; try again later")
	}
	_, hash, err := a.store.OperatorCredentials(ctx, operatorID)
	if err != nil {
		return a.problem(ctx, err)
	}
	if !auth.CheckPassword(hash, pw) {
		return huma.NewError(http.StatusForbidden, "current_password is not this operator's password")
	}
	if err := a.store.LoginSucceeded(ctx, operatorID, source, now); err != nil {
		return a.problem(ctx, err)
	}
	return nil
}
