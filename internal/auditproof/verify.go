package auditproof

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"sort"
)

// Problem is one thing that does not hold, naming the row or seal.
type Problem struct {
	AuditID string // the row concerned, if any
	SealID  int64  // the seal concerned, if any
	Subject string // the chain concerned, if any
	What    string
}

func (p Problem) String() string {
	switch {
	case p.AuditID != "":
		return fmt.Sprintf("audit row %s (%s): %s", p.AuditID, p.Subject, p.What)
	case p.SealID != 0:
		return fmt.Sprintf("seal %d: %s", p.SealID, p.What)
	case p.Subject != "":
		return fmt.Sprintf("chain %s: %s", p.Subject, p.What)
	}
	return p.What
}

// Report is what Finish found.
type Report struct {
	Rows, Subjects, Seals, Unsealed int64
	LastSeal                        *Seal // the newest seal: keep its hash outside the system
	Problems                        []Problem
}

// OK reports whether everything held.
func (r Report) OK() bool { return len(r.Problems) == 0 }

// Verifier checks rows, chain heads and seals given in any order. It keeps
// every row's id and hashes and every subject's name and head in memory,
// ~750 bytes a row (480 MiB at 644,129 rows over 512,695 subjects); the
// checks themselves are hashing, linear in the rows.
type Verifier struct {
	pub      ed25519.PublicKey
	noSigs   bool // NewChainVerifier: signatures are not checked
	rows     []link
	subjects map[string]int32
	names    []string
	heads    map[string]string
	seals    []Seal
	problems []Problem
}

type link struct {
	id         string
	prev, hash [32]byte
	genesis    bool // prev is "": the first row of its subject
	subj       int32
	seal       int64
}

// NewVerifier checks seals' signatures against pub; with nil pub, any seal
// is a problem (its signature cannot be checked).
func NewVerifier(pub ed25519.PublicKey) *Verifier {
	return &Verifier{pub: pub, subjects: map[string]int32{}, heads: map[string]string{}}
}

// NewChainVerifier checks everything but the seals' signatures: for a
// consistency check that has no key (spendsense check).
func NewChainVerifier() *Verifier {
	v := NewVerifier(nil)
	v.noSigs = true
	return v
}

func (v *Verifier) problem(p Problem) { v.problems = append(v.problems, p) }

// Row adds one stored row: its hash is recomputed from its fields now.
func (v *Verifier) Row(r Row) {
	subject := SubjectOf(r)
	idx, ok := v.subjects[subject]
	if !ok {
		idx = int32(len(v.names))
		v.subjects[subject] = idx
		v.names = append(v.names, subject)
	}
	l := link{id: r.AuditID, subj: idx, seal: r.SealID, genesis: r.PrevHash == ""}
	if r.RowHash == "" {
		v.problem(Problem{AuditID: r.AuditID, Subject: subject, What: "has no hash (never chained)"})
		return
	}
	got, err := Hash(r)
	switch {
	case err != nil:
		v.problem(Problem{AuditID: r.AuditID, Subject: subject, What: err.Error()})
	case got != r.RowHash:
		v.problem(Problem{AuditID: r.AuditID, Subject: subject, What: fmt.Sprintf("its fields do not match its hash: stored %s, computed %s (changed after it was written)", short(r.RowHash), short(got))})
	}
	if !decode32(r.RowHash, &l.hash) || (!l.genesis && !decode32(r.PrevHash, &l.prev)) {
		v.problem(Problem{AuditID: r.AuditID, Subject: subject, What: "its hash or previous hash is not a hex SHA-256"})
		return
	}
	v.rows = append(v.rows, l)
}

// Head adds a subject's stored chain head (the hash of its newest row).
func (v *Verifier) Head(subject, head string) { v.heads[subject] = head }

// Seal adds one stored seal.
func (v *Verifier) Seal(s Seal) { v.seals = append(v.seals, s) }

// Finish checks every chain against its head and every seal against its
// rows, its predecessor and its signature.
func (v *Verifier) Finish() Report {
	rep := Report{Rows: int64(len(v.rows)), Subjects: int64(len(v.names)), Seals: int64(len(v.seals))}
	v.checkChains()
	rep.Unsealed = v.checkSeals()
	if n := len(v.seals); n > 0 {
		rep.LastSeal = &v.seals[n-1]
	}
	rep.Problems = v.problems
	return rep
}

