package jsontext

import (
	"bytes"
	"encoding/json"
	"testing"
)

var nasty = []string{
	"", "plain", `quote " and \ backslash`, "tab\tnew\nline\rcr\bback\ffeed",
	"\x00\x01\x1f\x7f", "<script>&amp;</script>", "caf\u00e9 \u2028 \u2029 \U0001F600",
	"bad \xff\xfe utf8", "\xed\xa0\x80 surrogate", "trailing \xe2\x82",
}

// encodingJSON is what encoding/json writes for s, with or without HTML escaping.
func encodingJSON(t testing.TB, s string, html bool) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(html)
	if err := enc.Encode(s); err != nil {
		t.Fatal(err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}

func TestAppendString(t *testing.T) {
	for _, s := range nasty {
		if got, want := AppendString(nil, s), encodingJSON(t, s, false); !bytes.Equal(got, want) {
			t.Errorf("%q: got %s, encoding/json %s", s, got, want)
		}
		if got, want := AppendStringHTML(nil, s), encodingJSON(t, s, true); !bytes.Equal(got, want) {
			t.Errorf("%q (HTML): got %s, encoding/json %s", s, got, want)
		}
	}
}

func FuzzAppendString(f *testing.F) {
	for _, s := range nasty {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := AppendString(nil, s), encodingJSON(t, s, false); !bytes.Equal(got, want) {
			t.Fatalf("%q: got %s, encoding/json %s", s, got, want)
		}
		if got, want := AppendStringHTML(nil, s), encodingJSON(t, s, true); !bytes.Equal(got, want) {
			t.Fatalf("%q (HTML): got %s, encoding/json %s", s, got, want)
		}
	})
}
