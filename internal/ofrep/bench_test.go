package ofrep_test

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/flagops/flagops/internal/ofrep"
	"github.com/flagops/flagops/internal/ofrep/ofreptest"
)

// Each benchmark runs flagops and the ceiling handler (decode the body,
// write a fixed answer) side by side; compare ns/op of the two.

func benchHandlers(b *testing.B, flags int, path string) map[string]http.Handler {
	h, _, err := ofreptest.Handler(flags)
	if err != nil {
		b.Fatal(err)
	}
	// The ceiling's bulk answer is flagops' own, so both write as much.
	w := httptest.NewRecorder()
	h.ServeHTTP(w, request(path, ofreptest.Body(1, "pro")))
	if w.Code != 200 {
		b.Fatalf("flagops: %d %s", w.Code, w.Body)
	}
	return map[string]http.Handler{"flagops": h, "ceiling": ofreptest.Ceiling(w.Body.Bytes())}
}

func request(path string, body []byte) *http.Request {
	r := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
	r.Header.Set("Authorization", "Bearer "+ofreptest.Key)
	r.Header.Set("Content-Type", "application/json")
	return r
}

func runBench(b *testing.B, flags int, path string) {
	bodies := make([][]byte, 1024)
	for i := range bodies {
		bodies[i] = ofreptest.Body(i, "pro")
	}
	for _, name := range []string{"ceiling", "flagops"} {
		h := benchHandlers(b, flags, path)[name]
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			rd := bytes.NewReader(nil)
			r := request(path, nil)
			r.Body = io.NopCloser(rd)
			i := 0
			for b.Loop() {
				rd.Reset(bodies[i%len(bodies)])
				i++
				w := httptest.NewRecorder()
				h.ServeHTTP(w, r)
				if w.Code != 200 {
					b.Fatalf("status %d: %s", w.Code, w.Body)
				}
			}
		})
	}
}

func BenchmarkSingleFlag(b *testing.B) { runBench(b, 2, ofrep.PathSingle+"tier-replicas") }

func BenchmarkBulk100(b *testing.B) { runBench(b, 100, ofrep.PathBulk) }
