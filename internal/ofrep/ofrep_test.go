package ofrep

import (
	"errors"
	"net/http"
	"reflect"
	"testing"
	"time"

	"github.com/flagops/flagops/internal/errs"
)

func TestSingle(t *testing.T) {
	tests := []struct {
		name    string
		key     string
		body    string
		hdr     []string
		brkFact bool
		status  int
		want    map[string]any // nil: no body
	}{
		{"rule matches caller attribute", "tier-replicas", `{"context":{"targetingKey":"u1","project":"shop","tier":"pro"}}`, bearerKey("k-prod"), false,
			200, map[string]any{"key": "tier-replicas", "value": 3.0, "reason": "TARGETING_MATCH", "variant": "three"}},
		{"fallthrough", "tier-replicas", `{"context":{"project":"shop"}}`, bearerKey("k-prod"), false,
			200, map[string]any{"key": "tier-replicas", "value": 1.0, "reason": "DEFAULT", "variant": "one"}},
		{"facts of the target", "tier-replicas", `{"context":{"project":"shop","target":"eu"}}`, bearerKey("k-prod"), false,
			200, map[string]any{"key": "tier-replicas", "value": 3.0, "reason": "TARGETING_MATCH", "variant": "three"}},
		{"caller attribute wins over facts", "tier-replicas", `{"context":{"project":"shop","target":"eu","tier":"free"}}`, bearerKey("k-prod"), false,
			200, map[string]any{"key": "tier-replicas", "value": 1.0, "reason": "DEFAULT", "variant": "one"}},
		{"project from the key, X-API-Key", "tier-replicas", `{"context":{"tier":"pro"}}`, []string{"X-API-Key", "k-shop"}, false,
			200, map[string]any{"key": "tier-replicas", "value": 3.0, "reason": "TARGETING_MATCH", "variant": "three"}},
		{"no body", "tier-replicas", ``, bearerKey("k-shop"), false,
			200, map[string]any{"key": "tier-replicas", "value": 1.0, "reason": "DEFAULT", "variant": "one"}},
		{"disabled without value", "no-value", `{"context":{}}`, bearerKey("k-shop"), false,
			200, map[string]any{"key": "no-value", "reason": "DISABLED"}},
		{"malformed JSON", "tier-replicas", `{"context":`, bearerKey("k-shop"), false,
			400, map[string]any{"key": "tier-replicas", "errorCode": "PARSE_ERROR"}},
		{"context not an object", "tier-replicas", `{"context":[1]}`, bearerKey("k-shop"), false,
			400, map[string]any{"key": "tier-replicas", "errorCode": "INVALID_CONTEXT"}},
		{"targetingKey not a string", "tier-replicas", `{"context":{"targetingKey":5}}`, bearerKey("k-shop"), false,
			400, map[string]any{"key": "tier-replicas", "errorCode": "INVALID_CONTEXT"}},
		{"no project", "tier-replicas", `{"context":{}}`, bearerKey("k-prod"), false,
			400, map[string]any{"key": "tier-replicas", "errorCode": "INVALID_CONTEXT"}},
		{"unknown target", "tier-replicas", `{"context":{"project":"shop","target":"mars"}}`, bearerKey("k-prod"), false,
			400, map[string]any{"key": "tier-replicas", "errorCode": "INVALID_CONTEXT"}},
		{"target of another environment", "tier-replicas", `{"context":{"project":"shop","target":"stage-1"}}`, bearerKey("k-prod"), false,
			400, map[string]any{"key": "tier-replicas", "errorCode": "INVALID_CONTEXT"}},
		{"rollout needs a targeting key", "rollout-50", `{"context":{}}`, bearerKey("k-shop"), false,
			400, map[string]any{"key": "rollout-50", "errorCode": "TARGETING_KEY_MISSING"}},
		{"bucketBy of the wrong type", "by-org", `{"context":{"org":true}}`, bearerKey("k-shop"), false,
			400, map[string]any{"key": "by-org", "errorCode": "INVALID_CONTEXT"}},
		{"flag not found", "nope", `{"context":{}}`, bearerKey("k-shop"), false,
			404, map[string]any{"key": "nope", "errorCode": "FLAG_NOT_FOUND"}},
		{"project without snapshot", "tier-replicas", `{"context":{"project":"other"}}`, bearerKey("k-prod"), false,
			404, map[string]any{"key": "tier-replicas", "errorCode": "FLAG_NOT_FOUND"}},
		{"no key", "tier-replicas", `{}`, nil, false, 401, nil},
		{"unknown key", "tier-replicas", `{}`, bearerKey("nope"), false, 401, nil},
		{"not a bearer", "tier-replicas", `{}`, []string{"Authorization", "Basic k-shop"}, false, 401, nil},
		{"denied key", "tier-replicas", `{}`, bearerKey("k-denied"), false, 403, nil},
		{"project the key may not evaluate", "tier-replicas", `{"context":{"project":"other"}}`, bearerKey("k-shop"), false, 403, nil},
		{"facts unavailable", "tier-replicas", `{"context":{"target":"eu"}}`, bearerKey("k-shop"), true,
			503, map[string]any{}},
		{"unknown body field", "tier-replicas", `{"context":{},"contxt":{"a":1}}`, bearerKey("k-shop"), false,
			400, map[string]any{"key": "tier-replicas", "errorCode": "PARSE_ERROR"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fx := newFixture(t, nil)
			if tc.brkFact {
				fx.facts.err = errs.New(errs.Unavailable, "database down")
			}
			w := fx.do(http.MethodPost, PathSingle+tc.key, tc.body, tc.hdr...)
			if w.Code != tc.status {
				t.Fatalf("status %d, want %d: %s", w.Code, tc.status, w.Body)
			}
			got := decodeJSON(t, w)
			if tc.want == nil {
				if got != nil {
					t.Fatalf("body %s, want none", w.Body)
				}
				return
			}
			if _, ok := got["errorCode"]; ok || tc.status >= 500 {
				// Details are prose: only check they are there.
				if got["errorDetails"] == "" || got["errorDetails"] == nil {
					t.Fatalf("no errorDetails: %s", w.Body)
				}
				delete(got, "errorDetails")
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("body %s, want %v", w.Body, tc.want)
			}
			if ct := w.Header().Get("Content-Type"); ct != "application/json" {
				t.Fatalf("Content-Type %q", ct)
			}
		})
	}
}

