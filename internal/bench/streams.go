package bench

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// streamProbe is the live-stream side of a scenario: streams open on the
// first server (one process serves them all), each timing every event
// from its commit to its arrival.
type streamProbe struct {
	n      int
	cancel context.CancelFunc
	wg     sync.WaitGroup
	// hist counts arrivals by latency in milliseconds (the last slot: 10 s
	// or more). The event's timestamp is the audit row's, taken when the
	// approving transaction began, so this is an upper bound of
	// commit-to-client latency by that transaction's own duration.
	hist   [10001]atomic.Int64
	events atomic.Int64
	ended  atomic.Int64 // streams that ended before the run did (dropped)
	// memPerStream is the first server's resident memory growth per open
	// stream, in bytes.
	memPerStream int64
}

// openStreams opens n authenticated streams on the first server and waits
// for each to say connected.
func (e *env) openStreams(ctx context.Context, n int) (*streamProbe, error) {
	pid := e.servers[0].cmd.Process.Pid
	rssBefore := procStatusKB(pid, "VmRSS") * 1024
	ctx, cancel := context.WithCancel(ctx)
	p := &streamProbe{n: n, cancel: cancel}
	tr := &http.Transport{MaxIdleConnsPerHost: n, DisableCompression: true}
	client := &http.Client{Transport: tr}
	connected := make(chan error, n)
	for i := 0; i < n; i++ {
		p.wg.Add(1)
		go func(header http.Header) {
			defer p.wg.Done()
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, e.bases[0]+"/api/realtime/stream", nil)
			if err != nil {
				connected <- err
				return
			}
			req.Header = header
			res, err := client.Do(req)
			if err == nil && res.StatusCode != http.StatusOK {
				res.Body.Close()
				err = fmt.Errorf("stream: %s", res.Status)
			}
			if err != nil {
				connected <- err
				return
			}
			defer res.Body.Close()
			// Only the type and the timestamp matter here: reading them
			// without decoding the JSON keeps the benchmark's own CPU (a
			// thousand readers on the same machine) out of the figures.
			sc := bufio.NewScanner(res.Body)
			first := true
			for sc.Scan() {
				line := sc.Bytes()
				if !bytes.HasPrefix(line, []byte("data: ")) {
					continue
				}
				if first {
					connected <- nil
					first = false
					continue
				}
				if !bytes.Contains(line, []byte(`"type":"recommendation_`)) {
					continue
				}
				i := bytes.Index(line, []byte(`"timestamp":"`))
				if i < 0 {
					continue
				}
				ts := line[i+len(`"timestamp":"`):]
				if j := bytes.IndexByte(ts, '"'); j > 0 {
					at, err := time.Parse(time.RFC3339Nano, string(ts[:j]))
					if err != nil {
						continue
					}
					ms := time.Since(at).Milliseconds()
					p.hist[min(max(ms, 0), int64(len(p.hist)-1))].Add(1)
					p.events.Add(1)
				}
			}
			if ctx.Err() == nil {
				p.ended.Add(1)
			}
		}(e.opHeader(uint64(i)))
	}
	for i := 0; i < n; i++ {
		select {
		case err := <-connected:
			if err != nil {
				cancel()
				p.wg.Wait()
				return nil, err
			}
		case <-time.After(60 * time.Second):
			cancel()
			p.wg.Wait()
			return nil, fmt.Errorf("streams: %d of %d connected within 60 s", i, n)
		}
	}
	// Let the server's allocations settle before reading its memory.
	time.Sleep(2 * time.Second)
	p.memPerStream = (procStatusKB(pid, "VmRSS")*1024 - rssBefore) / int64(n)
	return p, nil
}

// close ends the streams.
func (p *streamProbe) close() {
	p.cancel()
	p.wg.Wait()
}

// quantile is the latency below which fraction q of the events arrived.
func (p *streamProbe) quantile(q float64) time.Duration {
	total := p.events.Load()
	if total == 0 {
		return 0
	}
	want := int64(q * float64(total))
	var seen int64
	for ms := range p.hist {
		seen += p.hist[ms].Load()
		if seen > want {
			return time.Duration(ms) * time.Millisecond
		}
	}
	return time.Duration(len(p.hist)-1) * time.Millisecond
}

// max is the slowest arrival.
func (p *streamProbe) max() time.Duration {
	for ms := len(p.hist) - 1; ms >= 0; ms-- {
		if p.hist[ms].Load() > 0 {
			return time.Duration(ms) * time.Millisecond
		}
	}
	return 0
}
