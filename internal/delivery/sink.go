package delivery

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/spendsense/operator-api/internal/review"
)

// EventApproved is the event name of every delivery.
const EventApproved = "recommendation.approved"

// Headers the webhook sink sends.
const (
	HeaderSignature = "X-SpendSense-Signature"
	HeaderDelivery  = "X-SpendSense-Delivery"
	HeaderEvent     = "X-SpendSense-Event"
)

// Event is the JSON body delivered for one approval.
type Event struct {
	Event string `json:"event"`
	// DeliveryID is stable across every attempt (and every admin retry) of
	// one recommendation's delivery: it is the recommendation id. Consumers
	// de-duplicate on it.
	DeliveryID     string         `json:"delivery_id"`
	Recommendation Recommendation `json:"recommendation"`
}

// Recommendation is what the notification system needs of an approved
// recommendation. (A subset of the API's wire shape, defined here so the
// delivery package does not depend on the HTTP layer.)
type Recommendation struct {
	ID              string     `json:"id"`
	UserID          string     `json:"user_id"`
	Type            string     `json:"type"`
	Title           string     `json:"title"`
	Rationale       string     `json:"rationale"`
	Priority        string     `json:"priority"`
	ContentURL      *string    `json:"content_url"`
	ReadTimeMinutes *int       `json:"read_time_minutes"`
	PersonaPrimary  string     `json:"persona_primary"`
	ApprovedBy      *string    `json:"approved_by"`
	ApprovedAt      *time.Time `json:"approved_at"`
}

// NewEvent builds the delivery event of an approved recommendation. The body
// depends only on the stored recommendation, so every attempt sends the same
// bytes.
func NewEvent(r *review.Recommendation) Event {
	var at *time.Time
	if r.ApprovedAt != nil {
		t := r.ApprovedAt.UTC()
		at = &t
	}
	return Event{
		Event:      EventApproved,
		DeliveryID: r.ID,
		Recommendation: Recommendation{
			ID: r.ID, UserID: r.UserID, Type: r.Type, Title: r.Title, Rationale: r.Rationale, Priority: r.Priority,
			ContentURL: r.ContentURL, ReadTimeMinutes: r.ReadTimeMinutes, PersonaPrimary: r.PersonaPrimary,
			ApprovedBy: r.ApprovedBy, ApprovedAt: at,
		},
	}
}

// Sink sends one delivery. A nil error means the receiver has it. Errors
// are retried with backoff unless they are permanent (see Permanent).
type Sink interface {
	Deliver(ctx context.Context, ev Event) error
}

// SendError is a failed attempt with what the worker needs to decide what
// happens next.
type SendError struct {
	Err error
	// Permanent errors are not retried: the delivery fails at once.
	Permanent bool
	// RetryAfter is the receiver's Retry-After, when it sent one.
	RetryAfter time.Duration
}

func (e *SendError) Error() string { return e.Err.Error() }
func (e *SendError) Unwrap() error { return e.Err }

// Permanent marks err as not worth retrying.
func Permanent(err error) error { return &SendError{Err: err, Permanent: true} }

// IsPermanent reports whether err is a permanent failure.
func IsPermanent(err error) bool {
	var se *SendError
	return errors.As(err, &se) && se.Permanent
}

func retryAfterOf(err error) time.Duration {
	var se *SendError
	if errors.As(err, &se) {
		return se.RetryAfter
	}
	return 0
}

// LogSink is the default sink when no webhook is configured: it logs the
// delivery and reports success, so the delivery is recorded as delivered.
type LogSink struct{ Logger *slog.Logger }

// Deliver logs ev.
func (s LogSink) Deliver(ctx context.Context, ev Event) error {
	log := s.Logger
	if log == nil {
		log = slog.Default()
	}
	log.InfoContext(ctx, "delivery (log sink)", slog.String("event", ev.Event), slog.String("delivery_id", ev.DeliveryID),
		slog.String("user_id", ev.Recommendation.UserID), slog.String("type", ev.Recommendation.Type),
		slog.String("title", ev.Recommendation.Title))
	return nil
}

// WebhookTimeout bounds one webhook attempt.
const WebhookTimeout = 10 * time.Second

