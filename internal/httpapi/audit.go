package httpapi

import (
	"bufio"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/adapters/humago"

	"github.com/spendsense/operator-api/internal/auditproof"
	"github.com/spendsense/operator-api/internal/store"
)

// auditFilter is the filter both audit operations take. huma reads
// parameters only from an input's own fields, so each input spells them out
// and hands them over with filter().
type auditFilter struct {
	OperatorID, Action, RecommendationID, StartDate, EndDate string
}

// filter parses the date bounds into a store filter.
func (in auditFilter) filter() (store.AuditFilter, error) {
	f := store.AuditFilter{OperatorID: in.OperatorID, Action: in.Action, RecommendationID: in.RecommendationID}
	if in.StartDate != "" {
		t, _, err := parseDateOrTime(in.StartDate)
		if err != nil {
			return f, invalid("query.start_date", "start_date must be YYYY-MM-DD or an RFC 3339 time", in.StartDate)
		}
		f.From = &t
	}
	if in.EndDate != "" {
		t, bare, err := parseDateOrTime(in.EndDate)
		if err != nil {
			return f, invalid("query.end_date", "end_date must be YYYY-MM-DD or an RFC 3339 time", in.EndDate)
		}
		if bare {
			t = t.AddDate(0, 0, 1) // a bare end date includes that whole day
		} else {
			t = t.Add(time.Microsecond) // an exact end time is inclusive
		}
		f.To = &t
	}
	if f.From != nil && f.To != nil && !f.From.Before(*f.To) {
		return f, invalid("query.end_date", "end_date must not be before start_date", in.EndDate)
	}
	return f, nil
}

func parseDateOrTime(s string) (t time.Time, bareDate bool, err error) {
	if t, err = time.Parse("2006-01-02", s); err == nil {
		return t.UTC(), true, nil
	}
	t, err = time.Parse(time.RFC3339Nano, s)
	return t.UTC(), false, err
}

type auditListInput struct {
	OperatorID       string `query:"operator_id" maxLength:"128" pattern:"^[A-Za-z0-9_.:-]+$" patternDescription:"an id: 1 to 128 letters, digits, _ . : or -"`
	Action           string `query:"action" enum:"approve,reject,modify,flag,resolve_flag,retry_delivery,undo,note_add,note_edit,note_delete,tag_add,tag_remove,tag_vocabulary,operator_add,operator_disable,operator_enable,operator_role,operator_passwd,operator_edit,bulk_approve" doc:"An audit action, or bulk_approve for approvals made in bulk (approve rows with a bulk_id)."`
	RecommendationID string `query:"recommendation_id" maxLength:"128" pattern:"^[A-Za-z0-9_.:-]+$" patternDescription:"an id: 1 to 128 letters, digits, _ . : or -"`
	StartDate        string `query:"start_date" maxLength:"64" doc:"A date (YYYY-MM-DD, from its start, UTC) or an RFC 3339 time." example:"2026-11-01"`
	EndDate          string `query:"end_date" maxLength:"64" doc:"A date (includes that whole day, UTC) or an RFC 3339 time (inclusive)." example:"2026-11-30"`
	Limit            int    `query:"limit" default:"100" minimum:"1" maximum:"10000"`
	Offset           int    `query:"offset" default:"0" minimum:"0" maximum:"10000000"`
	Cursor           string `query:"cursor" maxLength:"512" doc:"next_cursor of the previous page (faster than offset on deep pages)."`
}

type auditListOutput struct {
	Body struct {
		Count      int          `json:"count" doc:"Rows in this page."`
		Total      int64        `json:"total" doc:"Rows matching the filters."`
		Limit      int          `json:"limit"`
		Offset     int          `json:"offset"`
		NextCursor *string      `json:"next_cursor" nullable:"true"`
		Logs       []AuditEntry `json:"logs"`
	}
}

// AuditEntry is the wire shape of a store.AuditEntry, in a page and in an
// NDJSON export; only an export fills in the chain fields.
type AuditEntry struct {
	AuditID          string          `json:"audit_id"`
	OperatorID       string          `json:"operator_id"`
	Action           string          `json:"action"`
	RecommendationID *string         `json:"recommendation_id" nullable:"true" doc:"null for actions about no recommendation (operator administration)."`
	Metadata         json.RawMessage `json:"metadata"`
	Timestamp        time.Time       `json:"timestamp"`
	PrevHash         *string         `json:"prev_hash,omitempty"`
	RowHash          string          `json:"row_hash,omitempty"`
	SealID           *int64          `json:"seal_id,omitempty"`
}

