package httpapi

import "github.com/spendsense/operator-api/internal/review"

// Who may call what: the single source of truth for authorization. Every
// operation registered under /api must appear here (registration panics
// otherwise), the auth middleware enforces it, and the OpenAPI document
// shows it on each operation as x-roles.
var (
	reviewers = []review.Role{review.RoleOperator, review.RoleSenior, review.RoleAdmin}
	seniors   = []review.Role{review.RoleSenior, review.RoleAdmin}
	admins    = []review.Role{review.RoleAdmin}
	ingesters = []review.Role{review.RoleIngest, review.RoleAdmin}
	anyone    = []review.Role{review.RoleOperator, review.RoleSenior, review.RoleAdmin, review.RoleIngest}
)

var access = map[string][]review.Role{
	"auth-me":     anyone,
	"auth-logout": anyone,

	"list-recommendations": reviewers,
	"get-recommendation":   reviewers,
	"approve":              reviewers,
	"reject":               reviewers,
	"modify":               reviewers,
	"flag":                 reviewers,
	"bulk-approve":         reviewers,
	"get-trace":            reviewers,
	"get-stats":            reviewers,
	"get-user":             reviewers,
	"get-user-signals":     reviewers,
	"get-persona-history":  reviewers,
	"list-audit-logs":      reviewers,
	"export-audit-logs":    reviewers,
	"list-flags":           reviewers,
	"resolve-flag":         seniors,
	"claim-queue":          reviewers,
	"release-queue":        reviewers,
	"list-deliveries":      reviewers,
	"retry-delivery":       admins,
	"get-alerts":           reviewers,
	"get-analytics":        reviewers,

	"create-realtime-ticket": reviewers,

	"list-operators":  admins,
	"add-operator":    admins,
	"update-operator": admins,
	// Everyone may call it for their own password (with current_password);
	// the handler lets only admins set someone else's.
	"set-operator-password": anyone,

	"list-notes":            reviewers,
	"add-note":              reviewers,
	"edit-note":             reviewers, // the store lets only the author or an admin
	"delete-note":           reviewers, // the store lets only the author or an admin
	"tag-vocabulary":        reviewers,
	"list-tags":             reviewers,
	"add-tag":               reviewers,
	"remove-tag":            reviewers,
	"add-tag-vocabulary":    admins,
	"retire-tag-vocabulary": admins,
	"undo":                  reviewers, // the store lets only the decision's author or a senior/admin

	"ingest-users":           ingesters,
	"ingest-recommendations": ingesters,
}

func roleNames(roles []review.Role) []string {
	out := make([]string, len(roles))
	for i, r := range roles {
		out[i] = string(r)
	}
	return out
}

func allowed(roles []review.Role, r review.Role) bool {
	for _, x := range roles {
		if x == r {
			return true
		}
	}
	return false
}

// AccessTable returns a copy of the access table (operation id → roles),
// for tests that check every operation against it.
func AccessTable() map[string][]review.Role {
	out := make(map[string][]review.Role, len(access))
	for op, roles := range access {
		out[op] = append([]review.Role(nil), roles...)
	}
	return out
}
