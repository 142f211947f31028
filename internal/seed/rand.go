package seed

import (
	"math"
	"math/rand/v2"
	"strconv"
	"time"
)

// rng is the one source of randomness. Every value the seed writes is drawn
// from it in a fixed order, so a seed and an anchor time fix the data.
type rng struct {
	*rand.Rand
	seq uint64 // ids made so far; part of every id, so ids never repeat
}

func newRNG(seed int64) *rng {
	return &rng{Rand: rand.New(rand.NewPCG(uint64(seed), 0x5eed5eed5eed5eed))}
}

// between returns a float in [lo, hi).
func (r *rng) between(lo, hi float64) float64 { return lo + r.Float64()*(hi-lo) }

// intIn returns an int in [lo, hi].
func (r *rng) intIn(lo, hi int) int { return lo + r.IntN(hi-lo+1) }

// chance reports true with probability p.
func (r *rng) chance(p float64) bool { return r.Float64() < p }

// pick returns one element of list.
func pick[T any](r *rng, list []T) T { return list[r.IntN(len(list))] }

// dur returns a duration in [lo, hi).
func (r *rng) dur(lo, hi time.Duration) time.Duration {
	return lo + time.Duration(r.Int64N(int64(hi-lo)))
}

// normal returns a normally distributed value clamped to [lo, hi].
func (r *rng) normal(mean, sd, lo, hi float64) float64 {
	return clamp(mean+sd*r.NormFloat64(), lo, hi)
}

func clamp(v, lo, hi float64) float64 { return math.Min(hi, math.Max(lo, v)) }

func round2(v float64) float64 { return math.Round(v*100) / 100 }
func round1(v float64) float64 { return math.Round(v*10) / 10 }

// uuid7 returns a UUIDv7-shaped id for an event at t: the 48-bit Unix
// millisecond timestamp, version and variant bits, and 74 bits made of the
// id counter and random bits. The counter makes every id of one run unique;
// the timestamp makes ids sort in time order like the server's own.
func (r *rng) uuid7(t time.Time) string {
	r.seq++
	ms := uint64(t.UnixMilli())
	x := r.Uint64()
	var b [16]byte
	b[0], b[1], b[2], b[3], b[4], b[5] = byte(ms>>40), byte(ms>>32), byte(ms>>24), byte(ms>>16), byte(ms>>8), byte(ms)
	b[6] = 0x70 | byte(x>>60)&0x0f
	b[7] = byte(x >> 52)
	// rand_b: 62 bits = 36 bits of counter, 26 random bits.
	rb := (r.seq&(1<<36-1))<<26 | x&(1<<26-1)
	b[8] = 0x80 | byte(rb>>56)&0x3f
	for i := 9; i < 16; i++ {
		b[i] = byte(rb >> (8 * (15 - i)))
	}
	const hexd = "0123456789abcdef"
	var out [36]byte
	j := 0
	for i, v := range b {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			out[j] = '-'
			j++
		}
		out[j], out[j+1] = hexd[v>>4], hexd[v&0x0f]
		j += 2
	}
	return string(out[:])
}

// counterID formats prefix + n zero-padded to width digits.
func counterID(prefix string, n, width int) string {
	b := make([]byte, 0, len(prefix)+width+2)
	b = append(b, prefix...)
	d := strconv.Itoa(n)
	for i := len(d); i < width; i++ {
		b = append(b, '0')
	}
	return string(append(b, d...))
}

// money formats dollars for prose: $7,800 or $12.50.
func money(v float64) string {
	cents := int64(math.Round(v * 100))
	whole, frac := cents/100, cents%100
	s := groupThousands(whole)
	if frac != 0 {
		s += "." + strconv.FormatInt(frac/10, 10) + strconv.FormatInt(frac%10, 10)
	}
	return "$" + s
}

// wholeMoney formats dollars rounded to the dollar: $7,800.
func wholeMoney(v float64) string { return "$" + groupThousands(int64(math.Round(v))) }

func groupThousands(n int64) string {
	neg := n < 0
	if neg {
		n = -n
	}
	s := strconv.FormatInt(n, 10)
	out := make([]byte, 0, len(s)+len(s)/3+1)
	if neg {
		out = append(out, '-')
	}
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	return string(out)
}

// pct formats a percentage without a trailing .0: 78%, 12.5%.
func pct(v float64) string { return strconv.FormatFloat(round1(v), 'f', -1, 64) + "%" }

// num formats a number with at most one decimal.
func num(v float64) string { return strconv.FormatFloat(round1(v), 'f', -1, 64) }
