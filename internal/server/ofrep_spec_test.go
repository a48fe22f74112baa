package server_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"

	flagopsv1 "github.com/flagops/flagops/gen/flagops/v1"
	"github.com/flagops/flagops/internal/ofrep"
	"github.com/flagops/flagops/internal/server"
	"github.com/flagops/flagops/internal/server/servertest"
)

// ofrepCall posts body to an OFREP path of a running server with the
// development key and returns the status, the headers and the decoded body.
func ofrepCall(t *testing.T, base, path, body string, hdr ...string) (int, http.Header, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, base+path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+devKey)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := servertest.HTTP1Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &out); err != nil {
			t.Fatalf("%s: body is not JSON: %q", path, raw)
		}
	}
	return resp.StatusCode, resp.Header, out
}

// TestOFREPSpecOnRunningServer drives a running server through every status
// and error code the OFREP specification defines for evaluation, and bulk
// evaluation with ETag / If-None-Match.
func TestOFREPSpecOnRunningServer(t *testing.T) {
	backends(t, func(t *testing.T, cfg server.Config) {
		cfg.OFREPRateLimit = ofrep.RateLimit{PerSecond: 0.001, Burst: 30}
		s, c := flagServer(t, cfg)
		setTier(t, c, "pro")
		var f flagopsv1.Flag
		if err := pjUnmarshal(`{"project":"shop","key":"split","type":"boolean",
			"variations":[{"key":"on","value":true},{"key":"off","value":false}],
			"environments":{"prod":{"enabled":true,"fallthrough":{"rollout":[{"variation":"on","weight":50000},{"variation":"off","weight":50000}]}}}}`, &f); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Flags.PutFlag(context.Background(), connect.NewRequest(&flagopsv1.PutFlagRequest{Flag: &f})); err != nil {
			t.Fatal(err)
		}
		single := ofrep.PathSingle
		ctxBody := `{"context":{"targetingKey":"u1","target":"eu-1"}}`
		for _, tc := range []struct {
			name, path, body string
			status           int
			errorCode        string
			value            any
		}{
			{"evaluated with the deployment's facts", single + "replicas", ctxBody, 200, "", 3.0},
			{"malformed JSON", single + "replicas", `{"context":`, 400, "PARSE_ERROR", nil},
			{"context is not an object", single + "replicas", `{"context":[1,2]}`, 400, "INVALID_CONTEXT", nil},
			{"unknown target", single + "replicas", `{"context":{"targetingKey":"u1","target":"nowhere"}}`, 400, "INVALID_CONTEXT", nil},
			{"rollout without a targeting key", single + "split", `{"context":{"target":"eu-1"}}`, 400, "TARGETING_KEY_MISSING", nil},
			{"unknown flag", single + "nope", ctxBody, 404, "FLAG_NOT_FOUND", nil},
		} {
			t.Run(tc.name, func(t *testing.T) {
				status, _, body := ofrepCall(t, s.URL(), tc.path, tc.body)
				if status != tc.status {
					t.Fatalf("status = %d (%v), want %d", status, body, tc.status)
				}
				if got, _ := body["errorCode"].(string); got != tc.errorCode {
					t.Fatalf("errorCode = %q (%v), want %q", got, body, tc.errorCode)
				}
				if tc.errorCode == "" && body["value"] != tc.value {
					t.Fatalf("value = %v, want %v", body["value"], tc.value)
				}
				if tc.errorCode != "" && body["errorDetails"] == "" {
					t.Fatalf("error without errorDetails: %v", body)
				}
			})
		}

		t.Run("bulk ETag and 304", func(t *testing.T) {
			status, hdr, body := ofrepCall(t, s.URL(), ofrep.PathBulk, ctxBody)
			etag := hdr.Get("ETag")
			if status != 200 || etag == "" || len(body["flags"].([]any)) != 2 {
				t.Fatalf("bulk = %d etag %q %v", status, etag, body)
			}
			if status, _, _ := ofrepCall(t, s.URL(), ofrep.PathBulk, ctxBody, "If-None-Match", etag); status != http.StatusNotModified {
				t.Fatalf("same ETag: status %d, want 304", status)
			}
			setTier(t, c, "enterprise") // the facts moved: the ETag must too
			status, hdr, _ = ofrepCall(t, s.URL(), ofrep.PathBulk, ctxBody, "If-None-Match", etag)
			if status != 200 || hdr.Get("ETag") == etag {
				t.Fatalf("after a fact change: status %d etag %q (was %q), want 200 and a new ETag", status, hdr.Get("ETag"), etag)
			}
		})

		t.Run("429 with Retry-After once the key's budget is spent", func(t *testing.T) {
			var last int
			var hdr http.Header
			for range 40 {
				if last, hdr, _ = ofrepCall(t, s.URL(), single+"replicas", ctxBody); last == http.StatusTooManyRequests {
					break
				}
			}
			if last != http.StatusTooManyRequests {
				t.Fatalf("40 requests over a budget of 30: last status %d, want 429", last)
			}
			if _, err := time.Parse(time.RFC3339, hdr.Get("Retry-After")); err != nil {
				t.Fatalf("Retry-After = %q: %v", hdr.Get("Retry-After"), err)
			}
		})
	})
}
