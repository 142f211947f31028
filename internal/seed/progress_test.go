package seed

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// Users and recommendations are counted each against their own total.
func TestProgressLinePhases(t *testing.T) {
	var buf bytes.Buffer
	p := newProgressLine(&buf)
	clock := time.Unix(0, 0)
	p.now = func() time.Time { clock = clock.Add(time.Second); return clock }
	p.start("users", 2000)
	p.add(1000)
	p.add(1000)
	p.start("recommendations", 20000)
	p.add(5000)
	p.finish()
	out := buf.String()
	for _, want := range []string{"seeding users: 1,000/2,000 (50%)", "seeding users: 2,000/2,000 (100%)",
		"seeding recommendations: 5,000/20,000 (25%)"} {
		if !strings.Contains(out, want) {
			t.Errorf("progress output lacks %q:\n%q", want, out)
		}
	}
	if strings.Contains(out, "/22,000") {
		t.Errorf("progress counts users and recommendations together:\n%q", out)
	}
	if !strings.HasSuffix(out, "\n") {
		t.Error("the last line is not ended")
	}
}
