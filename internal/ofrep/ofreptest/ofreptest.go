// Package ofreptest holds what the OFREP benchmarks and the ofrepbench load
// helper share: a benchmark environment (flags, keys, a ready handler) and a
// "ceiling" handler that does the least an OFREP server must (read and
// decode the body, write an answer), so every measurement of flagops comes
// with the bare net/http figure it should be compared to.
package ofreptest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"

	"github.com/flagops/flagops/internal/eval"
	"github.com/flagops/flagops/internal/flag"
	"github.com/flagops/flagops/internal/ofrep"
	"github.com/flagops/flagops/internal/snapshot"
)

// Key is the API key of the benchmark environment (workspace "default",
// environment "prod", project "shop").
const Key = "bench-key"

// Flags returns the benchmark flags: "tier-replicas" (a rule on the context
// attribute tier: pro → 3, else 1), "rollout-50" (a 50/50 boolean rollout
// on the targeting key) and n-2 more flags alike, for bulk runs.
func Flags(n int) []flag.Flag {
	tier := flag.Flag{Key: "tier-replicas", Type: flag.TypeNumber,
		Variations: []flag.Variation{{Key: "one", Value: json.RawMessage("1")}, {Key: "three", Value: json.RawMessage("3")}},
		Environments: map[string]flag.Targeting{"prod": {Enabled: true, OffVariation: "one",
			Rules: []flag.Rule{{Conditions: []flag.Condition{{Attribute: "tier", Operator: flag.OpEquals, Values: []any{"pro"}}},
				Serve: flag.Serve{Variation: "three"}}},
			Fallthrough: flag.Serve{Variation: "one"}}}}
	roll := flag.New("rollout-50", flag.TypeBoolean)
	roll.Environments = map[string]flag.Targeting{"prod": {Enabled: true, OffVariation: flag.VariationOff,
		Fallthrough: flag.Serve{Rollout: []flag.WeightedVariation{{Variation: flag.VariationOn, Weight: 50000}, {Variation: flag.VariationOff, Weight: 50000}}}}}
	flags := []flag.Flag{tier, roll}
	for i := 2; i < n; i++ {
		f := tier
		if i%2 == 1 {
			f = roll
		}
		f.Key = fmt.Sprintf("%s-%03d", f.Key, i)
		flags = append(flags, f)
	}
	return flags
}

// Handler returns the flagops OFREP handler serving Flags(n) with Key.
func Handler(n int) (*ofrep.Handler, *snapshot.Registry, error) {
	snap, err := eval.Compile("prod", 1, Flags(n), nil)
	if err != nil {
		return nil, nil, err
	}
	reg := snapshot.New()
	reg.Replace("default", "shop", "prod", snap)
	h, err := ofrep.New(ofrep.Options{
		Auth:      ofrep.StaticAuth{Key: {Workspace: "default", Environment: "prod", Project: "shop", KeyID: "bench"}},
		Snapshots: reg,
	})
	return h, reg, err
}

// SingleAnswer is the ceiling's single-flag answer: what flagops answers
// for tier-replicas and tier pro.
var SingleAnswer = []byte(`{"key":"tier-replicas","value":3,"reason":"TARGETING_MATCH","variant":"three"}`)

var ceilingPool = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

// Ceiling returns the bare handler: it reads the body into a pooled buffer,
// decodes it with encoding/json (as any OFREP server must) and writes
// single, or bulk for the bulk path. It authenticates and evaluates nothing.
func Ceiling(bulk []byte) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		bp := ceilingPool.Get().(*[]byte)
		defer ceilingPool.Put(bp)
		buf := bytesBuffer{b: (*bp)[:0]}
		if _, err := io.Copy(&buf, r.Body); err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		*bp = buf.b
		var req struct {
			Context map[string]any `json:"context"`
		}
		if err := json.Unmarshal(buf.b, &req); err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		w.Header()["Content-Type"] = []string{"application/json"}
		if r.URL.Path == ofrep.PathBulk {
			w.Write(bulk)
			return
		}
		w.Write(SingleAnswer)
	})
}

type bytesBuffer struct{ b []byte }

func (b *bytesBuffer) Write(p []byte) (int, error) { b.b = append(b.b, p...); return len(p), nil }

// Body is a benchmark request body for targeting key user-i.
func Body(i int, tier string) []byte {
	return fmt.Appendf(nil, `{"context":{"targetingKey":"user-%d","tier":%q}}`, i, tier)
}

// ReadFrom reads r to EOF without io.Copy's per-call 32 KiB buffer.
func (b *bytesBuffer) ReadFrom(r io.Reader) (int64, error) {
	var n int64
	for {
		if len(b.b) == cap(b.b) {
			b.b = append(b.b, 0)[:len(b.b)]
		}
		m, err := r.Read(b.b[len(b.b):cap(b.b)])
		b.b = b.b[:len(b.b)+m]
		n += int64(m)
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
}
