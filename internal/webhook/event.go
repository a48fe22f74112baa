// Package webhook delivers the change log to outside systems and takes fact
// updates from them.
//
// Outbound, the change log is the outbox: each subscription keeps a cursor
// in the database, and one Dispatcher (on the instance holding its lease,
// internal/leader) reads the log after each cursor, filters it, and posts every matching change as a
// CloudEvents 1.0 event, in revision order, retrying with exponential
// backoff and full jitter until the receiver answers 2xx. Only then does the
// cursor move, so every event arrives at least once, across restarts and
// failovers; receivers deduplicate on the event id. An event a receiver
// keeps refusing is parked once its retry budget (attempts or time) is
// spent: the delivery log shows it as parked, the subscription moves on,
// and a redelivery sends it again.
//
// Inbound, a FactHook handler accepts fact updates authenticated by the
// hook's own token and applies them in one revision.
package webhook

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/flagops/flagops/internal/domain"
)

// Headers of a delivery.
const (
	// SignatureHeader carries "sha256=" and the hex HMAC-SHA256, keyed by the
	// subscription secret, of TimestampHeader's value, a '.', and the raw body.
	SignatureHeader = "X-Flagops-Signature"
	// TimestampHeader carries the Unix time of the attempt; receivers reject
	// deliveries older than a few minutes to stop replays.
	TimestampHeader = "X-Flagops-Timestamp"
	// DeliveryHeader carries the delivery id (stable across attempts).
	DeliveryHeader = "X-Flagops-Delivery"
	// FluxSignatureHeader is what Flux's generic-hmac Receiver verifies:
	// "sha256=" and the hex HMAC-SHA256 of the raw body keyed by the
	// receiver token.
	FluxSignatureHeader = "X-Signature"
	// ContentType is the CloudEvents structured-mode JSON media type.
	ContentType = "application/cloudevents+json"
	// BinaryContentType is the Content-Type of a binary-mode delivery: the
	// body is the event's data alone, and a Flux Receiver decodes it for
	// its resourceFilter only under this media type.
	BinaryContentType = "application/json"
)

// Event is a CloudEvents 1.0 event in structured JSON mode.
type Event struct {
	SpecVersion string    `json:"specversion"`
	ID          string    `json:"id"`
	Source      string    `json:"source"`
	Type        string    `json:"type"`
	Time        time.Time `json:"time"`
	// Subject is omitted when empty: CloudEvents 1.0 requires a non-empty
	// subject when the attribute is present.
	Subject         string        `json:"subject,omitempty"`
	DataContentType string        `json:"datacontenttype"`
	Data            domain.Change `json:"data"`
}

// EventType names a change as a CloudEvents type: dev.flagops.KIND.created,
// .updated or .deleted.
func EventType(c domain.Change) string {
	verb := "updated"
	switch c.Op {
	case domain.OpCreate:
		verb = "created"
	case domain.OpDelete:
		verb = "deleted"
	}
	return "dev.flagops." + c.Kind + "." + verb
}

// EventID is the event id of a change, "<revision>-<seq>": the same on every
// attempt and every redelivery, so receivers can deduplicate.
func EventID(c domain.Change) string {
	return strconv.FormatInt(c.Revision, 10) + "-" + strconv.Itoa(c.Seq)
}

// NewEvent wraps a change as a CloudEvent; source is the URI reference of
// this flagops (for example "/flagops/workspaces/default").
func NewEvent(source string, c domain.Change) Event {
	return Event{
		SpecVersion: "1.0", ID: EventID(c), Source: source, Type: EventType(c), Time: c.Time,
		Subject: c.Key, DataContentType: "application/json", Data: c,
	}
}

// Sign returns "sha256=" and the hex HMAC-SHA256 of msg keyed by secret.
func Sign(secret string, msg []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(msg)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// signedMessage is what the generic signature covers: the timestamp, a dot,
// and the body, so a captured delivery cannot be replayed with a new time.
func signedMessage(ts string, body []byte) []byte {
	return append([]byte(ts+"."), body...)
}

// Request builds the POST of one event to a subscription, signed for its
// type. now is the attempt time.
//
// A generic subscription gets the event in structured mode (the whole
// CloudEvent as the JSON body). A Flux subscription gets it in binary mode:
// the attributes as ce-* headers and the change alone as an
// application/json body, because a Flux Receiver's resourceFilter reads
// the body only when its Content-Type is application/json
// (notification-controller, internal/server/receiver_resource_filter.go,
// isJSONContent).
func Request(w domain.Webhook, ev Event, deliveryID string, now time.Time) (*http.Request, error) {
	var body []byte
	var err error
	if w.Type == domain.WebhookFlux {
		body, err = json.Marshal(ev.Data)
	} else {
		body, err = json.Marshal(ev)
	}
	if err != nil {
		return nil, fmt.Errorf("encode event %s: %w", ev.ID, err)
	}
	req, err := http.NewRequest(http.MethodPost, w.URL, bytes.NewReader(body))
	if err != nil {
		// net/url's errors quote the URL, which may carry credentials.
		if ue, ok := errors.AsType[*url.Error](err); ok {
			err = ue.Err
		}
		return nil, fmt.Errorf("webhook %s: the URL does not parse: %w", w.Name, err)
	}
	if w.Type == domain.WebhookFlux {
		setBinaryHeaders(req.Header, ev)
	} else {
		req.Header.Set("Content-Type", ContentType)
	}
	req.Header.Set("User-Agent", "flagops-webhook/1")
	req.Header.Set(DeliveryHeader, deliveryID)
	ts := strconv.FormatInt(now.Unix(), 10)
	req.Header.Set(TimestampHeader, ts)
	switch w.Type {
	case domain.WebhookFlux:
		// Flux's generic-hmac receiver verifies the HMAC of the raw body
		// alone; it knows no timestamp.
		req.Header.Set(FluxSignatureHeader, Sign(w.Secret, body))
	default:
		req.Header.Set(SignatureHeader, Sign(w.Secret, signedMessage(ts, body)))
	}
	return req, nil
}

// setBinaryHeaders writes ev's attributes as CloudEvents HTTP binary-mode
// headers; datacontenttype becomes the Content-Type.
func setBinaryHeaders(h http.Header, ev Event) {
	h.Set("Content-Type", BinaryContentType)
	h.Set("ce-specversion", ev.SpecVersion)
	h.Set("ce-id", ev.ID)
	h.Set("ce-source", ev.Source)
	h.Set("ce-type", ev.Type)
	if !ev.Time.IsZero() {
		h.Set("ce-time", ev.Time.UTC().Format(time.RFC3339Nano))
	}
	if ev.Subject != "" {
		h.Set("ce-subject", ev.Subject)
	}
}

// Verify checks a generic delivery's signature and timestamp (at most
// maxAge from now), for receivers written in Go.
func Verify(secret string, header http.Header, body []byte, now time.Time, maxAge time.Duration) bool {
	ts := header.Get(TimestampHeader)
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return false
	}
	if d := now.Sub(time.Unix(sec, 0)); d > maxAge || d < -maxAge {
		return false
	}
	want := Sign(secret, signedMessage(ts, body))
	return hmac.Equal([]byte(want), []byte(header.Get(SignatureHeader)))
}
