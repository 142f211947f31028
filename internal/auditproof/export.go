package auditproof

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"time"
)

// Line is one line of a proof export (NDJSON): an audit row, a subject's
// chain head, or a seal, told apart by Type. An export holds the whole
// trail from one snapshot, so it verifies on its own (ReadExport), without
// the database or our server.
type Line struct {
	Type string `json:"type"` // "row", "head" or "seal"

	// type "row"
	AuditID          string          `json:"audit_id,omitempty"`
	OperatorID       string          `json:"operator_id,omitempty"`
	Action           string          `json:"action,omitempty"`
	RecommendationID *string         `json:"recommendation_id,omitempty"`
	Metadata         json.RawMessage `json:"metadata,omitempty"`
	Timestamp        string          `json:"timestamp,omitempty"` // TimeLayout
	PrevHash         *string         `json:"prev_hash,omitempty"`
	RowHash          string          `json:"row_hash,omitempty"`
	SealID           *int64          `json:"seal_id,omitempty"`

	// type "head"
	Subject string `json:"subject,omitempty"`
	Head    string `json:"head,omitempty"`

	// type "seal"
	Seal *Seal `json:"seal,omitempty"`
}

// RowLine is the export line of a row.
func RowLine(r Row) Line {
	l := Line{Type: "row", AuditID: r.AuditID, OperatorID: r.OperatorID, Action: r.Action,
		Metadata: json.RawMessage(r.Metadata), Timestamp: r.Timestamp.UTC().Format(TimeLayout), PrevHash: &r.PrevHash, RowHash: r.RowHash}
	if r.RecommendationID != "" {
		l.RecommendationID = &r.RecommendationID
	}
	if r.SealID != 0 {
		l.SealID = &r.SealID
	}
	if len(l.Metadata) == 0 {
		l.Metadata = json.RawMessage("{}")
	}
	return l
}

// ReadExport feeds every line of a proof export to v. A line that is not
// one of the three kinds, or a row whose timestamp does not parse, is an
// error naming its line number.
func ReadExport(r io.Reader, v *Verifier) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
	n := 0
	for sc.Scan() {
		n++
		if len(sc.Bytes()) == 0 {
			continue
		}
		var l Line
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			return fmt.Errorf("export line %d: %w", n, err)
		}
		switch l.Type {
		case "row":
			ts, err := time.Parse(TimeLayout, l.Timestamp)
			if err != nil {
				return fmt.Errorf("export line %d: timestamp: %w", n, err)
			}
			row := Row{AuditID: l.AuditID, OperatorID: l.OperatorID, Action: l.Action, Metadata: l.Metadata, Timestamp: ts, RowHash: l.RowHash}
			if l.RecommendationID != nil {
				row.RecommendationID = *l.RecommendationID
			}
			if l.PrevHash != nil {
				row.PrevHash = *l.PrevHash
			}
			if l.SealID != nil {
				row.SealID = *l.SealID
			}
			v.Row(row)
		case "head":
			v.Head(l.Subject, l.Head)
		case "seal":
			if l.Seal == nil {
				return fmt.Errorf("export line %d: a seal line without its seal", n)
			}
			v.Seal(*l.Seal)
		default:
			return fmt.Errorf("export line %d: unknown type %q", n, l.Type)
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("export line %d: %w", n+1, err)
	}
	if n == 0 {
		return fmt.Errorf("the export is empty")
	}
	return nil
}
