package ofrep

import (
	"net/http"
	"testing"

	"github.com/flagops/flagops/internal/flag"
)

func TestBulk(t *testing.T) {
	fx := newFixture(t, nil)
	w := fx.do(http.MethodPost, PathBulk, `{"context":{"targetingKey":"u1","tier":"pro"}}`, bearerKey("k-shop")...)
	if w.Code != 200 {
		t.Fatalf("status %d: %s", w.Code, w.Body)
	}
	body := decodeJSON(t, w)
	flags := body["flags"].([]any)
	if len(flags) != 4 {
		t.Fatalf("%d flags: %s", len(flags), w.Body)
	}
	byKey := map[string]map[string]any{}
	for _, f := range flags {
		m := f.(map[string]any)
		byKey[m["key"].(string)] = m
	}
	if v := byKey["tier-replicas"]["value"]; v != 3.0 {
		t.Fatalf("tier-replicas = %v", v)
	}
	if c := byKey["by-org"]["errorCode"]; c != "INVALID_CONTEXT" {
		t.Fatalf("by-org without org: %v, want an evaluationFailure entry", byKey["by-org"])
	}
	streams := body["eventStreams"].([]any)
	es := streams[0].(map[string]any)
	if es["type"] != "sse" || es["url"] != "http://example.com/ofrep/v1/events?project=shop" || es["inactivityDelaySec"] != 120.0 {
		t.Fatalf("eventStreams %v", streams)
	}
	if w.Header().Get("ETag") == "" {
		t.Fatal("no ETag")
	}
}

func TestBulkFailures(t *testing.T) {
	fx := newFixture(t, nil)
	tests := []struct {
		name, body string
		hdr        []string
		status     int
		code       string
	}{
		{"malformed", `{"context":{`, bearerKey("k-shop"), 400, "PARSE_ERROR"},
		{"no project", `{"context":{}}`, bearerKey("k-prod"), 400, "INVALID_CONTEXT"},
		{"no key", `{}`, nil, 401, ""},
		{"denied", `{}`, bearerKey("k-denied"), 403, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := fx.do(http.MethodPost, PathBulk, tc.body, tc.hdr...)
			if w.Code != tc.status {
				t.Fatalf("status %d, want %d", w.Code, tc.status)
			}
			got := decodeJSON(t, w)
			if tc.code == "" {
				if got != nil {
					t.Fatalf("body %s, want none", w.Body)
				}
				return
			}
			if _, hasKey := got["key"]; hasKey || got["errorCode"] != tc.code || got["errorDetails"] == nil {
				t.Fatalf("body %s, want bulkEvaluationFailure %s", w.Body, tc.code)
			}
		})
	}
}

func TestBulkETag(t *testing.T) {
	const ctx = `{"context":{"targetingKey":"u1","target":"eu","tier":"pro","n":[1,{"b":true,"a":null}]}}`
	fx := newFixture(t, nil)
	first := fx.do(http.MethodPost, PathBulk, ctx, bearerKey("k-shop")...)
	etag := first.Header().Get("ETag")
	if first.Code != 200 || etag == "" {
		t.Fatalf("first: %d, ETag %q", first.Code, etag)
	}

	t.Run("same request is 304 without evaluating", func(t *testing.T) {
		before := fx.evals
		for _, inm := range []string{etag, `"x", ` + etag, "W/" + etag, "*"} {
			w := fx.do(http.MethodPost, PathBulk, ctx, append(bearerKey("k-shop"), "If-None-Match", inm)...)
			if w.Code != http.StatusNotModified || w.Body.Len() != 0 {
				t.Fatalf("If-None-Match %s: %d %s", inm, w.Code, w.Body)
			}
			if w.Header().Get("ETag") != etag {
				t.Fatalf("304 ETag %q", w.Header().Get("ETag"))
			}
		}
		if fx.evals != before {
			t.Fatalf("%d evaluations for 304 answers", fx.evals-before)
		}
	})
	t.Run("attribute order does not matter", func(t *testing.T) {
		w := fx.do(http.MethodPost, PathBulk, `{"context":{"n":[1,{"a":null,"b":true}],"tier":"pro","target":"eu","targetingKey":"u1"}}`,
			append(bearerKey("k-shop"), "If-None-Match", etag)...)
		if w.Code != http.StatusNotModified {
			t.Fatalf("status %d", w.Code)
		}
	})

	changes := []struct {
		name   string
		change func()
		body   string
	}{
		{"context", func() {}, `{"context":{"targetingKey":"u2","target":"eu","tier":"pro","n":[1,{"b":true,"a":null}]}}`},
		{"facts", func() { fx.facts.set("eu", map[string]any{"tier": "free"}, 12); fx.cache.Invalidate("w", "", "", 12) }, ctx},
		{"flags", func() {
			fx.reg.Replace("w", "shop", "prod", testSnapshot(t, 101, flag.New("new-flag", flag.TypeBoolean)))
		}, ctx},
	}
	for _, c := range changes {
		t.Run("a change of "+c.name+" changes the ETag", func(t *testing.T) {
			// The ETag of the original request as things are now.
			etag := fx.do(http.MethodPost, PathBulk, ctx, bearerKey("k-shop")...).Header().Get("ETag")
			c.change()
			before := fx.evals
			w := fx.do(http.MethodPost, PathBulk, c.body, append(bearerKey("k-shop"), "If-None-Match", etag)...)
			if w.Code != 200 || fx.evals != before+1 {
				t.Fatalf("status %d, %d evaluations", w.Code, fx.evals-before)
			}
			if got := w.Header().Get("ETag"); got == etag || got == "" {
				t.Fatalf("ETag %q unchanged", got)
			}
		})
	}
}