type auditExportInput struct {
	OperatorID       string `query:"operator_id" maxLength:"128" pattern:"^[A-Za-z0-9_.:-]+$" patternDescription:"an id: 1 to 128 letters, digits, _ . : or -"`
	Action           string `query:"action" enum:"approve,reject,modify,flag,resolve_flag,retry_delivery,undo,note_add,note_edit,note_delete,tag_add,tag_remove,tag_vocabulary,operator_add,operator_disable,operator_enable,operator_role,operator_passwd,operator_edit,bulk_approve" doc:"An audit action, or bulk_approve for approvals made in bulk (approve rows with a bulk_id)."`
	RecommendationID string `query:"recommendation_id" maxLength:"128" pattern:"^[A-Za-z0-9_.:-]+$" patternDescription:"an id: 1 to 128 letters, digits, _ . : or -"`
	StartDate        string `query:"start_date" maxLength:"64" doc:"A date (YYYY-MM-DD, from its start, UTC) or an RFC 3339 time." example:"2026-11-01"`
	EndDate          string `query:"end_date" maxLength:"64" doc:"A date (includes that whole day, UTC) or an RFC 3339 time (inclusive)." example:"2026-11-30"`
	Format           string `query:"format" default:"csv" enum:"csv,ndjson,proof" doc:"csv and ndjson rows carry their chain fields (prev_hash, row_hash, seal_id); proof is the whole trail with chain heads and seals, for spendsense audit verify --export (no filters)."`
}

func (a *API) registerAudit(api huma.API) {
	tags := []string{"Audit"}
	a.registerListAudit(api, tags)
	a.registerExportAudit(api, tags)
}

func (a *API) registerListAudit(api huma.API, tags []string) {
	register(api, huma.Operation{
		OperationID: "list-audit-logs", Method: http.MethodGet, Path: opPath + "/audit-logs", Tags: tags,
		Summary: "Query the audit trail", Description: "Newest first. Page with `offset`, or with `cursor` for deep pages.",
		Errors: []int{http.StatusUnprocessableEntity},
	}, func(ctx context.Context, in *auditListInput) (*auditListOutput, error) {
		f, err := auditFilter{in.OperatorID, in.Action, in.RecommendationID, in.StartDate, in.EndDate}.filter()
		if err != nil {
			return nil, err
		}
		f.Limit, f.Offset = in.Limit, in.Offset
		if in.Cursor != "" {
			if in.Offset != 0 {
				return nil, invalid("query.offset", "use either offset or cursor, not both", in.Offset)
			}
			if f.Cursor, err = store.ParseCursor(in.Cursor); err != nil {
				return nil, invalid("query.cursor", err.Error(), in.Cursor)
			}
		}
		logs, total, next, err := a.store.ListAudit(ctx, f)
		if err != nil {
			return nil, a.problem(ctx, err)
		}
		out := &auditListOutput{}
		out.Body.Count, out.Body.Total, out.Body.Limit, out.Body.Offset = len(logs), total, in.Limit, in.Offset
		out.Body.Logs = convertAll(logs, func(e store.AuditEntry) AuditEntry { return AuditEntry(e) })
		if next != nil {
			c := next.Encode()
			out.Body.NextCursor = &c
		}
		return out, nil
	})
}

func (a *API) registerExportAudit(api huma.API, tags []string) {
	register(api, huma.Operation{
		OperationID: "export-audit-logs", Method: http.MethodGet, Path: exportPath, Tags: tags,
		Summary:     "Export the audit trail",
		Description: "Every matching row, newest first, as CSV or NDJSON, streamed in constant memory.",
		Errors:      []int{http.StatusUnprocessableEntity},
		Responses: map[string]*huma.Response{"200": {Description: "The rows", Content: map[string]*huma.MediaType{
			"text/csv": {}, "application/x-ndjson": {}}}},
	}, func(ctx context.Context, in *auditExportInput) (*huma.StreamResponse, error) {
		f, err := auditFilter{in.OperatorID, in.Action, in.RecommendationID, in.StartDate, in.EndDate}.filter()
		if err != nil {
			return nil, err
		}
		if in.Format == "proof" {
			if (f != store.AuditFilter{}) {
				return nil, invalid("query.format", "a proof export is the whole trail: it takes no filters", in.Format)
			}
			return a.proofExport(), nil
		}
		return a.rowExport(f, in.Format), nil
	})
}

