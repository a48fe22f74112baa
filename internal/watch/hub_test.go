package watch

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flagops/flagops/internal/domain"
	"github.com/flagops/flagops/internal/errs"
)

func startHub(t *testing.T, log *fakeLog, opt Options) *Hub {
	t.Helper()
	h := New(log, opt)
	if err := h.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	return h
}

// next returns the next event, failing the test after a timeout.
func next(t *testing.T, w *Watcher) Event {
	t.Helper()
	select {
	case ev, ok := <-w.Events():
		if !ok {
			t.Fatalf("watcher ended: %v", w.Err())
		}
		return ev
	case <-time.After(5 * time.Second):
		t.Fatal("no event within 5s")
	}
	return Event{}
}

// revisions reads n change events (skipping progress notices) and returns
// their revisions.
func revisions(t *testing.T, w *Watcher, n int) []int64 {
	t.Helper()
	var out []int64
	for len(out) < n {
		ev := next(t, w)
		if len(ev.Changes) > 0 {
			out = append(out, ev.Revision)
		}
	}
	return out
}

func TestReplayThenLive(t *testing.T) {
	log := &fakeLog{}
	for i := range 5 {
		log.commit("default", domain.KindFact, key(i))
	}
	h := startHub(t, log, Options{})
	w, err := h.Watch(context.Background(), 2, Filter{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if got := revisions(t, w, 3); !equal(got, []int64{3, 4, 5}) {
		t.Fatalf("replay: got %v, want [3 4 5]", got)
	}
	if ev := next(t, w); !ev.CaughtUp || ev.Revision != 5 {
		t.Fatalf("want caught_up at 5, got %+v", ev)
	}
	log.commit("default", domain.KindFact, "a", "b")
	ev := next(t, w)
	if ev.Revision != 6 || len(ev.Changes) != 2 {
		t.Fatalf("live: got %+v", ev)
	}
}

func TestFilter(t *testing.T) {
	tests := []struct {
		name   string
		filter Filter
		want   []int64
	}{
		{"all", Filter{}, []int64{1, 2, 3, 4}},
		{"workspace", Filter{Workspace: "other"}, []int64{3}},
		{"kind", Filter{Kinds: []string{domain.KindTarget, domain.KindProject}}, []int64{2, 4}},
		{"prefix", Filter{KeyPrefixes: []string{"project/shop:"}}, []int64{1}},
		{"every field", Filter{Workspace: "default", Kinds: []string{domain.KindProject}, KeyPrefixes: []string{"sh"}}, []int64{4}},
	}
	log := &fakeLog{}
	h := startHub(t, log, Options{})
	// Watchers start before the writes, so the changes arrive live.
	ws := make([]*Watcher, len(tests))
	for i, tt := range tests {
		w, err := h.Watch(context.Background(), 0, tt.filter)
		if err != nil {
			t.Fatal(err)
		}
		defer w.Close()
		if ev := next(t, w); !ev.CaughtUp {
			t.Fatalf("want caught_up first, got %+v", ev)
		}
		ws[i] = w
	}
	log.commit("default", domain.KindFact, "project/shop:tier")
	log.commit("default", domain.KindTarget, "eu-1")
	log.commit("other", domain.KindFact, "workspace:x")
	log.commit("default", domain.KindProject, "shop")
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := revisions(t, ws[i], len(tt.want)); !equal(got, tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
		})
	}
}

// TestSlowWatcher fills a watcher's buffer while it does not read: writers
// and a fast watcher must go on, and the slow one must still get every
// revision exactly once, in order, once it reads again.
func TestSlowWatcher(t *testing.T) {
	log := &fakeLog{}
	h := startHub(t, log, Options{Buffer: 2, BatchSize: 7})
	slow, err := h.Watch(context.Background(), 0, Filter{})
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	fast, err := h.Watch(context.Background(), 0, Filter{})
	if err != nil {
		t.Fatal(err)
	}
	defer fast.Close()
	next(t, slow)
	next(t, fast)
	const n = 200
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range n {
			log.commit("default", domain.KindFact, key(i))
		}
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("a slow watcher blocked the writer")
	}
	want := make([]int64, n)
	for i := range want {
		want[i] = int64(i + 1)
	}
	if got := revisions(t, fast, n); !equal(got, want) {
		t.Fatalf("fast watcher: got %v", got)
	}
	if got := revisions(t, slow, n); !equal(got, want) {
		t.Fatalf("slow watcher: got %v", got)
	}
}

