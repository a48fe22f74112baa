package server_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/structpb"

	flagopsv1 "github.com/flagops/flagops/gen/flagops/v1"
	"github.com/flagops/flagops/internal/server"
	"github.com/flagops/flagops/internal/server/servertest"
	"github.com/flagops/flagops/internal/store/pgtest"
)

func backends(t *testing.T, f func(t *testing.T, cfg server.Config)) { servertest.Backends(t, f) }

func clients(s *server.Server) servertest.Clients {
	return servertest.NewClients(servertest.HTTP1Client(), s.URL())
}

// setFact sets workspace fact key to v and returns the revision.
func setFact(t *testing.T, c servertest.Clients, key string, v any) int64 {
	t.Helper()
	val, err := structpb.NewValue(v)
	if err != nil {
		t.Fatal(err)
	}
	r, err := c.Facts.SetFacts(context.Background(), connect.NewRequest(&flagopsv1.SetFactsRequest{Scope: "workspace", Values: map[string]*structpb.Value{key: val}}))
	if err != nil {
		t.Fatalf("set %s: %v", key, err)
	}
	return r.Msg.Revision
}

// stream is a Watch call read by a goroutine into a channel.
type stream struct {
	ch     chan *flagopsv1.WatchResponse
	done   chan error // the stream's end: nil for a clean end
	cancel context.CancelFunc
}

func watchFrom(t *testing.T, c servertest.Clients, from int64) *stream {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	st := &stream{ch: make(chan *flagopsv1.WatchResponse, 1024), done: make(chan error, 1), cancel: cancel}
	t.Cleanup(cancel)
	go func() {
		s, err := c.Changes.Watch(ctx, connect.NewRequest(&flagopsv1.WatchRequest{FromRevision: from}))
		if err != nil {
			st.done <- err
			return
		}
		defer s.Close()
		for s.Receive() {
			st.ch <- s.Msg()
		}
		st.done <- s.Err()
	}()
	return st
}

