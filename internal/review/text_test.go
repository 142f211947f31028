package review_test

import (
	"strings"
	"testing"

	"github.com/spendsense/operator-api/internal/review"
)

func TestCheckText(t *testing.T) {
	for _, c := range []struct {
		name string
		s    string
		kind review.TextKind
		ok   bool
	}{
		{"plain", "Budget tips for you", review.ShortText, true},
		{"accents and emoji", "Épargne 💰 résumé", review.ShortText, true},
		{"arabic", "ميزانية", review.ShortText, true},
		{"paragraphs in long text", "line one\n\tline two", review.LongText, true},
		{"empty", "", review.ShortText, false},
		{"spaces", "   ", review.ShortText, false},
		{"zero-width space", "\u200b", review.ShortText, false},
		{"zero-width joiners and BOM", "\u200c\u200d\ufeff\u2060", review.ShortText, false},
		{"hangul filler", "\u3164", review.ShortText, false},
		{"ideographic space", "\u3000", review.ShortText, false},
		{"lone combining mark", "\u0301", review.ShortText, false},
		{"right-to-left override", "invoice\u202Eexe.txt", review.ShortText, false},
		{"isolate", "a\u2066b", review.ShortText, false},
		{"ESC sequence", "\x1b[31mred", review.ShortText, false},
		{"BEL", "ding\a", review.LongText, false},
		{"carriage return", "a\rb", review.LongText, false},
		{"newline in short text", "a\nb", review.ShortText, false},
		{"C1 control", "a\u0085b", review.LongText, false},
		{"DEL", "a\x7fb", review.ShortText, false},
		{"invalid UTF-8", "a\xffb", review.ShortText, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			why := review.CheckText(c.s, c.kind)
			if got := why == ""; got != c.ok {
				t.Fatalf("CheckText(%q) = %q, want ok=%v", c.s, why, c.ok)
			}
			if !c.ok && !strings.HasPrefix(why, "must ") {
				t.Fatalf("reason %q does not say what is wrong", why)
			}
		})
	}
}
