package store_test

import (
	"context"
	"testing"

	"github.com/flagops/flagops/internal/domain"
	"github.com/flagops/flagops/internal/secrets"
	"github.com/flagops/flagops/internal/store"
)

// TestWebhookURLSealed: a URL with credentials is stored redacted, with the
// whole URL sealed for the dispatcher (OpenWebhookURL); a URL without any is
// stored as it is; the sealed URL moves with a master key rotation, holds
// the old key until then, and a row an older version left whole is sealed
// by SealWebhookURLs, once (issue 9.3).
func TestWebhookURLSealed(t *testing.T) {
	for _, b := range []struct {
		name string
		open func(t *testing.T) *store.Store
	}{
		{"sqlite", func(t *testing.T) *store.Store {
			st, err := store.Open(context.Background(), store.Options{DataDir: t.TempDir(), Logger: quiet})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			return st
		}},
		{"postgres", func(t *testing.T) *store.Store { return openPostgres(t) }},
	} {
		t.Run(b.name, func(t *testing.T) {
			st := b.open(t)
			ctx := context.Background()
			if _, err := st.Migrate(ctx); err != nil {
				t.Fatal(err)
			}
			kr, err := secrets.NewEphemeral()
			if err != nil {
				t.Fatal(err)
			}
			ws := domain.DefaultWorkspace
			const full, redacted = "https://u:pw@hooks.example/in?token=t0k", "https://u:***@hooks.example/in?token=***"
			tests := []struct {
				name, url, stored string
			}{
				{"credentials", full, redacted},
				{"none", "https://hooks.example/plain", "https://hooks.example/plain"},
			}
			for _, tc := range tests {
				t.Run(tc.name, func(t *testing.T) {
					w, err := st.CreateWebhook(ctx, kr, domain.Webhook{Workspace: ws, Name: tc.name, URL: tc.url, Type: domain.WebhookGeneric, Secret: "0123456789abcdef"}, 0)
					if err != nil {
						t.Fatal(err)
					}
					got, err := st.GetWebhook(ctx, ws, tc.name)
					if err != nil {
						t.Fatal(err)
					}
					if w.URL != tc.stored || got.URL != tc.stored {
						t.Fatalf("stored URL %q (returned %q), want %q", got.URL, w.URL, tc.stored)
					}
					if u, err := st.OpenWebhookURL(kr, got); err != nil || u != tc.url {
						t.Fatalf("OpenWebhookURL = %q, %v; want the whole URL", u, err)
					}
				})
			}

			old := kr.ActiveID()
			if _, err := kr.Rotate(); err != nil {
				t.Fatal(err)
			}
			if n, err := st.RetireMasterKey(ctx, kr, old); err != nil || n == 0 {
				t.Fatalf("RetireMasterKey before the rewrap = %d, %v; want it refused while records use the key", n, err)
			}
			if _, err := st.RewrapSecrets(ctx, kr); err != nil {
				t.Fatal(err)
			}
			if u, _ := st.QueryString(ctx, "SELECT url_key_id FROM webhooks WHERE name = ?", "credentials"); u != kr.ActiveID() {
				t.Fatalf("the sealed URL is under key %q after the rewrap, want %q", u, kr.ActiveID())
			}
			if n, err := st.RetireMasterKey(ctx, kr, old); err != nil || n != 0 {
				t.Fatalf("RetireMasterKey after the rewrap = %d, %v", n, err)
			}

			// A row as a version before sealed URLs left it.
			if err := st.ExecRaw(ctx, "UPDATE webhooks SET url = ?, url_sealed = '', url_key_id = '' WHERE name = ?", full, "credentials"); err != nil {
				t.Fatal(err)
			}
			for i, want := range []int{1, 0} {
				if n, err := st.SealWebhookURLs(ctx, kr); err != nil || n != want {
					t.Fatalf("SealWebhookURLs run %d = %d, %v; want %d", i+1, n, err, want)
				}
			}
			got, err := st.GetWebhook(ctx, ws, "credentials")
			if err != nil {
				t.Fatal(err)
			}
			if u, err := st.OpenWebhookURL(kr, got); got.URL != redacted || err != nil || u != full {
				t.Fatalf("after sealing: stored %q, opened %q, %v", got.URL, u, err)
			}
		})
	}
}