// rowExport streams the rows f matches, newest first, as CSV or NDJSON.
func (a *API) rowExport(f store.AuditFilter, format string) *huma.StreamResponse {
	return &huma.StreamResponse{Body: func(hc huma.Context) {
		name := "audit-log-" + a.store.Now().Format("20060102T150405Z")
		_, w := humago.Unwrap(hc)
		rc := http.NewResponseController(w)
		write, flush := rowWriter(hc, w, format, name)
		// A rolling write deadline: each thousand rows must reach the
		// client within exportWriteDeadline, or the export ends.
		_ = rc.SetWriteDeadline(time.Now().Add(exportWriteDeadline))
		hc.SetStatus(http.StatusOK)
		n := 0
		var writeErr error
		err := a.store.EachAudit(hc.Context(), f, func(e store.AuditEntry) error {
			n++
			if n%1000 == 0 {
				if writeErr = flush(); writeErr != nil {
					return writeErr
				}
				_ = rc.SetWriteDeadline(time.Now().Add(exportWriteDeadline))
			}
			if writeErr = write(e); writeErr != nil {
				return writeErr
			}
			return nil
		})
		if err == nil {
			err = flush()
			writeErr = err
		}
		a.exportEnded(hc.Context(), n, err, writeErr)
	}}
}

// rowWriter sets the headers of an export in format and returns how to
// write one row and how to push what is buffered to the client.
func rowWriter(hc huma.Context, w http.ResponseWriter, format, name string) (write func(store.AuditEntry) error, flush func() error) {
	if format == "ndjson" {
		hc.SetHeader("Content-Type", "application/x-ndjson")
		hc.SetHeader("Content-Disposition", `attachment; filename="`+name+`.ndjson"`)
		enc := json.NewEncoder(w)
		write = func(e store.AuditEntry) error { return enc.Encode(AuditEntry(e)) }
		flush = func() error { return nil }
	} else {
		hc.SetHeader("Content-Type", "text/csv; charset=utf-8")
		hc.SetHeader("Content-Disposition", `attachment; filename="`+name+`.csv"`)
		cw := csv.NewWriter(w)
		_ = cw.Write([]string{"audit_id", "timestamp", "operator_id", "action", "recommendation_id", "metadata", "prev_hash", "row_hash", "seal_id"})
		write = func(e store.AuditEntry) error {
			seal := ""
			if e.SealID != nil {
				seal = strconv.FormatInt(*e.SealID, 10)
			}
			return cw.Write([]string{e.AuditID, e.Timestamp.Format(time.RFC3339Nano), e.OperatorID, e.Action, deref(e.RecommendationID), string(e.Metadata),
				*e.PrevHash, e.RowHash, seal})
		}
		flush = func() error { cw.Flush(); return cw.Error() }
	}
	return write, flush
}

// proofExport streams the whole trail as auditproof lines, read a page at a
// time (store.EachAuditProofPage): no page holds a database connection
// while it is written, so a client that stops reading holds none.
func (a *API) proofExport() *huma.StreamResponse {
	return &huma.StreamResponse{Body: func(hc huma.Context) {
		name := "audit-proof-" + a.store.Now().Format("20060102T150405Z")
		hc.SetHeader("Content-Type", "application/x-ndjson")
		hc.SetHeader("Content-Disposition", `attachment; filename="`+name+`.ndjson"`)
		_, w := humago.Unwrap(hc)
		rc := http.NewResponseController(w)
		bw := bufio.NewWriterSize(w, 64<<10)
		enc := json.NewEncoder(bw)
		hc.SetStatus(http.StatusOK)
		n := 0
		var writeErr error
		err := a.store.EachAuditProofPage(hc.Context(), func(lines []auditproof.Line) error {
			// A rolling write deadline: each page must reach the client
			// within exportWriteDeadline, or the export ends.
			_ = rc.SetWriteDeadline(time.Now().Add(exportWriteDeadline))
			for i := range lines {
				if writeErr = enc.Encode(&lines[i]); writeErr != nil {
					return writeErr
				}
			}
			n += len(lines)
			writeErr = bw.Flush()
			return writeErr
		})
		a.exportEnded(hc.Context(), n, err, writeErr)
	}}
}

// exportEnded logs how an export that did not finish ended: a client that
// left or stopped reading is its loss, not a server error.
func (a *API) exportEnded(ctx context.Context, n int, err, writeErr error) {
	switch {
	case err == nil:
	case writeErr != nil || errors.Is(err, context.Canceled):
		a.log.InfoContext(ctx, "audit export ended early: the client stopped reading",
			slog.Int("rows", n), slog.String("error", err.Error()))
	default:
		// Headers are gone; all we can do is stop and log.
		_ = a.problem(ctx, err)
	}
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// exportPath is the audit export, a streaming response (bodies.go).
const exportPath = opPath + "/audit-logs/export"

// exportWriteDeadline is how long the client of an export may take to read
// each thousand rows.
const exportWriteDeadline = 30 * time.Second
