package bench

import (
	"context"
	"os"
	"strconv"
	"strings"
	"time"
)

// cpuTimes reads the machine's total and idle CPU time (jiffies) from
// /proc/stat.
func cpuTimes() (total, idle uint64, ok bool) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0, false
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 5 || f[0] != "cpu" {
		return 0, 0, false
	}
	for i, v := range f[1:] {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return 0, 0, false
		}
		total += n
		if i == 3 || i == 4 { // idle, iowait
			idle += n
		}
	}
	return total, idle, true
}

// busyOver is the fraction of the machine's CPU time spent busy over d.
func busyOver(ctx context.Context, d time.Duration) (float64, bool) {
	t0, i0, ok := cpuTimes()
	if !ok {
		return 0, false
	}
	select {
	case <-ctx.Done():
		return 0, false
	case <-time.After(d):
	}
	t1, i1, ok := cpuTimes()
	if !ok || t1 <= t0 {
		return 0, false
	}
	return 1 - float64(i1-i0)/float64(t1-t0), true
}

// waitQuiet waits, up to maxWait, until the machine's CPU has been less
// than maxBusy busy for two seconds in a row, so that other work on a
// shared machine does not land in a measurement. Between runs the servers
// are idle, so what it sees is everyone else. It returns the last busy
// fraction seen and how long it waited.
func waitQuiet(ctx context.Context, maxBusy float64, maxWait time.Duration) (busy float64, waited time.Duration) {
	began := time.Now()
	quiet := 0
	for time.Since(began) < maxWait && ctx.Err() == nil {
		b, ok := busyOver(ctx, time.Second)
		if !ok {
			return 0, time.Since(began)
		}
		busy = b
		if b < maxBusy {
			if quiet++; quiet == 2 {
				break
			}
		} else {
			quiet = 0
		}
	}
	return busy, time.Since(began)
}
