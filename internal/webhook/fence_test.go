package webhook_test

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/flagops/flagops/internal/domain"
	"github.com/flagops/flagops/internal/leader"
	"github.com/flagops/flagops/internal/store"
	"github.com/flagops/flagops/internal/webhook"
)

// termFence fences with a given term of the dispatcher's lease.
type termFence int64

func (f termFence) Term() (string, int64)    { return leader.Webhooks, int64(f) }
func (termFence) Wait(context.Context) error { return nil }
func (termFence) Refused()                   {}

// TestStaleDispatcherSendsNothing: a dispatcher acting on a term its lease
// no longer has (it stalled and another instance took over) neither posts,
// not even an event it was retrying (the POST the database cannot fence is
// preceded by a check of the term), nor moves the cursor; on the current
// term the event is delivered once.
func TestStaleDispatcherSendsNothing(t *testing.T) {
	backends(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		ws := domain.DefaultWorkspace
		rc := &receiver{t: t, secret: "s3cret", down: true}
		srv := httptest.NewServer(rc)
		defer srv.Close()
		kr := keyring(t)
		if _, err := st.CreateWebhook(ctx, kr, domain.Webhook{Workspace: ws, Name: "all", URL: srv.URL, Type: domain.WebhookGeneric, Secret: "s3cret"}, 0); err != nil {
			t.Fatal(err)
		}
		if _, err := st.SetFacts(ctx, ws, domain.Scope{Kind: domain.ScopeWorkspace}, map[string]json.RawMessage{"k": json.RawMessage(`1`)}, nil); err != nil {
			t.Fatal(err)
		}
		stale, ok, err := st.AcquireLease(ctx, leader.Webhooks, "a", time.Minute)
		if err != nil || !ok {
			t.Fatalf("acquire = %v, %v", ok, err)
		}
		run := func(term int64, until func() bool) {
			t.Helper()
			d := webhook.NewDispatcher(st, webhook.Options{Keyring: kr, Logger: quiet, PollInterval: 20 * time.Millisecond,
				Backoff: webhook.Backoff{Base: time.Millisecond, Max: 5 * time.Millisecond}})
			rctx, cancel := context.WithCancel(domain.WithFence(ctx, termFence(term)))
			done := make(chan struct{})
			go func() { defer close(done); d.Run(rctx) }()
			waitFor(t, "the dispatcher", until)
			cancel()
			<-done
		}
		// The leader starts the delivery; the receiver is down.
		run(stale, func() bool { fails, _ := rc.state(); return fails > 0 })
		before, err := st.GetWebhook(ctx, ws, "all")
		if err != nil {
			t.Fatal(err)
		}
		// It stalls; another instance takes the lease over.
		if err := st.ReleaseLease(ctx, leader.Webhooks, "a", stale); err != nil {
			t.Fatal(err)
		}
		current, ok, err := st.AcquireLease(ctx, leader.Webhooks, "b", time.Minute)
		if err != nil || !ok {
			t.Fatalf("acquire = %v, %v", ok, err)
		}
		rc.setDown(false)
		deadline := time.Now().Add(300 * time.Millisecond)
		run(stale, func() bool { return time.Now().After(deadline) })
		if _, got := rc.state(); len(got) != 0 {
			t.Fatalf("the stale dispatcher delivered %v", got)
		}
		after, err := st.GetWebhook(ctx, ws, "all")
		if err != nil {
			t.Fatal(err)
		}
		if after.Cursor != before.Cursor {
			t.Fatalf("the stale dispatcher moved the cursor from %v to %v", before.Cursor, after.Cursor)
		}
		run(current, func() bool { _, got := rc.state(); return len(got) == 1 })
		time.Sleep(100 * time.Millisecond)
		if _, got := rc.state(); len(got) != 1 {
			t.Fatalf("delivered %v; want the one event once", got)
		}
	})
}
