package httpapi

import (
	"time"

	"github.com/spendsense/operator-api/internal/review"
)

// Recommendation is the wire shape of a recommendation (CONTRACT.md). Unset
// optional fields are null, never absent.
type Recommendation struct {
	ID                  string            `json:"id" example:"rec_000123"`
	UserID              string            `json:"user_id" example:"user_00042"`
	PersonaPrimary      string            `json:"persona_primary" enum:"high_utilization,variable_income_budgeter,subscription_heavy,savings_builder,student"`
	PersonaSecondary    *string           `json:"persona_secondary" nullable:"true"`
	Type                string            `json:"type" enum:"article,video,tool,quiz,partner_offer"`
	Title               string            `json:"title" example:"Bring your card utilization under 30%"`
	Rationale           string            `json:"rationale"`
	Priority            string            `json:"priority" enum:"high,medium,low"`
	Status              string            `json:"status" enum:"pending,approved,rejected,flagged"`
	ContentURL          *string           `json:"content_url" nullable:"true"`
	ReadTimeMinutes     *int              `json:"read_time_minutes" nullable:"true"`
	GuardrailsPassed    review.Guardrails `json:"guardrails_passed"`
	AllGuardrailsPassed bool              `json:"all_guardrails_passed"`
	GeneratedAt         time.Time         `json:"generated_at"`
	CreatedAt           time.Time         `json:"created_at"`
	UpdatedAt           time.Time         `json:"updated_at"`
	ApprovedBy          *string           `json:"approved_by" nullable:"true"`
	ApprovedAt          *time.Time        `json:"approved_at" nullable:"true"`
	RejectedBy          *string           `json:"rejected_by" nullable:"true"`
	RejectedAt          *time.Time        `json:"rejected_at" nullable:"true"`
	ModifiedBy          *string           `json:"modified_by" nullable:"true"`
	ModifiedAt          *time.Time        `json:"modified_at" nullable:"true"`
	OperatorNotes       *string           `json:"operator_notes" nullable:"true"`
	PreviousStatus      *string           `json:"previous_status" nullable:"true" enum:"pending,approved,rejected,flagged" doc:"The status before the last status change."`
	StatusChangedAt     *time.Time        `json:"status_changed_at" nullable:"true" doc:"When the status last changed."`
	UndoWindowExpiresAt *time.Time        `json:"undo_window_expires_at" nullable:"true" doc:"Set while the last decision can still be undone (POST …/undo); null otherwise."`
	Tags                []string          `json:"tags" doc:"Tag names on this recommendation, oldest first."`
	Version             int64             `json:"version" doc:"Increases with every change; send it back in If-Match."`
	DeliveryStatus      *string           `json:"delivery_status" nullable:"true" enum:"scheduled,queued,delivered,failed,cancelled" doc:"scheduled: approved, waiting out the undo window; cancelled: the approval was undone before sending."`
}

func toWire(r *review.Recommendation) Recommendation {
	w := Recommendation{
		ID: r.ID, UserID: r.UserID, PersonaPrimary: r.PersonaPrimary, PersonaSecondary: r.PersonaSecondary,
		Type: r.Type, Title: r.Title, Rationale: r.Rationale, Priority: r.Priority, Status: string(r.Status),
		ContentURL: r.ContentURL, ReadTimeMinutes: r.ReadTimeMinutes,
		GuardrailsPassed: r.Guardrails, AllGuardrailsPassed: r.Guardrails.All(),
		GeneratedAt: r.GeneratedAt, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt,
		ApprovedBy: r.ApprovedBy, ApprovedAt: r.ApprovedAt, RejectedBy: r.RejectedBy, RejectedAt: r.RejectedAt,
		ModifiedBy: r.ModifiedBy, ModifiedAt: r.ModifiedAt, OperatorNotes: r.OperatorNotes,
		StatusChangedAt: r.StatusChangedAt, UndoWindowExpiresAt: r.UndoExpiresAt, Tags: r.Tags,
		Version: r.Version, DeliveryStatus: r.DeliveryStatus,
	}
	if r.PreviousStatus != nil {
		p := string(*r.PreviousStatus)
		w.PreviousStatus = &p
	}
	if w.Tags == nil {
		w.Tags = []string{}
	}
	return w
}

func toWireList(recs []*review.Recommendation) []Recommendation {
	out := make([]Recommendation, len(recs))
	for i, r := range recs {
		out[i] = toWire(r)
	}
	return out
}

// convertAll converts each element of in with f, keeping nil as nil (null
// on the wire stays null). Every resource's converters use it.
func convertAll[T, U any](in []T, f func(T) U) []U {
	if in == nil {
		return nil
	}
	out := make([]U, len(in))
	for i := range in {
		out[i] = f(in[i])
	}
	return out
}
