package webhook_test

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"slices"
	"testing"

	"github.com/flagops/flagops/internal/domain"
	"github.com/flagops/flagops/internal/service"
	"github.com/flagops/flagops/internal/store"
	"github.com/flagops/flagops/internal/webhook"
)

// TestRedeliver rewinds a subscription from a revision and from a delivery
// id, and checks that the events after that point arrive again, in order.
func TestRedeliver(t *testing.T) {
	backends(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		ws := domain.DefaultWorkspace
		rc := &receiver{t: t, secret: "redeliver-secret"}
		srv := httptest.NewServer(rc)
		defer srv.Close()
		kr := keyring(t)
		notify, stop := startDispatcher(st, kr)
		defer stop()
		svc := service.NewWebhooks(st, kr, notify)
		if _, err := svc.CreateWebhook(ctx, domain.Webhook{Name: "all", URL: srv.URL, Secret: "redeliver-secret"}, 0); err != nil {
			t.Fatal(err)
		}
		var ids []string
		var revs []int64
		for i := range 3 {
			rev, err := st.SetFacts(ctx, ws, domain.WorkspaceScope(), map[string]json.RawMessage{"n": json.RawMessage{byte('0' + i)}}, nil)
			if err != nil {
				t.Fatal(err)
			}
			revs = append(revs, rev)
			ids = append(ids, webhook.EventID(domain.Change{Revision: rev}))
		}
		notify()
		waitFor(t, "the first round", func() bool { _, got := rc.state(); return len(got) == 3 })

		log, err := svc.ListDeliveries(ctx, ws, "all", 0)
		if err != nil || len(log) != 3 {
			t.Fatalf("deliveries %v, %v", log, err)
		}
		tests := []struct {
			name       string
			from       int64
			deliveryID string
			want       []string // what arrives again
		}{
			{"from a revision", revs[1], "", ids[1:]},
			{"from a delivery", 0, log[0].ID, ids},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				_, before := rc.state()
				if _, err := svc.Redeliver(ctx, ws, "all", tc.from, tc.deliveryID); err != nil {
					t.Fatal(err)
				}
				waitFor(t, "the redelivery", func() bool { _, got := rc.state(); return len(got) >= len(before)+len(tc.want) })
				_, got := rc.state()
				if again := got[len(before):]; !slices.Equal(again, tc.want) {
					t.Fatalf("redelivered %v, want %v", again, tc.want)
				}
			})
		}
		if _, err := svc.Redeliver(ctx, ws, "all", 0, ""); err == nil {
			t.Fatal("Redeliver without a position succeeded")
		}
	})
}
