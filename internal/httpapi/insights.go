package httpapi

import (
	"context"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/spendsense/operator-api/internal/store"
)

type alertsOutput struct {
	Body []Alert
}

// Alert is the wire shape of a store.Alert.
type Alert struct {
	ID        string    `json:"id"`
	Type      string    `json:"type" enum:"long_queue,high_rejection_rate,guardrail_failures,flagged_item,unusual_pattern"`
	Severity  string    `json:"severity" enum:"low,medium,high"`
	Message   string    `json:"message"`
	Count     int64     `json:"count"`
	ActionURL string    `json:"actionUrl" doc:"A link relative to the dashboard."`
	CreatedAt time.Time `json:"createdAt"`
}

type analyticsInput struct {
	StartDate string `query:"start_date" maxLength:"64" doc:"A date (YYYY-MM-DD, from its start in tz) or an RFC 3339 time (milliseconds allowed). Default: six days before today." example:"2026-11-01"`
	EndDate   string `query:"end_date" maxLength:"64" doc:"A date (includes that whole day in tz) or an RFC 3339 time (inclusive). Default: the end of today." example:"2026-11-30"`
	TZ        string `query:"tz" default:"UTC" maxLength:"64" doc:"IANA time zone whose calendar days the range and the timeline use." example:"America/New_York"`
}

type analyticsOutput struct {
	Body *Analytics
}

// Analytics is the wire shape of store.Analytics; its parts follow.
type Analytics struct {
	DateRange         DateRange          `json:"date_range"`
	Summary           AnalyticsSummary   `json:"summary"`
	ActionsByType     []ActionCount      `json:"actions_by_type"`
	ActionsTimeline   []TimelineCount    `json:"actions_timeline"`
	OperatorActivity  []OperatorActivity `json:"operator_activity"`
	ApprovalByPersona []PersonaApproval  `json:"approval_by_persona"`
}

type DateRange struct {
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
}

type AnalyticsSummary struct {
	TotalActions             int64   `json:"total_actions" doc:"Audit rows in the range."`
	ApprovalRate             float64 `json:"approval_rate" doc:"approve / (approve + reject) audit rows, in percent."`
	FlagRate                 float64 `json:"flag_rate" doc:"flag / (approve + reject + flag) audit rows, in percent."`
	QueueSize                int64   `json:"queue_size" doc:"Pending now."`
	AvgProcessingTimeMinutes float64 `json:"avg_processing_time_minutes" doc:"Mean minutes from entering the queue to the decision, over the range's decisions (as /stats counts them)."`
	RecommendationsGenerated int64   `json:"recommendations_generated" doc:"Recommendations that entered the queue in the range."`
}

type ActionCount struct {
	Action string `json:"action"`
	Count  int64  `json:"count"`
}

type TimelineCount struct {
	Date   string `json:"date" doc:"YYYY-MM-DD in the requested time zone."`
	Action string `json:"action"`
	Count  int64  `json:"count"`
}

type OperatorActivity struct {
	OperatorID    string `json:"operator_id"`
	TotalActions  int64  `json:"total_actions"`
	Approvals     int64  `json:"approvals"`
	Rejections    int64  `json:"rejections"`
	Modifications int64  `json:"modifications"`
	Flags         int64  `json:"flags"`
}

type PersonaApproval struct {
	PersonaPrimary string  `json:"persona_primary"`
	Total          int64   `json:"total"`
	Approved       int64   `json:"approved"`
	Rejected       int64   `json:"rejected"`
	ApprovalRate   float64 `json:"approval_rate"`
}

func analyticsWire(a *store.Analytics) *Analytics {
	return &Analytics{
		DateRange: DateRange(a.DateRange), Summary: AnalyticsSummary(a.Summary),
		ActionsByType:     convertAll(a.ActionsByType, func(c store.ActionCount) ActionCount { return ActionCount(c) }),
		ActionsTimeline:   convertAll(a.ActionsTimeline, func(c store.TimelineCount) TimelineCount { return TimelineCount(c) }),
		OperatorActivity:  convertAll(a.OperatorActivity, func(o store.OperatorActivity) OperatorActivity { return OperatorActivity(o) }),
		ApprovalByPersona: convertAll(a.ApprovalByPersona, func(p store.PersonaApproval) PersonaApproval { return PersonaApproval(p) }),
	}
}

// maxAnalyticsRange is the longest range /analytics answers: 366 days, plus
// the hour a daylight-saving change can add.
const maxAnalyticsRange = 366*24*time.Hour + time.Hour

