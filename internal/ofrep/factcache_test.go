package ofrep

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/flagops/flagops/internal/eval"
)

func TestFactCache(t *testing.T) {
	src := &fakeFacts{facts: map[string]map[string]any{"eu": {"a": 1.0}, "us": {"a": 2.0}}, rev: 5}
	var notified []string
	c := NewFactCache(src, func(ws, p, tg string) { notified = append(notified, ws+"/"+p+"/"+tg) })
	ctx := context.Background()
	get := func(target string) int64 {
		f, err := c.Resolve(ctx, "w", "shop", target)
		if err != nil {
			t.Fatal(err)
		}
		return f.Revision
	}
	get("eu")
	get("us")
	get("eu")
	if src.calls != 2 || c.Len() != 2 {
		t.Fatalf("calls %d, len %d: want 2 and 2", src.calls, c.Len())
	}
	tests := []struct {
		name                 string
		project, target      string
		rev                  int64
		wantLen, wantRefresh int
	}{
		{"older revision keeps entries", "shop", "eu", 5, 2, 0},
		{"one target", "shop", "eu", 6, 1, 1},
		{"other project", "web", "", 0, 2, 0},
		{"workspace wide", "", "", 0, 0, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			get("eu")
			get("us")
			calls := src.calls
			c.Invalidate("w", tc.project, tc.target, tc.rev)
			if c.Len() != tc.wantLen {
				t.Fatalf("len %d, want %d", c.Len(), tc.wantLen)
			}
			get("eu")
			get("us")
			if src.calls-calls != tc.wantRefresh {
				t.Fatalf("%d refreshes, want %d", src.calls-calls, tc.wantRefresh)
			}
		})
	}
	if len(notified) != len(tests) {
		t.Fatalf("notified %v", notified)
	}
	if _, err := c.Resolve(ctx, "w", "shop", "mars"); err == nil {
		t.Fatal("unknown deployment resolved")
	}
	n := testing.AllocsPerRun(100, func() { get("eu") })
	if n != 0 {
		t.Fatalf("a cache hit allocates %v times", n)
	}
}

func TestAppendString(t *testing.T) {
	for _, s := range []string{"", "plain", `q"uote\`, "ctl\n\t\x01", "ünïcode ✓", "bad\xffutf8", "</script>"} {
		t.Run(s, func(t *testing.T) {
			b := appendString(nil, s)
			var got string
			if err := json.Unmarshal(b, &got); err != nil {
				t.Fatalf("%s: %v", b, err)
			}
			want := s
			if s == "bad\xffutf8" {
				want = "bad\ufffdutf8"
			}
			if got != want {
				t.Fatalf("round trip %q, want %q", got, want)
			}
		})
	}
}

func TestAppendResultIsOFREP(t *testing.T) {
	r := eval.Result{FlagKey: "f", JSON: json.RawMessage(`{"a":[1,2]}`), Reason: eval.ReasonDefault, Variant: "v",
		Metadata: map[string]any{eval.MetaPrerequisiteFailed: "p", "n": 2.5, "b": true}}
	var got map[string]any
	if err := json.Unmarshal(appendResult(nil, &r), &got); err != nil {
		t.Fatal(err)
	}
	want := `{"key":"f","value":{"a":[1,2]},"reason":"DEFAULT","variant":"v","metadata":{"b":true,"n":2.5,"prerequisiteFailed":"p"}}`
	if string(appendResult(nil, &r)) != want {
		t.Fatalf("got  %s\nwant %s", appendResult(nil, &r), want)
	}
}
