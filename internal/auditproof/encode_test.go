package auditproof

import (
	"testing"
	"time"
)

func TestCanonicalJSONIgnoresFormatting(t *testing.T) {
	// What Go's encoder writes and what PostgreSQL's jsonb gives back.
	same := [][]string{
		{`{"b":1,"a":{"y":[1,2.50,"x"],"x":null}}`, `{"a": {"x": null, "y": [1, 2.5, "x"]}, "b": 1}`},
		{`{"n":1e2,"m":-0,"f":0.10}`, `{"f": 0.1, "m": 0, "n": 100}`},
		{`{"s":"<&> \u2028 ü"}`, "{\"s\": \"<&> \u2028 \u00fc\"}"},
		{`{"k":1,"k":2}`, `{"k": 2}`},
		{``, `{}`},
	}
	for _, pair := range same {
		a, err := CanonicalJSON([]byte(pair[0]))
		if err != nil {
			t.Fatal(err)
		}
		b, err := CanonicalJSON([]byte(pair[1]))
		if err != nil {
			t.Fatal(err)
		}
		if string(a) != string(b) {
			t.Errorf("%s → %s but %s → %s", pair[0], a, pair[1], b)
		}
	}
	if got, _ := CanonicalJSON([]byte(`{"b":[true,false],"a":12345678901234567890123}`)); string(got) != `{"a":12345678901234567890123,"b":[true,false]}` {
		t.Errorf("canonical form %s", got)
	}
	for _, bad := range []string{`{"a":1e99999}`, `{"a":`, `{} {}`} {
		if _, err := CanonicalJSON([]byte(bad)); err == nil {
			t.Errorf("%s: no error", bad)
		}
	}
}

func TestHashCoversEveryField(t *testing.T) {
	base := Row{AuditID: "a1", OperatorID: "op", Action: "approve", RecommendationID: "rec",
		Metadata: []byte(`{"notes":"x"}`), Timestamp: time.Date(2026, 1, 2, 3, 4, 5, 6000, time.UTC), PrevHash: "p"}
	h0, err := Hash(base)
	if err != nil {
		t.Fatal(err)
	}
	for name, change := range map[string]func(*Row){
		"audit id":       func(r *Row) { r.AuditID = "a2" },
		"operator":       func(r *Row) { r.OperatorID = "op2" },
		"action":         func(r *Row) { r.Action = "reject" },
		"recommendation": func(r *Row) { r.RecommendationID = "" },
		"metadata":       func(r *Row) { r.Metadata = []byte(`{"notes":"y"}`) },
		"timestamp":      func(r *Row) { r.Timestamp = r.Timestamp.Add(time.Microsecond) },
		"previous hash":  func(r *Row) { r.PrevHash = "q" },
	} {
		r := base
		change(&r)
		if h, _ := Hash(r); h == h0 {
			t.Errorf("changing the %s keeps the hash", name)
		}
	}
	// Below the stored precision, and the zone, change nothing.
	r := base
	r.Timestamp = base.Timestamp.Add(300 * time.Nanosecond).In(time.FixedZone("x", 3600))
	if h, _ := Hash(r); h != h0 {
		t.Error("the hash depends on nanoseconds or the time zone")
	}
}

func TestMerkleRootKnownShape(t *testing.T) {
	h := func(b byte) string {
		s := ""
		for i := 0; i < 32; i++ {
			s += "0" + string("0123456789abcdef"[b%16])
		}
		return s
	}
	one, _ := MerkleRoot([]string{h(1)})
	two, _ := MerkleRoot([]string{h(1), h(2)})
	swapped, _ := MerkleRoot([]string{h(2), h(1)})
	three, _ := MerkleRoot([]string{h(1), h(2), h(3)})
	if one == two || two == swapped || two == three {
		t.Fatal("roots of different row lists collide")
	}
	if _, err := MerkleRoot(nil); err == nil {
		t.Fatal("an empty seal has a root")
	}
}
