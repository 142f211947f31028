package store_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"strings"
	"testing"

	"github.com/spendsense/operator-api/internal/auditproof"
	"github.com/spendsense/operator-api/internal/review"
	"github.com/spendsense/operator-api/internal/store"
	"github.com/spendsense/operator-api/internal/testdb"
)

var sealKey = ed25519.NewKeyFromSeed([]byte("0123456789abcdef0123456789abcdef"))

func verifySigned(t *testing.T, s *store.Store) auditproof.Report {
	t.Helper()
	rep, err := s.VerifyAudit(context.Background(), auditproof.NewVerifier(sealKey.Public().(ed25519.PublicKey)))
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// sealedHistory writes a history and seals it in two seals: rec_0000's
// chain and the first approvals in seal 1, the rest in seal 2.
func sealedHistory(t *testing.T, s *store.Store) []string {
	t.Helper()
	ctx := context.Background()
	ids := testdb.Fixture(t, s, 8, 0)
	chain := history(t, s, ids[:5])
	if seal, err := s.SealAudit(ctx, sealKey, 0); err != nil || seal == nil || seal.SealID != 1 || seal.RowCount != 8 {
		t.Fatalf("seal 1: %+v %v", seal, err)
	}
	for _, id := range ids[5:] {
		if _, err := s.Approve(ctx, review.ApproveInput{ID: id, Actor: operator}); err != nil {
			t.Fatal(err)
		}
	}
	if seal, err := s.SealAudit(ctx, sealKey, 0); err != nil || seal == nil || seal.SealID != 2 || seal.RowCount != 3 {
		t.Fatalf("seal 2: %+v %v", seal, err)
	}
	if seal, err := s.SealAudit(ctx, sealKey, 0); err != nil || seal != nil {
		t.Fatalf("a seal with nothing to seal: %+v %v", seal, err)
	}
	rep := verifySigned(t, s)
	if !rep.OK() || rep.Seals != 2 || rep.Unsealed != 0 {
		t.Fatalf("verify before tampering: %+v", rep)
	}
	return chain
}

func wantSealProblem(t *testing.T, s *store.Store, want string) {
	t.Helper()
	rep := verifySigned(t, s)
	if rep.OK() {
		t.Fatalf("verify passed; want %q", want)
	}
	all := make([]string, len(rep.Problems))
	for i, p := range rep.Problems {
		all[i] = p.String()
	}
	if !strings.Contains(strings.Join(all, "\n"), want) {
		t.Fatalf("problems %q; want one saying %q", all, want)
	}
}

func TestAuditSealsDetectWhatChainsCannot(t *testing.T) {
	kinds := []struct {
		name   string
		tamper func(t *testing.T, s *store.Store, chain []string)
		want   string
	}{
		{"a whole chain removed with its head", func(t *testing.T, s *store.Store, chain []string) {
			exec(t, s, `DELETE FROM operator_audit_log WHERE recommendation_id = 'rec_0000'`)
			exec(t, s, `UPDATE recommendations SET audit_head = NULL WHERE recommendation_id = 'rec_0000'`)
		}, "seal 1: covers 8 rows but 4 rows carry it"},
		{"rows of two seals swapped", func(t *testing.T, s *store.Store, chain []string) {
			exec(t, s, `UPDATE operator_audit_log SET seal_id = 3 - seal_id WHERE audit_id = ? OR audit_id = (SELECT MAX(audit_id) FROM operator_audit_log WHERE seal_id = 2)`, chain[0])
		}, "the Merkle root of its rows differs"},
		{"an old seal replayed as the newest", func(t *testing.T, s *store.Store, chain []string) {
			exec(t, s, `DELETE FROM audit_seals WHERE seal_id = 2`)
			exec(t, s, `INSERT INTO audit_seals SELECT 2, sealed_at, row_count, first_audit_id, last_audit_id, merkle_root, prev_seal_hash, seal_hash, public_key, signature FROM audit_seals WHERE seal_id = 1`)
		}, "seal 2: does not follow the seal before it"},
		{"the newest seal removed", func(t *testing.T, s *store.Store, chain []string) {
			exec(t, s, `DELETE FROM audit_seals WHERE seal_id = 2`)
		}, "carry seal 2, which does not exist"},
		{"a seal rewritten and re-signed with another key", func(t *testing.T, s *store.Store, chain []string) {
			// Someone with the database but not our key re-seals a
			// rewritten history: the auditor's public key rejects it.
			other := ed25519.NewKeyFromSeed([]byte("mallory-mallory-mallory-mallory!"))
			forged := readSeal(t, s, 2)
			forged.RowCount = 2
			forged.Sign(other)
			exec(t, s, `UPDATE audit_seals SET row_count = ?, seal_hash = ?, public_key = ?, signature = ? WHERE seal_id = 2`,
				forged.RowCount, forged.SealHash, forged.PublicKey, forged.Signature)
		}, "seal 2: its signature does not verify"},
	}
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			testdb.Each(t, func(t *testing.T, s *store.Store) {
				chain := sealedHistory(t, s)
				k.tamper(t, s, chain)
				wantSealProblem(t, s, k.want)
			})
		})
	}
}

