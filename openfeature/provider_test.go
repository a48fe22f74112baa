package openfeature

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"sync"
	"testing"
	"time"

	of "github.com/open-feature/go-sdk/openfeature"

	"github.com/flagops/flagops/internal/eval"
	"github.com/flagops/flagops/internal/flag"
	"github.com/flagops/flagops/internal/ofrep"
	"github.com/flagops/flagops/internal/snapshot"
)

const testFlags = `[
 {"key": "tier-replicas", "type": "number",
  "variations": [{"key": "one", "value": 1}, {"key": "three", "value": 3}],
  "environments": {"prod": {"enabled": true, "offVariation": "one",
    "rules": [{"conditions": [{"attribute": "tier", "operator": "equals", "values": ["pro"]}], "variation": "three"}],
    "fallthrough": {"variation": "one"}}}},
 {"key": "ratio", "type": "number",
  "variations": [{"key": "low", "value": 0.25}, {"key": "high", "value": 0.75}],
  "environments": {"prod": {"enabled": true, "fallthrough": {"variation": "low"}}}},
 {"key": "rollout-50", "type": "boolean",
  "environments": {"prod": {"enabled": true,
    "fallthrough": {"rollout": [{"variation": "on", "weight": 50000}, {"variation": "off", "weight": 50000}]}}}},
 {"key": "color", "type": "string",
  "variations": [{"key": "red", "value": "red"}, {"key": "blue", "value": "blue"}],
  "environments": {"prod": {"enabled": true,
    "rules": [{"conditions": [{"attribute": "environment", "operator": "equals", "values": ["prod"]}], "variation": "blue"}],
    "fallthrough": {"variation": "red"}}}},
 {"key": "limits", "type": "object",
  "variations": [{"key": "small", "value": {"cpu": 1, "tags": ["a"]}}, {"key": "big", "value": {"cpu": 8}}],
  "environments": {"prod": {"enabled": true, "fallthrough": {"variation": "small"}}}},
 {"key": "dark", "type": "boolean", "environments": {"prod": {"enabled": false}}}
]`

func parseFlags(t testing.TB, doc string) []flag.Flag {
	t.Helper()
	var flags []flag.Flag
	if err := json.Unmarshal([]byte(doc), &flags); err != nil {
		t.Fatal(err)
	}
	for i := range flags {
		flags[i].Default()
	}
	return flags
}

// fakeSource is a SnapshotSource whose flags and revision tests set; it
// can be made to fail.
type fakeSource struct {
	mu      sync.Mutex
	flags   []flag.Flag
	rev     int64
	failing error
	subs    []chan int64
}

func (f *fakeSource) Load(context.Context) ([]flag.Flag, []flag.Segment, int64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failing != nil {
		return nil, nil, 0, f.failing
	}
	return f.flags, nil, f.rev, nil
}

func (f *fakeSource) Changes(ctx context.Context, from int64) (<-chan int64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failing != nil {
		return nil, f.failing
	}
	ch := make(chan int64, 16)
	f.subs = append(f.subs, ch)
	if f.rev > from { // catch up, as a watch from a revision does
		ch <- f.rev
	}
	go func() { <-ctx.Done(); f.mu.Lock(); defer f.mu.Unlock(); f.closeLocked(ch) }()
	return ch, nil
}

func (f *fakeSource) closeLocked(ch chan int64) {
	for i, c := range f.subs {
		if c == ch {
			close(c)
			f.subs = append(f.subs[:i], f.subs[i+1:]...)
			return
		}
	}
}

// set publishes new flags at rev.
func (f *fakeSource) set(flags []flag.Flag, rev int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.flags, f.rev = flags, rev
	for _, c := range f.subs {
		c <- rev
	}
}

// breakStream makes the source fail and ends open streams.
func (f *fakeSource) breakStream(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failing = err
	for _, c := range f.subs {
		close(c)
	}
	f.subs = nil
}

func (f *fakeSource) heal() {
	f.mu.Lock()
	f.failing = nil
	f.mu.Unlock()
}

// ofrepServer serves flags over OFREP on 127.0.0.1 for key "k".
func ofrepServer(t *testing.T, flags []flag.Flag) (*httptest.Server, *snapshot.Registry) {
	t.Helper()
	s, err := eval.Compile("prod", 1, flags, nil)
	if err != nil {
		t.Fatal(err)
	}
	reg := snapshot.New()
	reg.Replace("w", "shop", "prod", s)
	h, err := ofrep.New(ofrep.Options{
		Auth:      ofrep.StaticAuth{"k": {Workspace: "w", Environment: "prod", Project: "shop"}},
		Snapshots: reg,
	})
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &httptest.Server{Listener: l, Config: &http.Server{Handler: h}}
	srv.Start()
	t.Cleanup(srv.Close)
	return srv, reg
}

