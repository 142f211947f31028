package review

import (
	"fmt"
	"unicode"
	"unicode/utf8"
)

// Text that a person reads later (reject and flag reasons, notes, titles,
// rationales, note text) is shown to operators and, for titles and
// rationales, to bank customers. Two kinds of text look fine to a
// validator and wrong to a reader:
//
//   - text with nothing visible in it: a zero-width space passes a
//     "not blank" check yet tells the next reader nothing;
//   - text that changes how what follows it is shown: bidirectional
//     overrides and isolates (a right-to-left override makes "txt.exe" read
//     "exe.txt"), and control characters (ESC starts ANSI sequences that
//     rewrite an operator's terminal, BEL rings it).
//
// CheckText refuses both. Newline and tab are allowed in long text
// (rationales, notes), where a person writes paragraphs; carriage return is
// not, since it rewrites the line it ends on a terminal.

// TextKind says which characters a field may hold besides visible text and
// spaces.
type TextKind int

const (
	// ShortText is one line: a title, a reason.
	ShortText TextKind = iota
	// LongText may also hold newlines and tabs: a rationale, a note.
	LongText
)

// CheckText returns why s may not be stored as person-read text, or "" when
// it may. The reason names the offending character by its code point.
func CheckText(s string, kind TextKind) string {
	visible := false
	for i, r := range s {
		if r == utf8.RuneError {
			if _, size := utf8.DecodeRuneInString(s[i:]); size == 1 {
				return "must be valid UTF-8"
			}
		}
		switch {
		case (r == '\n' || r == '\t') && kind == LongText:
			continue
		case unicode.IsControl(r):
			return fmt.Sprintf("must not contain control characters (found U+%04X at byte %d)", r, i)
		case isBidiControl(r):
			return fmt.Sprintf("must not contain bidirectional override or isolate characters (found U+%04X at byte %d)", r, i)
		case invisible(r):
			continue
		}
		visible = true
	}
	if !visible {
		return "must contain a visible character"
	}
	return ""
}

// isBidiControl reports the characters that reorder the text around them:
// embeddings and overrides (U+202A–U+202E), isolates (U+2066–U+2069) and
// the implicit marks (U+200E, U+200F, U+061C).
func isBidiControl(r rune) bool {
	return (r >= 0x202A && r <= 0x202E) || (r >= 0x2066 && r <= 0x2069) || r == 0x200E || r == 0x200F || r == 0x061C
}

// invisible reports characters that draw nothing: spaces of every width,
// format characters (category Cf: the zero-width space, joiners, the word
// joiner, the BOM), combining marks with nothing to combine with (Mn), and
// the Hangul, Mongolian and braille blanks that render as empty.
func invisible(r rune) bool {
	switch r {
	case 0x115F, 0x1160, 0x3164, 0xFFA0, 0x2800, 0x180E:
		return true
	}
	return unicode.IsSpace(r) || unicode.In(r, unicode.Cf, unicode.Mn)
}
