package webhook

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/json"
	"fmt"
	"hash"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/flagops/flagops/internal/domain"
)

// fluxValidateSignature is an independent rendering of how Flux's
// notification-controller verifies a generic-hmac Receiver request, written
// from its documented algorithm: the X-Signature header is "<hash>=<hex>",
// split at '=', the hash name picks the function (sha1, sha256, sha512…),
// and the hex HMAC of the raw body keyed by the receiver token must equal
// the given value. It shares no code with Sign.
func fluxValidateSignature(sig string, payload, key []byte) error {
	parts := strings.Split(sig, "=")
	if len(parts) != 2 {
		return fmt.Errorf("invalid signature value")
	}
	var newF func() hash.Hash
	switch parts[0] {
	case "sha1":
		newF = sha1.New
	case "sha256":
		newF = sha256.New
	case "sha512":
		newF = sha512.New
	default:
		return fmt.Errorf("unsupported signature algorithm %q", parts[0])
	}
	mac := hmac.New(newF, key)
	mac.Write(payload)
	if sum := fmt.Sprintf("%x", mac.Sum(nil)); sum != parts[1] {
		return fmt.Errorf("HMACs do not match")
	}
	return nil
}

func testChange() domain.Change {
	return domain.Change{Revision: 42, Seq: 1, Time: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), Workspace: "default",
		Kind: domain.KindFact, Key: "project/shop@prod:image.tag", Op: domain.OpUpdate,
		Before: json.RawMessage(`"1.0"`), After: json.RawMessage(`"1.1"`)}
}

func TestSignatures(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	ev := NewEvent("/flagops/workspaces/default", testChange())
	tests := []struct {
		name   string
		typ    string
		verify func(t *testing.T, h http.Header, body []byte)
	}{
		{"flux generic-hmac verifies with Flux's check", domain.WebhookFlux, func(t *testing.T, h http.Header, body []byte) {
			if err := fluxValidateSignature(h.Get("X-Signature"), body, []byte("receiver-token")); err != nil {
				t.Fatalf("Flux check: %v", err)
			}
			if err := fluxValidateSignature(h.Get("X-Signature"), append(body, ' '), []byte("receiver-token")); err == nil {
				t.Fatal("Flux check accepted a modified body")
			}
			if err := fluxValidateSignature(h.Get("X-Signature"), body, []byte("other-token")); err == nil {
				t.Fatal("Flux check accepted another token")
			}
		}},
		{"generic HMAC over timestamp and body", domain.WebhookGeneric, func(t *testing.T, h http.Header, body []byte) {
			// Independently: HMAC-SHA256(secret, ts + "." + body), hex.
			m := hmac.New(sha256.New, []byte("receiver-token"))
			m.Write([]byte(h.Get(TimestampHeader) + "."))
			m.Write(body)
			if want := fmt.Sprintf("sha256=%x", m.Sum(nil)); h.Get(SignatureHeader) != want {
				t.Fatalf("signature %q, want %q", h.Get(SignatureHeader), want)
			}
			if !Verify("receiver-token", h, body, now, 5*time.Minute) {
				t.Fatal("Verify rejected a fresh delivery")
			}
			if Verify("receiver-token", h, body, now.Add(10*time.Minute), 5*time.Minute) {
				t.Fatal("Verify accepted a replayed (stale) delivery")
			}
			if Verify("receiver-token", h, append(body, ' '), now, 5*time.Minute) {
				t.Fatal("Verify accepted a modified body")
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := domain.Webhook{Name: "w", URL: "http://127.0.0.1/hook", Type: tc.typ, Secret: "receiver-token"}
			req, err := Request(w, ev, "d1", now)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(req.Body)
			tc.verify(t, req.Header, body)
		})
	}
}

func TestEventIsCloudEvent(t *testing.T) {
	b, err := json.Marshal(NewEvent("/flagops/workspaces/default", testChange()))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"specversion": "1.0", "id": "42-1", "source": "/flagops/workspaces/default",
		"type": "dev.flagops.fact.updated", "subject": "project/shop@prod:image.tag", "datacontenttype": "application/json",
		"time": "2026-01-02T03:04:05Z"}
	for k, v := range want {
		t.Run(k, func(t *testing.T) {
			if m[k] != v {
				t.Fatalf("%s = %v, want %v", k, m[k], v)
			}
		})
	}
	data, _ := m["data"].(map[string]any)
	if data["after"] != "1.1" || data["revision"] != float64(42) {
		t.Fatalf("data = %v", data)
	}
}

