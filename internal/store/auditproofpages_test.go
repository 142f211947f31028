package store_test

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"testing"

	"github.com/spendsense/operator-api/internal/auditproof"
	"github.com/spendsense/operator-api/internal/review"
	"github.com/spendsense/operator-api/internal/store"
	"github.com/spendsense/operator-api/internal/testdb"
)

// TestProofExportPagesStayConsistent reads a proof export a page at a time
// while the trail keeps changing between pages (approvals and notes on
// subjects already exported and still to come, a new seal): the export must
// still verify, with every chain whole and every seal exactly covered, as
// one snapshot would.
func TestProofExportPagesStayConsistent(t *testing.T) {
	testdb.Each(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		ids := testdb.Fixture(t, s, 1600, 0)
		op := review.Actor{ID: "op_a", Role: review.RoleOperator}
		for _, chunk := range [][]string{ids[0:1000], ids[1000:1200]} {
			if res, err := s.BulkApprove(ctx, review.BulkApproveInput{Actor: op, IDs: chunk}); err != nil || res.Approved != len(chunk) {
				t.Fatalf("bulk approval: %+v %v", res, err)
			}
		}
		key := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{9}, 32))
		if _, err := s.SealAudit(ctx, key, 0); err != nil {
			t.Fatal(err)
		}
		if _, err := s.AddNote(ctx, op, ids[1199], "before the export"); err != nil {
			t.Fatal(err)
		}

		var out bytes.Buffer
		enc := json.NewEncoder(&out)
		pages, rows := 0, 0
		err := s.EachAuditProofPage(ctx, func(lines []auditproof.Line) error {
			pages++
			for i := range lines {
				if lines[i].Type == "row" {
					rows++
				}
				if err := enc.Encode(&lines[i]); err != nil {
					return err
				}
			}
			if pages != 3 {
				return nil
			}
			// Between two pages of chains: writes behind the export's place
			// and ahead of it, and a seal of them all.
			for _, id := range []string{ids[5], ids[1150]} {
				if _, err := s.AddNote(ctx, op, id, "during the export"); err != nil {
					return err
				}
			}
			for _, id := range []string{ids[1300], ids[1599]} {
				if _, err := s.Approve(ctx, review.ApproveInput{ID: id, Actor: op}); err != nil {
					return err
				}
			}
			_, err := s.SealAudit(ctx, key, 0)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		v := auditproof.NewVerifier(key.Public().(ed25519.PublicKey))
		if err := auditproof.ReadExport(&out, v); err != nil {
			t.Fatal(err)
		}
		rep := v.Finish()
		for _, p := range rep.Problems {
			t.Errorf("export: %s", p)
		}
		t.Logf("%s: %d pages, %d rows, %d seals, %d rows not sealed as of the export", s.Engine, pages, rep.Rows, rep.Seals, rep.Unsealed)
		// 1,200 approvals and a note before; then the note and the two
		// approvals ahead of the export's place (the note behind it is
		// after the export's cut for its chain).
		if pages < 4 || rep.Seals != 1 || rep.Rows != 1204 || rows != 1204 {
			t.Errorf("pages %d, seals %d (want 1: the second came after the start), rows %d (verified %d), want 1204", pages, rep.Seals, rows, rep.Rows)
		}
	})
}