// next returns the next response, failing after 10s or if the stream ended.
func (st *stream) next(t *testing.T) *flagopsv1.WatchResponse {
	t.Helper()
	select {
	case r := <-st.ch:
		return r
	case err := <-st.done:
		t.Fatalf("watch ended: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("no watch response within 10s")
	}
	return nil
}

// keys reads responses until n changes arrived and returns "rev:key" for
// each; it fails on a response out of revision order. A caught_up response
// is reported through caughtUp when not nil.
func (st *stream) keys(t *testing.T, n int, caughtUp *int64) []string {
	t.Helper()
	var out []string
	last := int64(-1)
	for len(out) < n {
		r := st.next(t)
		if r.CaughtUp && caughtUp != nil {
			*caughtUp = r.Revision
		}
		if len(r.Changes) == 0 {
			continue
		}
		if r.Revision <= last {
			t.Fatalf("revision %d after %d", r.Revision, last)
		}
		last = r.Revision
		for _, c := range r.Changes {
			if c.Revision != r.Revision {
				t.Fatalf("change of revision %d in response %d", c.Revision, r.Revision)
			}
			out = append(out, fmt.Sprintf("%d:%s", c.Revision, strings.TrimPrefix(c.Key, "workspace:")))
		}
	}
	return out
}

// quiet checks no change arrives for d.
func (st *stream) quiet(t *testing.T, d time.Duration) {
	t.Helper()
	deadline := time.After(d)
	for {
		select {
		case r := <-st.ch:
			if len(r.Changes) > 0 {
				t.Fatalf("unexpected change at revision %d", r.Revision)
			}
		case <-deadline:
			return
		}
	}
}

func TestWatchFromRevision(t *testing.T) {
	backends(t, func(t *testing.T, cfg server.Config) {
		c := clients(servertest.Start(t, cfg))
		var revs []int64
		for i := range 5 {
			revs = append(revs, setFact(t, c, fmt.Sprintf("k%d", i), i))
		}
		w := watchFrom(t, c, revs[1])
		var caughtUp int64
		got := w.keys(t, 3, &caughtUp)
		want := []string{fmt.Sprintf("%d:k2", revs[2]), fmt.Sprintf("%d:k3", revs[3]), fmt.Sprintf("%d:k4", revs[4])}
		if strings.Join(got, " ") != strings.Join(want, " ") {
			t.Fatalf("replay: got %v, want %v", got, want)
		}
		if r := w.next(t); !r.CaughtUp || r.Revision != revs[4] {
			t.Fatalf("want caught_up at %d, got %v", revs[4], r)
		}
		rev := setFact(t, c, "live", true)
		if got := w.keys(t, 1, nil); got[0] != fmt.Sprintf("%d:live", rev) {
			t.Fatalf("live: got %v", got)
		}
		w.quiet(t, 200*time.Millisecond)
	})
}

// TestWatchAcrossRestart resumes a watch after the server restarts on the
// same data: no change lost, none repeated.
func TestWatchAcrossRestart(t *testing.T) {
	backends(t, func(t *testing.T, cfg server.Config) {
		s1 := servertest.Start(t, cfg)
		c := clients(s1)
		r0, err := c.Changes.GetRevision(context.Background(), connect.NewRequest(&flagopsv1.GetRevisionRequest{}))
		if err != nil {
			t.Fatal(err)
		}
		for i := range 3 {
			setFact(t, c, fmt.Sprintf("a%d", i), i)
		}
		w := watchFrom(t, c, r0.Msg.Revision)
		got := w.keys(t, 3, nil)
		setFact(t, c, "a3", 3)
		got = append(got, w.keys(t, 1, nil)...)
		var last int64
		fmt.Sscanf(got[len(got)-1], "%d:", &last)

		if err := s1.Shutdown(context.Background()); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-w.done:
			if err != nil {
				t.Fatalf("watch should end cleanly at shutdown, got %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("watch did not end at shutdown")
		}

		s2 := servertest.Start(t, cfg)
		c = clients(s2)
		var want []string
		for i := range 3 { // written while no one watches
			want = append(want, fmt.Sprintf("%d:b%d", setFact(t, c, fmt.Sprintf("b%d", i), i), i))
		}
		w = watchFrom(t, c, last)
		var caughtUp int64
		got = w.keys(t, 3, &caughtUp)
		for i := range 2 { // written live
			want = append(want, fmt.Sprintf("%d:c%d", setFact(t, c, fmt.Sprintf("c%d", i), i), i))
		}
		got = append(got, w.keys(t, 2, &caughtUp)...)
		if strings.Join(got, " ") != strings.Join(want, " ") {
			t.Fatalf("after restart: got %v, want %v", got, want)
		}
		w.quiet(t, 200*time.Millisecond)
	})
}

// TestWatchAcrossInstances: a write on instance A reaches a watcher on
// instance B through the shared PostgreSQL database.
func TestWatchAcrossInstances(t *testing.T) {
	cfg := server.Config{DatabaseURL: pgtest.URL(t)}
	a := clients(servertest.Start(t, cfg))
	b := clients(servertest.Start(t, cfg))
	first := setFact(t, a, "before", 1)
	w := watchFrom(t, b, first)
	if r := w.next(t); !r.CaughtUp {
		t.Fatalf("want caught_up, got %v", r)
	}
	start := time.Now()
	var want []string
	for i := range 5 {
		want = append(want, fmt.Sprintf("%d:x%d", setFact(t, a, fmt.Sprintf("x%d", i), i), i))
	}
	if got := w.keys(t, 5, nil); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("got %v, want %v", got, want)
	}
	t.Logf("5 writes on A reached B's watcher in %v", time.Since(start))
}

func TestWatchCompacted(t *testing.T) {
	s := servertest.Start(t, server.Config{})
	c := clients(s)
	ctx := context.Background()
	var revs []int64
	for i := range 5 {
		revs = append(revs, setFact(t, c, fmt.Sprintf("k%d", i), i))
	}
	if _, err := c.Changes.Compact(ctx, connect.NewRequest(&flagopsv1.CompactRequest{ThroughRevision: revs[2]})); err != nil {
		t.Fatal(err)
	}
	r, err := c.Changes.GetRevision(ctx, connect.NewRequest(&flagopsv1.GetRevisionRequest{}))
	if err != nil || r.Msg.CompactedRevision != revs[2] {
		t.Fatalf("compacted revision %v, %v; want %d", r.Msg, err, revs[2])
	}
	w := watchFrom(t, c, revs[0])
	select {
	case err := <-w.done:
		if connect.CodeOf(err) != connect.CodeOutOfRange {
			t.Fatalf("want OutOfRange, got %v", err)
		}
		oldest := fmt.Sprintf("oldest retained revision is %d", revs[2]+1)
		if msg := err.Error(); !strings.Contains(msg, "compacted") || !strings.Contains(msg, oldest) {
			t.Fatalf("message %q should say compacted and %q", msg, oldest)
		}
	case r := <-w.ch:
		t.Fatalf("want an error, got %v", r)
	case <-time.After(10 * time.Second):
		t.Fatal("no answer")
	}
	// From the compacted revision itself the log is whole.
	w = watchFrom(t, c, revs[2])
	if got := w.keys(t, 2, nil); !strings.HasSuffix(got[0], ":k3") || !strings.HasSuffix(got[1], ":k4") {
		t.Fatalf("got %v", got)
	}
}