func (a *API) registerInsights(api huma.API) {
	register(api, huma.Operation{
		OperationID: "get-alerts", Method: http.MethodGet, Path: opPath + "/alerts", Tags: []string{"Stats"},
		Summary: "Conditions that need attention",
		Description: "Computed from the database on each call (counters and short index walks only). " +
			"`id` is the alert's type plus its subject and stays the same while the condition lasts; `createdAt` is when the condition began. " +
			"Types: `long_queue`, `high_rejection_rate`, `guardrail_failures`, `flagged_item`, `unusual_pattern`. An empty array when all is well. " +
			"Thresholds are set at server start (`SPENDSENSE_ALERT_*`, see the README).",
	}, func(ctx context.Context, _ *struct{}) (*alertsOutput, error) {
		alerts, err := a.store.Alerts(ctx, a.cfg.AlertThresholds)
		if err != nil {
			return nil, a.problem(ctx, err)
		}
		return &alertsOutput{Body: convertAll(alerts, func(a store.Alert) Alert { return Alert(a) })}, nil
	})

	register(api, huma.Operation{
		OperationID: "get-analytics", Method: http.MethodGet, Path: opPath + "/analytics", Tags: []string{"Stats"},
		Summary: "Activity over a date range",
		Description: "Every figure is computed from the audit trail's counters for the range (at most 366 days; by default the last 7 days in `tz`). " +
			"Times that are not on a quarter-hour are widened to the quarter-hours that hold them (the counters' resolution); `date_range` gives the range used, end exclusive. " +
			"Rates are percentages. `approval_rate` and `flag_rate` count audit rows (`approve`, `reject`, `flag`); `avg_processing_time_minutes` is the mean time " +
			"from entering the queue to the decision over the range's decisions, as `/stats` counts them; `queue_size` is pending now.",
		Errors: []int{http.StatusUnprocessableEntity},
	}, func(ctx context.Context, in *analyticsInput) (*analyticsOutput, error) {
		loc, err := time.LoadLocation(in.TZ)
		if err != nil || in.TZ == "" || in.TZ == "Local" {
			return nil, invalid("query.tz", "tz must be an IANA time zone name such as UTC or Europe/London", in.TZ)
		}
		start, end, err := analyticsRange(in, loc, a.store.Now())
		if err != nil {
			return nil, err
		}
		out, err := a.store.Analytics(ctx, store.AnalyticsInput{Start: start, End: end, Loc: loc})
		if err != nil {
			return nil, a.problem(ctx, err)
		}
		return &analyticsOutput{Body: analyticsWire(out)}, nil
	})
}

// analyticsRange works out [start, end) from the query: bare dates are
// calendar days in loc (the end date included), RFC 3339 times are exact
// (the end inclusive, as in /audit-logs); the result is widened to
// quarter-hours.
func analyticsRange(in *analyticsInput, loc *time.Location, now time.Time) (time.Time, time.Time, error) {
	const quarter = 15 * time.Minute
	y, m, d := now.In(loc).Date()
	end := time.Date(y, m, d+1, 0, 0, 0, 0, loc)
	if in.EndDate != "" {
		t, bare, err := parseDateOrTime(in.EndDate)
		if err != nil {
			return time.Time{}, time.Time{}, invalid("query.end_date", "end_date must be YYYY-MM-DD or an RFC 3339 time", in.EndDate)
		}
		if bare {
			end = time.Date(t.Year(), t.Month(), t.Day()+1, 0, 0, 0, 0, loc)
		} else {
			end = t.Add(time.Microsecond)
		}
	}
	ey, em, ed := end.Add(-time.Nanosecond).In(loc).Date()
	start := time.Date(ey, em, ed-6, 0, 0, 0, 0, loc)
	if in.StartDate != "" {
		t, bare, err := parseDateOrTime(in.StartDate)
		if err != nil {
			return time.Time{}, time.Time{}, invalid("query.start_date", "start_date must be YYYY-MM-DD or an RFC 3339 time", in.StartDate)
		}
		start = t
		if bare {
			start = time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, loc)
		}
	}
	start = start.UTC().Truncate(quarter)
	if e := end.UTC().Truncate(quarter); e.Before(end) {
		end = e.Add(quarter)
	} else {
		end = e
	}
	if !start.Before(end) {
		return time.Time{}, time.Time{}, invalid("query.end_date", "end_date must be after start_date", in.EndDate)
	}
	if end.Sub(start) > maxAnalyticsRange {
		return time.Time{}, time.Time{}, invalid("query.end_date", "the range from start_date to end_date must be at most 366 days", in.EndDate)
	}
	return start, end, nil
}
