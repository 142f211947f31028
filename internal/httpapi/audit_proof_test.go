package httpapi_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/csv"
	"testing"

	"github.com/spendsense/operator-api/internal/auditproof"
	"github.com/spendsense/operator-api/internal/review"
	"github.com/spendsense/operator-api/internal/store"
	"github.com/spendsense/operator-api/internal/testdb"
)

// TestProofExportVerifiesOffline takes the proof export through the real
// router and verifies it with nothing but the public key; the CSV export
// carries each row's chain fields.
func TestProofExportVerifiesOffline(t *testing.T) {
	testdb.Each(t, func(t *testing.T, s *store.Store) {
		e := newEnv(t, s)
		ids := e.fixture(5, 0)
		op := e.as(review.RoleOperator)
		for _, id := range ids[:4] {
			e.do("POST", "/api/operator/recommendations/"+id+"/approve", op, nil).must(t, 200)
		}
		key := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, 32))
		if _, err := s.SealAudit(context.Background(), key, 0); err != nil {
			t.Fatal(err)
		}
		e.do("POST", "/api/operator/recommendations/"+ids[4]+"/reject", op, map[string]any{"reason": "not for this user"}).must(t, 200)

		r := e.do("GET", "/api/operator/audit-logs/export?format=proof", op, nil).must(t, 200)
		v := auditproof.NewVerifier(key.Public().(ed25519.PublicKey))
		if err := auditproof.ReadExport(bytes.NewReader(r.Body), v); err != nil {
			t.Fatal(err)
		}
		if rep := v.Finish(); !rep.OK() || rep.Rows != 5 || rep.Seals != 1 || rep.Unsealed != 1 {
			t.Fatalf("offline verify of the API's export: %+v", rep)
		}
		e.do("GET", "/api/operator/audit-logs/export?format=proof&operator_id=op_operator", op, nil).must(t, 422)

		r = e.do("GET", "/api/operator/audit-logs/export?format=csv", op, nil).must(t, 200)
		rows, err := csv.NewReader(bytes.NewReader(r.Body)).ReadAll()
		if err != nil || len(rows) != 6 {
			t.Fatalf("csv: %v, %d rows", err, len(rows))
		}
		if h := rows[0]; h[7] != "row_hash" || h[8] != "seal_id" {
			t.Fatalf("csv header %v", h)
		}
		for _, row := range rows[1:] {
			if len(row[7]) != 64 {
				t.Errorf("csv row %s has row_hash %q", row[0], row[7])
			}
		}
	})
}
