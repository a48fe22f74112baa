package argocd_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/flagops/flagops/internal/argocd"
	"github.com/flagops/flagops/internal/errs"
	"github.com/flagops/flagops/internal/server/servertest"
)

// scriptedFeed plays script on its first Follow call, then follows quietly,
// and records where each call started.
type scriptedFeed struct {
	mu     sync.Mutex
	froms  []int64
	rev    int64
	script func(f *scriptedFeed, fn func(int64, []argocd.Change)) error
}

func (f *scriptedFeed) Follow(ctx context.Context, _ string, from int64, fn func(int64, []argocd.Change)) error {
	f.mu.Lock()
	f.froms = append(f.froms, from)
	first := len(f.froms) == 1
	f.mu.Unlock()
	if first {
		return f.script(f, fn)
	}
	fn(from, nil)
	<-ctx.Done()
	return nil
}

func (f *scriptedFeed) Revision(context.Context) (int64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.rev, nil
}

func (f *scriptedFeed) calls() []int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]int64(nil), f.froms...)
}

// TestFollowResumes: a broken stream is resumed after the last revision
// received, and a compacted one from the log's current revision, after
// reconciling every Application.
func TestFollowResumes(t *testing.T) {
	for _, tc := range []struct {
		name      string
		script    func(f *scriptedFeed, fn func(int64, []argocd.Change)) error
		wantFroms []int64
	}{
		{"broken stream", func(_ *scriptedFeed, fn func(int64, []argocd.Change)) error {
			fn(3, nil)
			fn(4, []argocd.Change{{Kind: "fact", Key: "deployment/shop@eu-1:tier"}})
			return errs.New(errs.Unavailable, "connection reset")
		}, []int64{3, 4}},
		{"compacted", func(f *scriptedFeed, _ func(int64, []argocd.Change)) error {
			f.mu.Lock()
			f.rev = 9 // the log moved on and was compacted past 3
			f.mu.Unlock()
			return errs.New(errs.Compacted, "revision 3 has been compacted")
		}, []int64{3, 9}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			argo := newFakeArgo(t, pluginApp("shop-eu-1", "shop", "eu-1", "1.4.0"))
			feed := &scriptedFeed{rev: 3, script: tc.script}
			ag, err := argocd.New(argocd.Config{Target: "eu-1", StatusInterval: time.Hour, MinBackoff: time.Millisecond, Logger: servertest.Logger()},
				feed, &fakeBundles{desired: map[string]string{}}, &argocd.Client{BaseURL: argo.srv.URL, Token: argoToken}, nil)
			if err != nil {
				t.Fatal(err)
			}
			startAgent(t, ag)
			deadline := time.Now().Add(5 * time.Second)
			for len(feed.calls()) < 2 && time.Now().Before(deadline) {
				time.Sleep(time.Millisecond)
			}
			if got := feed.calls(); !slices.Equal(got, tc.wantFroms) {
				t.Errorf("follow calls started at %v, want %v", got, tc.wantFroms)
			}
		})
	}
}
