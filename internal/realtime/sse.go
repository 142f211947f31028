package realtime

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"time"
)

// Frame is one event as a client reads it off the wire.
type Frame struct {
	ID        string
	Type      string
	Data      map[string]any
	Timestamp time.Time
	Raw       string // the data: line
}

// ReadFrames parses a text/event-stream body, calling fn for each event
// until fn returns false or the body ends. It is the client side of the
// stream, for tests and the load benchmark.
func ReadFrames(r io.Reader, fn func(Frame) bool) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	var f Frame
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if f.Raw == "" {
				continue
			}
			var w struct {
				Type      string         `json:"type"`
				Data      map[string]any `json:"data"`
				Timestamp time.Time      `json:"timestamp"`
			}
			if err := json.Unmarshal([]byte(f.Raw), &w); err != nil {
				return err
			}
			f.Type, f.Data, f.Timestamp = w.Type, w.Data, w.Timestamp
			if !fn(f) {
				return nil
			}
			f = Frame{}
		case strings.HasPrefix(line, "id: "):
			f.ID = strings.TrimPrefix(line, "id: ")
		case strings.HasPrefix(line, "data: "):
			f.Raw = strings.TrimPrefix(line, "data: ")
		}
	}
	return sc.Err()
}

// Stream is an open event stream, client side.
type Stream struct {
	Status int
	// Frames delivers the events; it is closed when the stream ends.
	Frames <-chan Frame
	cancel context.CancelFunc
	ended  chan struct{}
}

// Dial opens GET url with header. A non-200 answer is returned with its
// Status and a closed Frames. buffer is how many frames may wait unread.
func Dial(ctx context.Context, c *http.Client, url string, header http.Header, buffer int) (*Stream, error) {
	ctx, cancel := context.WithCancel(ctx)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		cancel()
		return nil, err
	}
	for k, v := range header {
		req.Header[k] = v
	}
	res, err := c.Do(req)
	if err != nil {
		cancel()
		return nil, err
	}
	frames := make(chan Frame, buffer)
	st := &Stream{Status: res.StatusCode, Frames: frames, cancel: cancel, ended: make(chan struct{})}
	go func() {
		defer close(st.ended)
		defer close(frames)
		defer res.Body.Close()
		if res.StatusCode != http.StatusOK {
			return
		}
		_ = ReadFrames(res.Body, func(f Frame) bool {
			select {
			case frames <- f:
				return true
			case <-ctx.Done():
				return false
			}
		})
	}()
	return st, nil
}

// Close ends the stream and waits for its reader.
func (s *Stream) Close() {
	s.cancel()
	<-s.ended
}

// Ended is closed once the stream has ended (either side).
func (s *Stream) Ended() <-chan struct{} { return s.ended }

// ErrStreamEnded and ErrNoEvent are Next's failures.
var (
	ErrStreamEnded = errors.New("stream ended")
	ErrNoEvent     = errors.New("no event in time")
)

// Next returns the next event that reports a change or the connection
// itself (not ping, stats_updated or alert_triggered), waiting at most
// within.
func (s *Stream) Next(within time.Duration) (Frame, error) {
	timeout := time.NewTimer(within)
	defer timeout.Stop()
	for {
		select {
		case f, ok := <-s.Frames:
			if !ok {
				return Frame{}, ErrStreamEnded
			}
			switch f.Type {
			case "ping", "stats_updated", "alert_triggered":
				continue
			}
			return f, nil
		case <-timeout.C:
			return Frame{}, ErrNoEvent
		}
	}
}