func TestAttrsOf(t *testing.T) {
	tests := []struct {
		kind, key string
		after     string
		want      Attrs
	}{
		{domain.KindFact, "workspace:region", "", Attrs{}},
		{domain.KindFact, "environment/prod:region", "", Attrs{Environment: "prod"}},
		{domain.KindFact, "target/eu-1:zone", "", Attrs{Target: "eu-1"}},
		{domain.KindFact, "project/shop:tier", "", Attrs{Project: "shop"}},
		{domain.KindFact, "project/shop@prod:image.tag", "", Attrs{Project: "shop", Environment: "prod"}},
		{domain.KindFact, "deployment/shop@eu-1:tier", "", Attrs{Project: "shop", Target: "eu-1"}},
		{domain.KindFact, "garbage", "", Attrs{}},
		{domain.KindEnvironment, "prod", "", Attrs{Environment: "prod"}},
		{domain.KindTarget, "eu-1", `{"name":"eu-1","environment":"prod"}`, Attrs{Target: "eu-1", Environment: "prod"}},
		{domain.KindProject, "shop", "", Attrs{Project: "shop"}},
		{"version", "shop@prod", "", Attrs{Project: "shop", Environment: "prod"}},
		{domain.KindEnvironmentSet, "all", "", Attrs{}},
		{domain.KindWebhook, "w", "", Attrs{}},
	}
	for _, tc := range tests {
		t.Run(tc.kind+" "+tc.key, func(t *testing.T) {
			c := domain.Change{Kind: tc.kind, Key: tc.key}
			if tc.after != "" {
				c.After = json.RawMessage(tc.after)
			}
			if got := AttrsOf(c); got != tc.want {
				t.Fatalf("AttrsOf = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestMatch(t *testing.T) {
	c := testChange() // fact on project/shop@prod
	tests := []struct {
		name   string
		filter domain.WebhookFilter
		want   bool
	}{
		{"empty matches all", domain.WebhookFilter{}, true},
		{"kind", domain.WebhookFilter{Kinds: []string{"fact"}}, true},
		{"other kind", domain.WebhookFilter{Kinds: []string{"project"}}, false},
		{"project and environment", domain.WebhookFilter{Projects: []string{"shop"}, Environments: []string{"prod", "dev"}}, true},
		{"other environment", domain.WebhookFilter{Environments: []string{"dev"}}, false},
		{"target filter on a change without target", domain.WebhookFilter{Targets: []string{"eu-1"}}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Match(tc.filter, c); got != tc.want {
				t.Fatalf("Match = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestBackoffFullJitter(t *testing.T) {
	b := Backoff{Base: time.Second, Max: 30 * time.Second, Rand: func() float64 { return 0.999999 }}
	for attempt, ceil := range map[int]time.Duration{1: time.Second, 2: 2 * time.Second, 3: 4 * time.Second, 6: 30 * time.Second, 100: 30 * time.Second} {
		t.Run(fmt.Sprint(attempt), func(t *testing.T) {
			if d := b.Delay(attempt); d > ceil || d < ceil*99/100 {
				t.Fatalf("Delay(%d) = %v, want just under %v", attempt, d, ceil)
			}
			b0 := b
			b0.Rand = func() float64 { return 0 }
			if d := b0.Delay(attempt); d != 0 {
				t.Fatalf("full jitter: Delay(%d) with rand 0 = %v, want 0", attempt, d)
			}
		})
	}
}