// WebhookSink POSTs each event as JSON to URL, signed with Secret:
//
//	Content-Type: application/json
//	X-SpendSense-Signature: sha256=<hex HMAC-SHA256 of the exact body bytes, keyed with Secret>
//	X-SpendSense-Delivery: <recommendation id>   (the consumer's de-duplication key)
//	Idempotency-Key: <recommendation id>          (the same, for receivers that honour it)
//	X-SpendSense-Event: recommendation.approved
//
// A 2xx response is success. Timeouts, connection errors, 5xx and 429 are
// retried (a Retry-After on 429/503 is honoured by the worker when it is
// short); any other status, redirects included, fails at once.
type WebhookSink struct {
	URL    string
	Secret []byte
	Client *http.Client
}

// NewWebhookSink checks its configuration: an absolute http(s) URL and a
// non-empty secret.
func NewWebhookSink(rawURL, secret string) (*WebhookSink, error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("delivery webhook URL %q: must be an absolute http:// or https:// URL", rawURL)
	}
	if secret == "" {
		return nil, errors.New("SPENDSENSE_DELIVERY_SECRET is required when SPENDSENSE_DELIVERY_WEBHOOK_URL is set: deliveries are signed with it")
	}
	return &WebhookSink{
		URL:    rawURL,
		Secret: []byte(secret),
		Client: &http.Client{
			Timeout: WebhookTimeout,
			// A redirected POST would be replayed as a GET, or to a host the
			// operator did not configure: treat 3xx as a failure instead.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}, nil
}

// Sign returns the X-SpendSense-Signature value for body.
func Sign(secret, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// Verify reports whether signature is a valid X-SpendSense-Signature of body
// under secret, comparing in constant time. Receivers written in Go can use
// it as is.
func Verify(secret, body []byte, signature string) bool {
	return hmac.Equal([]byte(Sign(secret, body)), []byte(signature))
}

// Deliver POSTs ev.
func (w *WebhookSink) Deliver(ctx context.Context, ev Event) error {
	body, err := json.Marshal(ev)
	if err != nil {
		return Permanent(err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.URL, bytes.NewReader(body))
	if err != nil {
		return Permanent(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "SpendSense-Delivery/1")
	req.Header.Set(HeaderSignature, Sign(w.Secret, body))
	req.Header.Set(HeaderDelivery, ev.DeliveryID)
	req.Header.Set("Idempotency-Key", ev.DeliveryID)
	req.Header.Set(HeaderEvent, ev.Event)
	client := w.Client
	if client == nil {
		client = &http.Client{Timeout: WebhookTimeout}
	}
	resp, err := client.Do(req)
	if err != nil {
		// Timeouts, refused connections, resets, DNS: all worth retrying.
		return &SendError{Err: fmt.Errorf("webhook: %s", redactURL(err))}
	}
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20)) // drain, so the connection is reused
	resp.Body.Close()
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return nil
	}
	e := &SendError{Err: fmt.Errorf("webhook responded %s%s", resp.Status, describe(snippet))}
	switch {
	case resp.StatusCode == http.StatusTooManyRequests, resp.StatusCode >= 500:
		e.RetryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), time.Now())
	default:
		e.Permanent = true
	}
	return e
}

// redactURL keeps the error text but drops the URL, which may carry a token.
func redactURL(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Op + ": " + ue.Err.Error()
	}
	return err.Error()
}

// describe turns the start of a response body into a short, printable note.
func describe(b []byte) string {
	s := strings.Map(func(r rune) rune {
		if unicode.IsPrint(r) {
			return r
		}
		return ' '
	}, strings.TrimSpace(string(b)))
	if r := []rune(s); len(r) > 200 {
		s = string(r[:200]) + "…"
	}
	if s == "" {
		return ""
	}
	return ": " + s
}

// parseRetryAfter reads delay-seconds or an HTTP date; 0 when absent or bad.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(v); err == nil {
		if n < 0 {
			return 0
		}
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// NewSink is the sink the configuration asks for: the webhook when
// webhookURL is set (which then needs secret), else the log.
func NewSink(webhookURL, secret string, log *slog.Logger) (Sink, error) {
	if webhookURL == "" {
		return LogSink{Logger: log}, nil
	}
	return NewWebhookSink(webhookURL, secret)
}