// clients sets up both modes over the same flags and returns a client of each.
func clients(t *testing.T, domain string) (remote, local *of.Client, src *fakeSource) {
	t.Helper()
	flags := parseFlags(t, testFlags)
	srv, _ := ofrepServer(t, flags)
	src = &fakeSource{flags: flags, rev: 1}
	rp := NewRemote(srv.URL, RemoteOptions{APIKey: "k"})
	lp := NewInProcess(src, InProcessOptions{Environment: "prod", Project: "shop", MinBackoff: 5 * time.Millisecond})
	if err := of.SetNamedProviderAndWait(domain+"-remote", rp); err != nil {
		t.Fatal(err)
	}
	if err := of.SetNamedProviderAndWait(domain+"-local", lp); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rp.Shutdown(); lp.Shutdown() })
	return of.NewClient(domain + "-remote"), of.NewClient(domain + "-local"), src
}

// detail is what both modes must agree on.
type detail struct {
	Value     any
	Variant   string
	Reason    of.Reason
	ErrorCode of.ErrorCode
}

func TestModesAgree(t *testing.T) {
	remote, local, _ := clients(t, "agree")
	ctx := context.Background()
	pro := of.NewEvaluationContext("user-1", map[string]any{"tier": "pro"})
	anon := of.NewTargetlessEvaluationContext(map[string]any{"tier": "free"})
	tests := []struct {
		name string
		eval func(c *of.Client) detail
		want detail
	}{
		{"int rule", func(c *of.Client) detail {
			d, _ := c.IntValueDetails(ctx, "tier-replicas", 0, pro)
			return detail{d.Value, d.Variant, d.Reason, d.ErrorCode}
		}, detail{int64(3), "three", of.TargetingMatchReason, ""}},
		{"int fallthrough", func(c *of.Client) detail {
			d, _ := c.IntValueDetails(ctx, "tier-replicas", 0, anon)
			return detail{d.Value, d.Variant, d.Reason, d.ErrorCode}
		}, detail{int64(1), "one", of.DefaultReason, ""}},
		{"float", func(c *of.Client) detail {
			d, _ := c.FloatValueDetails(ctx, "ratio", 9, pro)
			return detail{d.Value, d.Variant, d.Reason, d.ErrorCode}
		}, detail{0.25, "low", of.StaticReason, ""}},
		{"int of a fraction is a type mismatch", func(c *of.Client) detail {
			d, _ := c.IntValueDetails(ctx, "ratio", 9, pro)
			return detail{d.Value, d.Variant, d.Reason, d.ErrorCode}
		}, detail{int64(9), "", of.ErrorReason, of.TypeMismatchCode}},
		{"boolean split", func(c *of.Client) detail {
			d, _ := c.BooleanValueDetails(ctx, "rollout-50", false, pro)
			return detail{d.Value, d.Variant, d.Reason, d.ErrorCode}
		}, detail{nil, "", of.SplitReason, ""}}, // value checked for agreement only
		{"built-in environment attribute", func(c *of.Client) detail {
			d, _ := c.StringValueDetails(ctx, "color", "none", anon)
			return detail{d.Value, d.Variant, d.Reason, d.ErrorCode}
		}, detail{"blue", "blue", of.TargetingMatchReason, ""}},
		{"object", func(c *of.Client) detail {
			d, _ := c.ObjectValueDetails(ctx, "limits", nil, pro)
			return detail{d.Value, d.Variant, d.Reason, d.ErrorCode}
		}, detail{map[string]any{"cpu": 1.0, "tags": []any{"a"}}, "small", of.StaticReason, ""}},
		{"disabled", func(c *of.Client) detail {
			d, _ := c.BooleanValueDetails(ctx, "dark", true, pro)
			return detail{d.Value, d.Variant, d.Reason, d.ErrorCode}
		}, detail{false, "off", of.DisabledReason, ""}},
		{"wrong type", func(c *of.Client) detail {
			d, _ := c.BooleanValueDetails(ctx, "color", true, pro)
			return detail{d.Value, d.Variant, d.Reason, d.ErrorCode}
		}, detail{true, "", of.ErrorReason, of.TypeMismatchCode}},
		{"targeting key missing", func(c *of.Client) detail {
			d, _ := c.BooleanValueDetails(ctx, "rollout-50", true, anon)
			return detail{d.Value, d.Variant, d.Reason, d.ErrorCode}
		}, detail{true, "", of.ErrorReason, of.TargetingKeyMissingCode}},
		{"not found", func(c *of.Client) detail {
			d, _ := c.StringValueDetails(ctx, "nope", "dflt", pro)
			return detail{d.Value, d.Variant, d.Reason, d.ErrorCode}
		}, detail{"dflt", "", of.ErrorReason, of.FlagNotFoundCode}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, l := tc.eval(remote), tc.eval(local)
			if !reflect.DeepEqual(r, l) {
				t.Fatalf("remote %+v, in-process %+v", r, l)
			}
			if tc.want.Value == nil {
				r.Value, r.Variant = nil, ""
			}
			if !reflect.DeepEqual(r, tc.want) {
				t.Fatalf("got %+v, want %+v", r, tc.want)
			}
		})
	}
}

