package store_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flagops/flagops/internal/domain"
	"github.com/flagops/flagops/internal/secrets"
	"github.com/flagops/flagops/internal/store"
	"github.com/flagops/flagops/internal/webhook"
)

// signedReceiver counts the deliveries whose signature verifies with secret
// and those that do not.
type signedReceiver struct {
	secret    string
	mu        sync.Mutex
	ok, wrong int
}

func (rc *signedReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if !webhook.Verify(rc.secret, r.Header, body, time.Now(), time.Minute) {
		rc.wrong++
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	rc.ok++
}

func (rc *signedReceiver) counts() (ok, wrong int) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return rc.ok, rc.wrong
}

// TestWebhookSecretSealed is the canary test of webhook signing secrets: a
// unique secret is found nowhere in the database (the SQLite file and its
// WAL; the PostgreSQL row), a delivery is still signed with it, a sealed
// secret copied to another subscription fails that subscription's deliveries
// with a clear error in its log (nothing is sent), and a plaintext row left
// by an older version is sealed and cleared by SealWebhookSecrets, once.
func TestWebhookSecretSealed(t *testing.T) {
	backends := []struct {
		name string
		// open returns a migrated store and a check that fails the test
		// when canary appears in the stored subscription.
		open func(t *testing.T) (*store.Store, func(t *testing.T, st *store.Store, canary string))
	}{
		{"sqlite", func(t *testing.T) (*store.Store, func(*testing.T, *store.Store, string)) {
			dir := t.TempDir()
			st, err := store.Open(context.Background(), store.Options{DataDir: dir, Logger: quiet})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			return st, func(t *testing.T, _ *store.Store, canary string) {
				t.Helper()
				for _, f := range []string{"flagops.db", "flagops.db-wal"} {
					b, err := os.ReadFile(filepath.Join(dir, f))
					if err != nil && !os.IsNotExist(err) {
						t.Fatal(err)
					}
					if bytes.Contains(b, []byte(canary)) {
						t.Fatalf("the signing secret is stored in plain text in %s", f)
					}
				}
			}
		}},
		{"postgres", func(t *testing.T) (*store.Store, func(*testing.T, *store.Store, string)) {
			st := openPostgres(t)
			return st, func(t *testing.T, st *store.Store, canary string) {
				t.Helper()
				row, err := st.QueryString(context.Background(), "SELECT w::text FROM webhooks w WHERE name = ?", "audit")
				if err != nil {
					t.Fatal(err)
				}
				if strings.Contains(row, canary) {
					t.Fatal("the signing secret is stored in plain text in the webhooks row")
				}
			}
		}},
	}
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			st, checkAbsent := b.open(t)
			ctx := context.Background()
			if _, err := st.Migrate(ctx); err != nil {
				t.Fatal(err)
			}
			kr, err := secrets.NewEphemeral()
			if err != nil {
				t.Fatal(err)
			}
			ws := domain.DefaultWorkspace
			var rnd [16]byte
			_, _ = rand.Read(rnd[:])
			canary := "canary-" + hex.EncodeToString(rnd[:])
			good := &signedReceiver{secret: canary}
			victim := &signedReceiver{secret: "victim-secret-0123456789"}
			for _, r := range []struct {
				name   string
				rc     *signedReceiver
				secret string
			}{{"audit", good, canary}, {"victim", victim, victim.secret}, {"legacy", &signedReceiver{}, "legacy-secret-0123456789"}} {
				srv := httptest.NewServer(r.rc)
				t.Cleanup(srv.Close)
				if _, err := st.CreateWebhook(ctx, kr, domain.Webhook{Workspace: ws, Name: r.name, URL: srv.URL, Type: domain.WebhookGeneric, Secret: r.secret}, 0); err != nil {
					t.Fatal(err)
				}
			}
			checkAbsent(t, st, canary)

			// The ciphertext of audit's secret, copied to victim's row.
			sealed, err := st.QueryString(ctx, "SELECT secret_sealed FROM webhooks WHERE name = ?", "audit")
			if err != nil {
				t.Fatal(err)
			}
			if err := st.ExecRaw(ctx, "UPDATE webhooks SET secret_sealed = ? WHERE name = ?", sealed, "victim"); err != nil {
				t.Fatal(err)
			}

			// A row as an older version left it: plaintext, nothing sealed.
			if err := st.ExecRaw(ctx, "UPDATE webhooks SET secret = ?, secret_sealed = '', secret_key_id = '' WHERE name = ?", "legacy-plain-0123456789", "legacy"); err != nil {
				t.Fatal(err)
			}
			for i, want := range []int{1, 0} {
				if n, err := st.SealWebhookSecrets(ctx, kr); err != nil || n != want {
					t.Fatalf("SealWebhookSecrets run %d = %d, %v; want %d", i+1, n, err, want)
				}
			}
			if plain, err := st.QueryString(ctx, "SELECT secret FROM webhooks WHERE name = ?", "legacy"); err != nil || plain != "" {
				t.Fatalf("legacy plaintext after sealing = %q, %v; want it cleared", plain, err)
			}
			legacy, err := st.GetWebhook(ctx, ws, "legacy")
			if err != nil {
				t.Fatal(err)
			}
			if v, err := st.OpenWebhookSecret(kr, legacy); err != nil || string(v) != "legacy-plain-0123456789" {
				t.Fatalf("legacy secret after sealing: %v", err)
			}

			d := webhook.NewDispatcher(st, webhook.Options{Keyring: kr, Logger: quiet, PollInterval: 20 * time.Millisecond,
				Backoff: webhook.Backoff{Base: time.Millisecond, Max: 5 * time.Millisecond}})
			dctx, cancel := context.WithCancel(ctx)
			done := make(chan struct{})
			go func() { defer close(done); d.Run(dctx) }()
			stop := func() { cancel(); <-done }
			defer stop()
			if _, err := st.SetFacts(ctx, ws, domain.WorkspaceScope(), map[string]json.RawMessage{"n": json.RawMessage("1")}, nil); err != nil {
				t.Fatal(err)
			}
			var victimLog []domain.Delivery
			deadline := time.Now().Add(20 * time.Second)
			for {
				ok, _ := good.counts()
				victimLog, err = st.ListDeliveries(ctx, ws, "victim", 10)
				if err != nil {
					t.Fatal(err)
				}
				if ok > 0 && len(victimLog) > 0 && victimLog[0].Attempts > 0 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("timed out: %d signed deliveries to audit, victim log %+v", ok, victimLog)
				}
				time.Sleep(10 * time.Millisecond)
			}
			stop()
			if _, wrong := good.counts(); wrong != 0 {
				t.Fatalf("%d deliveries to audit did not verify with its secret", wrong)
			}
			if ok, wrong := victim.counts(); ok+wrong != 0 {
				t.Fatalf("victim received %d deliveries with a moved secret; want none", ok+wrong)
			}
			if e := victimLog[0]; e.Status != domain.DeliveryRetrying || !strings.Contains(e.LastError, "cannot sign") ||
				!strings.Contains(e.LastError, "tampered with or moved") {
				t.Fatalf("victim delivery %+v; want retrying with an error saying the secret does not open", e)
			}
			checkAbsent(t, st, canary)
		})
	}
}