// TestAbortedSealIsCoveredByTheNext aborts a seal after it has marked its
// rows and stored itself: nothing of it remains, and the next seal covers
// those rows and the ones written since.
func TestAbortedSealIsCoveredByTheNext(t *testing.T) {
	testdb.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		ids := testdb.Fixture(t, s, 6, 0)
		history(t, s, ids[:3])
		crash := errors.New("process died")
		if _, err := store.SealAuditAborting(s, ctx, sealKey, 0, func() error { return crash }); !errors.Is(err, crash) {
			t.Fatalf("aborted seal: %v", err)
		}
		if rep := verifySigned(t, s); !rep.OK() || rep.Seals != 0 || rep.Unsealed != 6 {
			t.Fatalf("after the aborted seal: %+v", rep)
		}
		if _, err := s.Approve(ctx, review.ApproveInput{ID: ids[4], Actor: operator}); err != nil {
			t.Fatal(err)
		}
		seal, err := s.SealAudit(ctx, sealKey, 0)
		if err != nil || seal == nil || seal.SealID != 1 || seal.RowCount != 7 {
			t.Fatalf("next seal: %+v %v", seal, err)
		}
		if rep := verifySigned(t, s); !rep.OK() || rep.Unsealed != 0 {
			t.Fatalf("after the next seal: %+v", rep)
		}
	})
}

func readSeal(t *testing.T, s *store.Store, id int64) auditproof.Seal {
	t.Helper()
	var seal *auditproof.Seal
	rep, err := s.VerifyAudit(context.Background(), auditproof.NewChainVerifier())
	if err != nil {
		t.Fatal(err)
	}
	if rep.LastSeal != nil && rep.LastSeal.SealID == id {
		seal = rep.LastSeal
	}
	if seal == nil {
		t.Fatalf("seal %d is not the newest", id)
	}
	return *seal
}

// TestEditedExportFailsOfflineVerify checks a proof export on its own
// (no database), untouched and after each kind of edit by hand.
func TestEditedExportFailsOfflineVerify(t *testing.T) {
	testdb.Each(t, func(t *testing.T, s *store.Store) {
		chain := sealedHistory(t, s)
		var buf bytes.Buffer
		if err := s.WriteAuditProof(context.Background(), &buf); err != nil {
			t.Fatal(err)
		}
		export := buf.String()
		offline := func(text string) auditproof.Report {
			v := auditproof.NewVerifier(sealKey.Public().(ed25519.PublicKey))
			if err := auditproof.ReadExport(strings.NewReader(text), v); err != nil {
				t.Fatal(err)
			}
			return v.Finish()
		}
		if rep := offline(export); !rep.OK() || rep.Rows != 11 || rep.Seals != 2 {
			t.Fatalf("untouched export: %+v", rep)
		}
		lines := strings.SplitAfter(export, "\n")
		lineOf := func(sub string) int {
			for i, l := range lines {
				if strings.Contains(l, sub) {
					return i
				}
			}
			t.Fatalf("no export line contains %q", sub)
			return -1
		}
		without := func(i int) string { return strings.Join(append(append([]string{}, lines[:i]...), lines[i+1:]...), "") }
		edits := map[string]struct {
			text, want string
		}{
			"a field changed": {strings.Replace(export, `"operator_id":"op_s"`, `"operator_id":"op_a"`, 1), chain[2]},
			"a row removed":   {without(lineOf(chain[1])), chain[2]},
			"a seal removed":  {without(lineOf(`"seal_id":1,`)), "seal 2"},
			"a head removed":  {without(lineOf(`"subject":"recommendation:rec_0000"`)), "recommendation:rec_0000"},
		}
		for name, e := range edits {
			rep := offline(e.text)
			if rep.OK() {
				t.Errorf("%s: offline verify passed", name)
				continue
			}
			if !strings.Contains(rep.Problems[0].String(), e.want) {
				t.Errorf("%s: first problem %q, want one naming %s", name, rep.Problems[0], e.want)
			}
		}
		// Another key does not verify the seals.
		v := auditproof.NewVerifier(ed25519.NewKeyFromSeed(make([]byte, 32)).Public().(ed25519.PublicKey))
		if err := auditproof.ReadExport(strings.NewReader(export), v); err != nil {
			t.Fatal(err)
		}
		if v.Finish().OK() {
			t.Error("seals verified with the wrong public key")
		}
	})
}