func TestRemoteErrors(t *testing.T) {
	flags := parseFlags(t, testFlags)
	srv, _ := ofrepServer(t, flags)
	ctx := context.Background()
	tests := []struct {
		name string
		url  string
		key  string
		want of.ErrorCode
	}{
		{"unknown key", srv.URL, "nope", of.GeneralCode},
		{"server down", "http://127.0.0.1:1", "k", of.GeneralCode},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := NewRemote(tc.url, RemoteOptions{APIKey: tc.key})
			d := p.BooleanEvaluation(ctx, "dark", true, of.FlattenedContext{"targetingKey": "u"})
			if d.ResolutionDetail().ErrorCode != tc.want || d.Value != true {
				t.Fatalf("got %+v", d)
			}
		})
	}
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		h    string
		want time.Time
	}{
		{"2026-01-01T00:00:05Z", now.Add(5 * time.Second)},
		{"Thu, 01 Jan 2026 00:00:07 GMT", now.Add(7 * time.Second)},
		{"3", now.Add(3 * time.Second)},
		{"junk", now.Add(time.Second)},
	}
	for _, tc := range tests {
		t.Run(tc.h, func(t *testing.T) {
			if got := retryAfter(tc.h, now); !got.Equal(tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestInProcessFollowsChanges(t *testing.T) {
	_, local, src := clients(t, "follow")
	ctx := context.Background()
	pro := of.NewEvaluationContext("user-1", map[string]any{"tier": "pro"})
	changed := make(chan time.Time, 4)
	cb := func(of.EventDetails) { changed <- time.Now() }
	local.AddHandler(of.ProviderConfigChange, &cb)

	// Flip the rule: pro now gets one.
	flags := parseFlags(t, testFlags)
	flags[0].Environments["prod"].Rules[0].Variation = "one"
	start := time.Now()
	src.set(flags, 2)
	select {
	case at := <-changed:
		t.Logf("PROVIDER_CONFIGURATION_CHANGED %v after the source's change", at.Sub(start))
	case <-time.After(2 * time.Second):
		t.Fatal("no configuration change event")
	}
	if v, _ := local.IntValue(ctx, "tier-replicas", 0, pro); v != 1 {
		t.Fatalf("after change: %d, want 1", v)
	}

	t.Run("keeps the last good snapshot while the source fails", func(t *testing.T) {
		src.breakStream(errors.New("watch broken"))
		time.Sleep(30 * time.Millisecond)
		if v, _ := local.IntValue(ctx, "tier-replicas", 0, pro); v != 1 {
			t.Fatalf("while failing: %d, want 1", v)
		}
		flags := parseFlags(t, testFlags)
		src.mu.Lock()
		src.flags, src.rev = flags, 3
		src.mu.Unlock()
		src.heal()
		deadline := time.Now().Add(2 * time.Second)
		for {
			if v, _ := local.IntValue(ctx, "tier-replicas", 0, pro); v == 3 {
				return // reconnected and reloaded
			}
			if time.Now().After(deadline) {
				t.Fatal("did not recover after the source healed")
			}
			time.Sleep(5 * time.Millisecond)
		}
	})
}

func TestInProcessNotReady(t *testing.T) {
	src := &fakeSource{failing: errors.New("down")}
	p := NewInProcess(src, InProcessOptions{Environment: "prod", InitTimeout: 20 * time.Millisecond, MinBackoff: 5 * time.Millisecond})
	if err := p.Init(of.EvaluationContext{}); err == nil {
		t.Fatal("Init succeeded without a snapshot")
	}
	d := p.BooleanEvaluation(context.Background(), "dark", true, nil)
	if d.ResolutionDetail().ErrorCode != of.ProviderNotReadyCode {
		t.Fatalf("got %+v", d.ResolutionDetail())
	}
	src.heal()
	src.set(parseFlags(t, testFlags), 1)
	select {
	case e := <-p.EventChannel():
		if e.EventType != of.ProviderReady {
			t.Fatalf("event %v, want READY", e.EventType)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("no READY after the source came back")
	}
	p.Shutdown()
}

func TestRemoteRateLimited(t *testing.T) {
	var calls int
	var mu sync.Mutex
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &httptest.Server{Listener: l, Config: &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		calls++
		mu.Unlock()
		w.Header().Set("Retry-After", time.Now().Add(time.Hour).UTC().Format(time.RFC3339))
		w.WriteHeader(http.StatusTooManyRequests)
	})}}
	srv.Start()
	defer srv.Close()
	p := NewRemote(srv.URL, RemoteOptions{APIKey: "k"})
	for range 3 {
		d := p.StringEvaluation(context.Background(), "color", "dflt", of.FlattenedContext{})
		if d.Value != "dflt" || d.ResolutionDetail().ErrorCode != of.GeneralCode {
			t.Fatalf("got %+v", d)
		}
	}
	if calls != 1 {
		t.Fatalf("%d calls, want 1: the provider must wait for Retry-After", calls)
	}
}
