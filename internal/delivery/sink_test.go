package delivery_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/spendsense/operator-api/internal/delivery"
	"github.com/spendsense/operator-api/internal/review"
)

func TestSignAndVerify(t *testing.T) {
	body := []byte(`{"event":"recommendation.approved"}`)
	m := hmac.New(sha256.New, []byte("k"))
	m.Write(body)
	want := "sha256=" + hex.EncodeToString(m.Sum(nil))
	if got := delivery.Sign([]byte("k"), body); got != want {
		t.Fatalf("Sign = %s, want %s", got, want)
	}
	if !delivery.Verify([]byte("k"), body, want) {
		t.Fatal("Verify rejected a good signature")
	}
	for _, bad := range []string{"", want[7:], "sha256=00", strings.ToUpper(want)} {
		if delivery.Verify([]byte("k"), body, bad) {
			t.Errorf("Verify accepted %q", bad)
		}
	}
	if delivery.Verify([]byte("other"), body, want) || delivery.Verify([]byte("k"), append(body, ' '), want) {
		t.Error("Verify accepted a signature under another key or body")
	}
}

func TestNewWebhookSinkNeedsSecretAndURL(t *testing.T) {
	if _, err := delivery.NewWebhookSink("https://hooks.example.com/x", ""); err == nil || !strings.Contains(err.Error(), "SPENDSENSE_DELIVERY_SECRET") {
		t.Errorf("no secret: %v", err)
	}
	for _, u := range []string{"hooks.example.com/x", "ftp://x/y", "/relative", "http://"} {
		if _, err := delivery.NewWebhookSink(u, "s"); err == nil {
			t.Errorf("URL %q accepted", u)
		}
	}
}

// The webhook's classification of responses: what is retried, what is not.
func TestWebhookOutcomes(t *testing.T) {
	var status int
	var header http.Header
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for k, v := range header {
			w.Header()[k] = v
		}
		w.WriteHeader(status)
		_, _ = w.Write([]byte("reason\x00 here"))
	}))
	defer srv.Close()
	sink, err := delivery.NewWebhookSink(srv.URL, "s")
	if err != nil {
		t.Fatal(err)
	}
	ev := delivery.NewEvent(&review.Recommendation{ID: "r1"})
	date := time.Now().Add(30 * time.Second).UTC().Format(http.TimeFormat)
	for _, c := range []struct {
		status     int
		header     http.Header
		ok, perm   bool
		retryAfter time.Duration // lower bound
	}{
		{200, nil, true, false, 0},
		{204, nil, true, false, 0},
		{500, nil, false, false, 0},
		{502, nil, false, false, 0},
		{503, http.Header{"Retry-After": {"7"}}, false, false, 7 * time.Second},
		{429, http.Header{"Retry-After": {"3"}}, false, false, 3 * time.Second},
		{429, http.Header{"Retry-After": {date}}, false, false, 25 * time.Second},
		{429, nil, false, false, 0},
		{400, nil, false, true, 0},
		{401, nil, false, true, 0},
		{404, nil, false, true, 0},
		{410, nil, false, true, 0},
		{302, http.Header{"Location": {"https://elsewhere.example.com/"}}, false, true, 0},
	} {
		status, header = c.status, c.header
		err := sink.Deliver(context.Background(), ev)
		if (err == nil) != c.ok {
			t.Errorf("%d: err = %v, want ok=%v", c.status, err, c.ok)
			continue
		}
		if err == nil {
			continue
		}
		if delivery.IsPermanent(err) != c.perm {
			t.Errorf("%d: permanent = %v, want %v (%v)", c.status, !c.perm, c.perm, err)
		}
		var se *delivery.SendError
		if !errors.As(err, &se) || se.RetryAfter < c.retryAfter || (c.retryAfter == 0 && se.RetryAfter != 0) {
			t.Errorf("%d: retry after %v, want ≥ %v", c.status, se.RetryAfter, c.retryAfter)
		}
		if !strings.Contains(err.Error(), "reason  here") {
			t.Errorf("%d: error %q does not quote the (sanitized) body", c.status, err)
		}
	}
}

// A receiver slower than the timeout is a retryable failure.
func TestWebhookTimeoutIsRetryable(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	sink, err := delivery.NewWebhookSink(srv.URL, "s")
	if err != nil {
		t.Fatal(err)
	}
	sink.Client.Timeout = 100 * time.Millisecond
	err = sink.Deliver(context.Background(), delivery.NewEvent(&review.Recommendation{ID: "r1"}))
	if err == nil || delivery.IsPermanent(err) || !strings.Contains(err.Error(), "Timeout") {
		t.Fatalf("err = %v, want a retryable timeout", err)
	}
}
