package seed

import (
	"context"
	"testing"
	"time"
)

// BenchmarkGenerate measures row generation alone, without a database.
func BenchmarkGenerate(b *testing.B) {
	for range b.N {
		g := newGenerator(Options{Users: 10_000, Recommendations: 100_000, Seed: 1, Now: time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)}, false)
		ch := make(chan *chunk, 4)
		go func() { defer close(ch); g.run(context.Background(), ch) }()
		for c := range ch {
			g.recycle(c)
		}
	}
}
