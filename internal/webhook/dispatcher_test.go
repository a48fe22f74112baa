package webhook_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/flagops/flagops/internal/domain"
	"github.com/flagops/flagops/internal/secrets"
	"github.com/flagops/flagops/internal/store"
	"github.com/flagops/flagops/internal/store/pgtest"
	"github.com/flagops/flagops/internal/webhook"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// backends runs f on a fresh migrated SQLite store, and on PostgreSQL when
// FLAGOPS_TEST_POSTGRES is set.
func backends(t *testing.T, f func(t *testing.T, st *store.Store)) {
	open := func(t *testing.T, opt store.Options) *store.Store {
		opt.Logger = quiet
		st, err := store.Open(context.Background(), opt)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		if _, err := st.Migrate(context.Background()); err != nil {
			t.Fatal(err)
		}
		return st
	}
	t.Run("sqlite", func(t *testing.T) { f(t, open(t, store.Options{DataDir: t.TempDir()})) })
	t.Run("postgres", func(t *testing.T) { f(t, open(t, store.Options{DatabaseURL: pgtest.URL(t)})) })
}

// receiver is an httptest server on 127.0.0.1 that can be down, verifies
// signatures and records the event ids it accepted, in arrival order.
type receiver struct {
	t      *testing.T
	secret string
	mu     sync.Mutex
	down   bool
	fails  int
	got    []string
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	if !webhook.Verify(rc.secret, r.Header, body, time.Now(), time.Minute) {
		rc.t.Errorf("bad signature on delivery %s", r.Header.Get(webhook.DeliveryHeader))
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	var ev webhook.Event
	if err := json.Unmarshal(body, &ev); err != nil {
		rc.t.Errorf("delivery is not a CloudEvent: %v", err)
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if rc.down {
		rc.fails++
		http.Error(w, "down", http.StatusServiceUnavailable)
		return
	}
	rc.got = append(rc.got, ev.ID)
}

func (rc *receiver) state() (fails int, got []string) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return rc.fails, append([]string(nil), rc.got...)
}

func (rc *receiver) setDown(v bool) {
	rc.mu.Lock()
	rc.down = v
	rc.mu.Unlock()
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// keyring returns an in-memory keyring for sealing and opening the
// subscriptions' signing secrets.
func keyring(t *testing.T) *secrets.Keyring {
	t.Helper()
	kr, err := secrets.NewEphemeral()
	if err != nil {
		t.Fatal(err)
	}
	return kr
}

// startDispatcher runs a dispatcher with fast retries, opening signing
// secrets with kr, and returns its stop.
func startDispatcher(st *store.Store, kr *secrets.Keyring) (notify func(), stop func()) {
	d := webhook.NewDispatcher(st, webhook.Options{
		Keyring:      kr,
		Backoff:      webhook.Backoff{Base: time.Millisecond, Max: 5 * time.Millisecond},
		PollInterval: 20 * time.Millisecond,
		Logger:       quiet,
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); d.Run(ctx) }()
	return func() { d.Notify(0) }, func() { cancel(); <-done }
}

// TestDeliveryAtLeastOnceInOrder takes the receiver down, restarts the
// dispatcher in the middle, and checks that every matching event arrives, in
// revision order, and that the delivery log tells the story.
func TestDeliveryAtLeastOnceInOrder(t *testing.T) {
	backends(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		ws := domain.DefaultWorkspace
		must := func(_ any, err error) {
			t.Helper()
			if err != nil {
				t.Fatal(err)
			}
		}
		if _, _, err := st.PutEnvironment(ctx, domain.Environment{Meta: domain.Meta{Workspace: ws, Name: "prod"}}, nil); err != nil {
			t.Fatal(err)
		}
		for _, p := range []string{"shop", "blog"} {
			if _, _, err := st.PutProject(ctx, domain.Project{Meta: domain.Meta{Workspace: ws, Name: p}, Environments: []string{"prod"}}, nil); err != nil {
				t.Fatal(err)
			}
		}
		rc := &receiver{t: t, secret: "s3cret", down: true}
		srv := httptest.NewServer(rc)
		defer srv.Close()
		kr := keyring(t)
		must(st.CreateWebhook(ctx, kr, domain.Webhook{Workspace: ws, Name: "shop-events", URL: srv.URL, Type: domain.WebhookGeneric,
			Secret: "s3cret", Filter: domain.WebhookFilter{Projects: []string{"shop"}}}, 0))

		var want []string
		set := func(scope domain.Scope, kv map[string]string) {
			t.Helper()
			var entries []domain.FactsEntry
			vals := map[string]json.RawMessage{}
			for k, v := range kv {
				vals[k] = json.RawMessage(v)
			}
			entries = append(entries, domain.FactsEntry{Scope: scope, Values: vals})
			rev, err := st.BulkSetFacts(ctx, ws, entries)
			if err != nil {
				t.Fatal(err)
			}
			if scope.Project == "shop" {
				cs, err := st.ChangesSince(ctx, rev-1, 100)
				if err != nil {
					t.Fatal(err)
				}
				for _, c := range cs {
					want = append(want, webhook.EventID(c))
				}
			}
		}
		shop := domain.ProjectEnvScope("shop", "prod")
		notify, stop := startDispatcher(st, kr)
		set(shop, map[string]string{"image.tag": `"1.0"`, "replicas": `2`}) // one revision, two entries
		set(domain.ProjectScope("blog"), map[string]string{"tier": `"free"`})
		set(shop, map[string]string{"image.tag": `"1.1"`})
		notify()
		waitFor(t, "failed attempts while the receiver is down", func() bool { f, _ := rc.state(); return f >= 3 })
		stop() // the "restart": the first dispatcher goes away mid-retry

		set(shop, map[string]string{"image.tag": `"1.2"`})
		set(domain.ProjectScope("blog"), map[string]string{"tier": `"pro"`})
		rc.setDown(false)
		_, stop = startDispatcher(st, kr)
		defer stop()
		waitFor(t, "every event", func() bool {
			_, got := rc.state()
			return len(got) > 0 && got[len(got)-1] == want[len(want)-1]
		})

		_, got := rc.state()
		// At least once and in order: the distinct ids, in first-arrival
		// order, are exactly want; a repeat may only repeat the latest.
		var distinct []string
		for i, id := range got {
			if i > 0 && id == got[i-1] {
				continue
			}
			distinct = append(distinct, id)
		}
		if len(distinct) != len(want) {
			t.Fatalf("received %v, want %v in order", got, want)
		}
		for i := range want {
			if distinct[i] != want[i] {
				t.Fatalf("received %v, want %v in order", got, want)
			}
		}

		// The receiver may see the last event just before the dispatcher
		// records its success.
		var log []domain.Delivery
		waitFor(t, "every delivery recorded as succeeded", func() bool {
			var err error
			if log, err = st.ListDeliveries(ctx, ws, "shop-events", 100); err != nil {
				t.Fatal(err)
			}
			for _, d := range log {
				if d.Status != domain.DeliverySucceeded {
					return false
				}
			}
			return len(log) == len(want)
		})
		first := log[0]
		if first.Status != domain.DeliverySucceeded || first.Attempts < 3 || first.ResponseCode != 200 ||
			first.LastError == "" || webhook.EventID(domain.Change{Revision: first.Revision, Seq: first.Seq}) != want[0] {
			t.Fatalf("first delivery = %+v; want succeeded after >= 3 attempts with the last error kept", first)
		}
		for _, d := range log {
			if d.Status != domain.DeliverySucceeded {
				t.Fatalf("delivery %+v not succeeded", d)
			}
		}
		rev, _ := st.Revision(ctx)
		waitFor(t, "the cursor to pass the last revision", func() bool {
			h, err := st.GetWebhook(ctx, ws, "shop-events")
			if err != nil {
				t.Fatal(err)
			}
			return h.Cursor == domain.CursorAfterRevision(rev)
		})
	})
}
