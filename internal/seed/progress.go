package seed

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// progressLine shows, on one terminal line redrawn in place, how far the
// seed is: users first, then recommendations, each counted against its own
// total (a bar over both together read "items" and jumped in scale half
// way). It is a few lines rather than a progress-bar library so that the
// server binary, which carries the seed command, stays small.
type progressLine struct {
	w        io.Writer
	phase    string
	done     int64
	total    int64
	started  time.Time
	lastDraw time.Time
	now      func() time.Time
}

func newProgressLine(w io.Writer) *progressLine {
	return &progressLine{w: w, now: time.Now}
}

// start begins a phase ("users", "recommendations") of total items.
func (p *progressLine) start(phase string, total int64) {
	if p.phase != "" && p.phase != phase {
		p.draw(true)
		fmt.Fprintln(p.w)
	}
	p.phase, p.total, p.done, p.started = phase, total, 0, p.now()
	p.lastDraw = time.Time{}
}

// add counts n more items of the current phase.
func (p *progressLine) add(n int) {
	p.done += int64(n)
	p.draw(false)
}

// finish draws the phase complete and ends the line.
func (p *progressLine) finish() {
	if p.phase == "" {
		return
	}
	p.draw(true)
	fmt.Fprintln(p.w)
	p.phase = ""
}

// draw redraws the line at most ten times a second, unless forced.
func (p *progressLine) draw(force bool) {
	now := p.now()
	if !force && now.Sub(p.lastDraw) < 100*time.Millisecond {
		return
	}
	p.lastDraw = now
	pct := 100.0
	if p.total > 0 {
		pct = 100 * float64(p.done) / float64(p.total)
	}
	line := fmt.Sprintf("seeding %s: %s/%s (%.0f%%)", p.phase, thousands(p.done), thousands(p.total), pct)
	if elapsed := now.Sub(p.started); elapsed > 0 && p.done > 0 {
		rate := float64(p.done) / elapsed.Seconds()
		line += fmt.Sprintf(" %s/s", thousands(int64(rate)))
		if left := p.total - p.done; left > 0 && rate > 0 {
			line += fmt.Sprintf(", %s left", time.Duration(float64(left)/rate*float64(time.Second)).Round(time.Second))
		}
	}
	fmt.Fprintf(p.w, "\r%-72s", line)
}

// thousands formats n with comma separators: 1,234,567.
func thousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}