func (v *Verifier) checkChains() {
	bySubject := make([][]int, len(v.names))
	for i, l := range v.rows {
		bySubject[l.subj] = append(bySubject[l.subj], i)
	}
	subjects := make([]string, 0, len(v.names)+len(v.heads))
	subjects = append(subjects, v.names...)
	for s := range v.heads {
		if _, ok := v.subjects[s]; !ok {
			subjects = append(subjects, s)
		}
	}
	sort.Strings(subjects)
	for _, subject := range subjects {
		var rows []int
		if idx, ok := v.subjects[subject]; ok {
			rows = bySubject[idx]
		}
		head, hasHead := v.heads[subject]
		switch {
		case !hasHead && len(rows) > 0:
			v.problem(Problem{Subject: subject, What: fmt.Sprintf("has %d rows but no chain head on its subject row (the head was cleared, or the subject removed)", len(rows))})
			continue
		case hasHead && len(rows) == 0:
			v.problem(Problem{Subject: subject, What: fmt.Sprintf("its head is %s but it has no audit rows (its whole chain was removed)", short(head))})
			continue
		case !hasHead:
			continue
		}
		byHash := make(map[[32]byte]int, len(rows))
		for _, i := range rows {
			byHash[v.rows[i].hash] = i
		}
		var h [32]byte
		cur, ok := -1, decode32(head, &h)
		if ok {
			cur, ok = byHash[h]
		}
		if !ok {
			v.problem(Problem{Subject: subject, What: fmt.Sprintf("its head %s is no row's hash (its newest row was removed or rewritten)", short(head))})
			continue
		}
		seen := make(map[int]bool, len(rows))
		for cur >= 0 && !seen[cur] {
			seen[cur] = true
			l := v.rows[cur]
			if l.genesis {
				break
			}
			next, ok := byHash[l.prev]
			if !ok {
				v.problem(Problem{AuditID: l.id, Subject: subject, What: fmt.Sprintf("the row before it (hash %s) is missing (a row was removed)", short(hex.EncodeToString(l.prev[:])))})
				break
			}
			cur = next
		}
		for _, i := range rows {
			if !seen[i] {
				v.problem(Problem{AuditID: v.rows[i].id, Subject: subject, What: "is not on its subject's chain from the head (rows removed, reordered or inserted)"})
			}
		}
	}
}

// checkSeals returns the number of rows no seal covers yet.
func (v *Verifier) checkSeals() (unsealed int64) {
	sort.SliceStable(v.seals, func(i, j int) bool { return v.seals[i].SealID < v.seals[j].SealID })
	leaves := map[int64][]int{}
	for i, l := range v.rows {
		if l.seal == 0 {
			unsealed++
			continue
		}
		leaves[l.seal] = append(leaves[l.seal], i)
	}
	if len(v.seals) > 0 && v.pub == nil && !v.noSigs {
		v.problem(Problem{What: "seals cannot be checked without the public key (pass --pubkey)"})
	}
	known := map[int64]bool{}
	prev := ""
	for i, s := range v.seals {
		known[s.SealID] = true
		if s.SealID != int64(i+1) {
			v.problem(Problem{SealID: s.SealID, What: fmt.Sprintf("is seal number %d in order: seals are missing, repeated or out of order", i+1)})
		}
		c := s.Canonical()
		sum := sha256.Sum256(c)
		if hex.EncodeToString(sum[:]) != s.SealHash {
			v.problem(Problem{SealID: s.SealID, What: "its fields do not match its hash"})
		}
		if s.PrevHash != prev {
			v.problem(Problem{SealID: s.SealID, What: "does not follow the seal before it (previous seal hash differs: a seal was removed, replayed or reordered)"})
		}
		prev = s.SealHash
		if v.pub != nil {
			sig, err := base64.StdEncoding.DecodeString(s.Signature)
			if err != nil || !ed25519.Verify(v.pub, c, sig) {
				v.problem(Problem{SealID: s.SealID, What: "its signature does not verify with the given public key"})
			}
		}
		rows := leaves[s.SealID]
		sort.Slice(rows, func(a, b int) bool { return v.rows[rows[a]].id < v.rows[rows[b]].id })
		if int64(len(rows)) != s.RowCount {
			v.problem(Problem{SealID: s.SealID, What: fmt.Sprintf("covers %d rows but %d rows carry it (rows removed or added)", s.RowCount, len(rows))})
			continue
		}
		if len(rows) == 0 {
			continue
		}
		if v.rows[rows[0]].id != s.FirstID || v.rows[rows[len(rows)-1]].id != s.LastID {
			v.problem(Problem{SealID: s.SealID, What: "its first or last row differs from the rows that carry it"})
		}
		hashes := make([]string, len(rows))
		for k, i := range rows {
			hashes[k] = hex.EncodeToString(v.rows[i].hash[:])
		}
		if root, err := MerkleRoot(hashes); err != nil || root != s.MerkleRoot {
			v.problem(Problem{SealID: s.SealID, What: "the Merkle root of its rows differs from the signed one (rows changed, swapped or replaced)"})
		}
	}
	for id, rows := range leaves {
		if !known[id] {
			v.problem(Problem{AuditID: v.rows[rows[0]].id, Subject: v.names[v.rows[rows[0]].subj], What: fmt.Sprintf("and %d other rows carry seal %d, which does not exist (a seal was removed)", len(rows)-1, id)})
		}
	}
	return unsealed
}

func decode32(s string, out *[32]byte) bool {
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != 32 {
		return false
	}
	copy(out[:], b)
	return true
}

func short(h string) string {
	if len(h) > 16 {
		return h[:16] + "…"
	}
	return h
}