func TestRouting(t *testing.T) {
	fx := newFixture(t, nil)
	tests := []struct {
		method, path string
		status       int
	}{
		{http.MethodGet, PathSingle + "tier-replicas", 405},
		{http.MethodGet, PathBulk, 405},
		{http.MethodPost, PathEvents, 405},
		{http.MethodPost, "/ofrep/v1/other", 404},
		{http.MethodPost, PathSingle, 404},
	}
	for _, tc := range tests {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			if w := fx.do(tc.method, tc.path, `{}`, bearerKey("k-shop")...); w.Code != tc.status {
				t.Fatalf("status %d, want %d", w.Code, tc.status)
			}
		})
	}
}

func TestRateLimit(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	fx := newFixture(t, func(o *Options) {
		o.RateLimit = RateLimit{PerSecond: 2, Burst: 2}
		o.Now = func() time.Time { return now }
	})
	send := func(key string) *http.Response {
		return fx.do(http.MethodPost, PathSingle+"tier-replicas", `{}`, bearerKey(key)...).Result()
	}
	for i := range 2 {
		if r := send("k-shop"); r.StatusCode != 200 {
			t.Fatalf("request %d within the burst: %d", i, r.StatusCode)
		}
	}
	r := send("k-shop")
	if r.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("over the burst: %d, want 429", r.StatusCode)
	}
	at, err := time.Parse(time.RFC3339, r.Header.Get("Retry-After"))
	if err != nil {
		t.Fatalf("Retry-After %q: %v", r.Header.Get("Retry-After"), err)
	}
	if !at.After(now) || at.Sub(now) > 2*time.Second {
		t.Fatalf("Retry-After %v, now %v", at, now)
	}
	if r := fx.do(http.MethodPost, PathBulk, `{}`, bearerKey("k-shop")...); r.Code != 429 {
		t.Fatalf("bulk over the limit: %d", r.Code)
	}
	if r := send("k-prod"); r.StatusCode == 429 {
		t.Fatal("another key was limited")
	}
	now = now.Add(time.Second)
	if r := send("k-shop"); r.StatusCode != 200 {
		t.Fatalf("after refill: %d", r.StatusCode)
	}
}

func TestLimitOffByDefault(t *testing.T) {
	fx := newFixture(t, nil)
	for range 1000 {
		if w := fx.do(http.MethodPost, PathSingle+"tier-replicas", `{}`, bearerKey("k-shop")...); w.Code != 200 {
			t.Fatalf("status %d", w.Code)
		}
	}
}

func TestFactChangeReachesEvaluation(t *testing.T) {
	fx := newFixture(t, nil)
	eval := func() any {
		w := fx.do(http.MethodPost, PathSingle+"tier-replicas", `{"context":{"target":"us"}}`, bearerKey("k-shop")...)
		return decodeJSON(t, w)["value"]
	}
	if v := eval(); v != 1.0 {
		t.Fatalf("before: %v", v)
	}
	fx.facts.set("us", map[string]any{"tier": "pro"}, 11)
	if v := eval(); v != 1.0 {
		t.Fatalf("cached before invalidation: %v", v)
	}
	fx.cache.Invalidate("w", "shop", "us", 11)
	if v := eval(); v != 3.0 {
		t.Fatalf("after invalidation: %v, want 3", v)
	}
}

func TestNewNeedsAuthAndSnapshots(t *testing.T) {
	if _, err := New(Options{}); !errors.Is(err, errs.Invalid) {
		t.Fatalf("err = %v, want Invalid", err)
	}
}
