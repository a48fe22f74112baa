package webhook_test

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"slices"
	"testing"

	"github.com/flagops/flagops/internal/domain"
	"github.com/flagops/flagops/internal/secrets"
	"github.com/flagops/flagops/internal/service"
	"github.com/flagops/flagops/internal/store"
)

// TestRotateMasterKeyKeepsSigning rotates the master key the way
// `flagops secrets rotate-master-key` does, checks that the old key is
// retired (so the webhook's sealed secret was re-wrapped first), and that a
// delivery made afterwards still verifies with the webhook's secret.
func TestRotateMasterKeyKeepsSigning(t *testing.T) {
	backends(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		kr, err := secrets.OpenKeyFile(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		rc := &receiver{t: t, secret: "rotate-secret-0123456789"}
		srv := httptest.NewServer(rc)
		defer srv.Close()
		if _, err := service.NewWebhooks(st, kr, nil).CreateWebhook(ctx, domain.Webhook{Name: "all", URL: srv.URL, Secret: rc.secret}, 0); err != nil {
			t.Fatal(err)
		}
		old := kr.ActiveID()
		rot, err := service.NewSecrets(st, kr, quiet).RotateMasterKey(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if rot.Rewrapped != 1 || !slices.Contains(rot.Retired, old) || slices.Contains(kr.KeyIDs(), old) {
			t.Fatalf("rotation %+v, keys now %v; want the webhook secret re-wrapped and %q retired", rot, kr.KeyIDs(), old)
		}
		notify, stop := startDispatcher(st, kr)
		defer stop()
		if _, err := st.SetFacts(ctx, domain.DefaultWorkspace, domain.WorkspaceScope(), map[string]json.RawMessage{"n": json.RawMessage("1")}, nil); err != nil {
			t.Fatal(err)
		}
		notify()
		// The receiver fails the test on a signature that does not verify.
		waitFor(t, "a signed delivery after the rotation", func() bool { _, got := rc.state(); return len(got) > 0 })
	})
}