func TestCompacted(t *testing.T) {
	log := &fakeLog{}
	for i := range 10 {
		log.commit("default", domain.KindFact, key(i))
	}
	log.compact(6)
	h := startHub(t, log, Options{})
	_, err := h.Watch(context.Background(), 3, Filter{})
	if !errors.Is(err, errs.Compacted) {
		t.Fatalf("want Compacted, got %v", err)
	}
	if msg := err.Error(); !strings.Contains(msg, "compacted") || !strings.Contains(msg, "oldest retained revision is 7") {
		t.Fatalf("message should say compacted and name revision 7: %q", msg)
	}
	// From 0 means the start of the retained log.
	w, err := h.Watch(context.Background(), 0, Filter{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if got := revisions(t, w, 4); !equal(got, []int64{7, 8, 9, 10}) {
		t.Fatalf("got %v", got)
	}
}

// TestCompactedPastTheHub compacts revisions the hub has not read yet: the
// hub must move on (watchers that missed them end with Compacted, later
// revisions still flow) instead of failing every read after.
func TestCompactedPastTheHub(t *testing.T) {
	log := &fakeLog{}
	log.commit("default", domain.KindFact, "a")
	h := startHub(t, log, Options{PollInterval: time.Hour})
	old, err := h.Watch(context.Background(), 0, Filter{})
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	if got := revisions(t, old, 1); !equal(got, []int64{1}) {
		t.Fatalf("got %v", got)
	}
	if ev := next(t, old); !ev.CaughtUp {
		t.Fatalf("want caught_up, got %+v", ev)
	}
	log.mu.Lock()
	log.silent = true
	log.mu.Unlock()
	log.commit("default", domain.KindFact, "b")
	log.commit("default", domain.KindFact, "c")
	log.compact(3)
	log.mu.Lock()
	log.silent = false
	log.mu.Unlock()
	log.commit("default", domain.KindFact, "d") // wakes the hub: it reads after 1, which is gone

	timeout := time.After(5 * time.Second)
drain:
	for {
		select {
		case ev, ok := <-old.Events():
			if !ok {
				break drain
			}
			if len(ev.Changes) > 0 {
				t.Fatalf("the old watcher missed revisions 2-3 and must not get %+v", ev)
			}
		case <-timeout:
			t.Fatal("the old watcher did not end: the hub is stuck behind the compaction")
		}
	}
	if !errors.Is(old.Err(), errs.Compacted) {
		t.Fatalf("old watcher: want Compacted, got %v", old.Err())
	}
	w, err := h.Watch(context.Background(), 3, Filter{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if got := revisions(t, w, 1); !equal(got, []int64{4}) {
		t.Fatalf("got %v", got)
	}
	log.commit("default", domain.KindFact, "e")
	if got := revisions(t, w, 1); !equal(got, []int64{5}) {
		t.Fatalf("live after the skip: got %v", got)
	}
	if r := h.Revision(); r != 5 {
		t.Fatalf("hub revision %d, want 5", r)
	}
}

func TestProgressNotice(t *testing.T) {
	log := &fakeLog{}
	log.commit("default", domain.KindFact, "a")
	h := startHub(t, log, Options{ProgressInterval: 20 * time.Millisecond})
	w, err := h.Watch(context.Background(), 0, Filter{Kinds: []string{domain.KindProject}})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if ev := next(t, w); !ev.CaughtUp || ev.Revision != 1 {
		t.Fatalf("want caught_up at 1, got %+v", ev)
	}
	log.commit("default", domain.KindFact, "b") // filtered out, but moves the revision
	deadline := time.After(5 * time.Second)
	for {
		select {
		case ev := <-w.Events():
			if len(ev.Changes) != 0 || ev.CaughtUp {
				t.Fatalf("want only progress notices, got %+v", ev)
			}
			if ev.Revision == 2 {
				return
			}
		case <-deadline:
			t.Fatal("no progress notice at revision 2")
		}
	}
}

// TestPollWithoutNotification checks the safety net: a commit whose
// notification was lost still arrives.
func TestPollWithoutNotification(t *testing.T) {
	log := &fakeLog{silent: true}
	h := startHub(t, log, Options{PollInterval: 20 * time.Millisecond})
	w, err := h.Watch(context.Background(), 0, Filter{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	next(t, w)
	log.commit("default", domain.KindFact, "a")
	if got := revisions(t, w, 1); got[0] != 1 {
		t.Fatalf("got %v", got)
	}
}

func TestCloseEndsWatchers(t *testing.T) {
	log := &fakeLog{}
	h := New(log, Options{})
	if err := h.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	w, err := h.Watch(context.Background(), 0, Filter{})
	if err != nil {
		t.Fatal(err)
	}
	next(t, w)
	if h.Watchers() != 1 {
		t.Fatalf("watchers = %d, want 1", h.Watchers())
	}
	h.Close()
	for range w.Events() {
	}
	if !errors.Is(w.Err(), ErrClosed) {
		t.Fatalf("want ErrClosed, got %v", w.Err())
	}
	if h.Watchers() != 0 {
		t.Fatalf("watchers = %d after close", h.Watchers())
	}
	if _, err := h.Watch(context.Background(), 0, Filter{}); !errors.Is(err, errs.Unavailable) {
		t.Fatalf("watch after close: want Unavailable, got %v", err)
	}
}

func TestCallerContextEndsWatcher(t *testing.T) {
	h := startHub(t, &fakeLog{}, Options{})
	ctx, cancel := context.WithCancel(context.Background())
	w, err := h.Watch(ctx, 0, Filter{})
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	for range w.Events() {
	}
	if !errors.Is(w.Err(), context.Canceled) {
		t.Fatalf("want Canceled, got %v", w.Err())
	}
}

func equal(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestInspectBeforeWatchers: an inspector sees every revision before any
// watcher is given it; a watcher catching up ahead of the hub (here the hub
// hears of no commit and polls hourly) waits for the hub to read what it is
// about to send, so it cannot overtake the inspector (issue 9.12: a
// revocation must end a stream before a later change reaches it).
func TestInspectBeforeWatchers(t *testing.T) {
	log := &fakeLog{silent: true}
	h := startHub(t, log, Options{PollInterval: time.Hour})
	var inspected atomic.Int64
	h.Inspect(func(cs []domain.Change) { inspected.Store(cs[0].Revision) })
	for i := range 3 {
		log.commit("default", domain.KindFact, key(i))
	}
	w, err := h.Watch(context.Background(), 0, Filter{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	for _, rev := range revisions(t, w, 3) {
		if seen := inspected.Load(); rev > seen {
			t.Fatalf("revision %d given to a watcher before the inspector saw it (saw %d)", rev, seen)
		}
	}
	if ev := next(t, w); !ev.CaughtUp || ev.Revision != 3 {
		t.Fatalf("after the replay %+v: want caught up at revision 3", ev)
	}
}
