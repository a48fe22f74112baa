package storetest

import (
	"errors"
	"strings"
	"testing"

	"github.com/flagops/flagops/internal/domain"
	"github.com/flagops/flagops/internal/errs"
	"github.com/flagops/flagops/internal/store"
)

// testWebhooks covers subscriptions, cursors, the delivery log and follower
// cursors: the secret never reaches the change log, cursor moves append
// nothing, and a stale cursor advance is refused.
func testWebhooks(t *testing.T, h *harness) {
	kr := keyring(t)
	w, err := h.s.CreateWebhook(h.ctx, kr, domain.Webhook{Workspace: ws, Name: "audit", URL: "http://127.0.0.1/x",
		Type: domain.WebhookGeneric, Secret: "top-secret-value", Filter: domain.WebhookFilter{Kinds: []string{"fact"}}}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if w.Cursor != domain.CursorAfterRevision(w.Revision) {
		t.Fatalf("cursor %+v, want after the creating revision %d", w.Cursor, w.Revision)
	}
	_, err = h.s.CreateWebhook(h.ctx, kr, domain.Webhook{Workspace: ws, Name: "audit", URL: "http://x", Type: "generic", Secret: "s"}, 0)
	wantKind(t, err, errs.AlreadyExists, "")
	cs := h.since(w.Revision - 1)
	if len(cs) != 1 || cs[0].Kind != domain.KindWebhook || strings.Contains(string(cs[0].After), "top-secret") {
		t.Fatalf("webhook changes %+v: want one create without the secret", cs)
	}
	got, err := h.s.GetWebhook(h.ctx, ws, "audit")
	if err != nil || got.Secret != "" || got.SealedSecret == "" || got.Filter.Kinds[0] != "fact" {
		t.Fatalf("GetWebhook = %+v, %v; want the secret sealed only", got, err)
	}
	if v, err := h.s.OpenWebhookSecret(kr, got); err != nil || string(v) != "top-secret-value" {
		t.Fatalf("OpenWebhookSecret = %v; want the created secret", err)
	}
	rev := h.rev()
	to := domain.Cursor{Revision: rev, Seq: 0}
	tests := []struct {
		name     string
		from, to domain.Cursor
		want     bool
	}{
		{"advance from the stored cursor", got.Cursor, to, true},
		{"stale advance refused", got.Cursor, domain.CursorAfterRevision(rev), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ok, err := h.s.AdvanceWebhookCursor(h.ctx, ws, "audit", tc.from, tc.to)
			if err != nil || ok != tc.want {
				t.Fatalf("AdvanceWebhookCursor = %v, %v; want %v", ok, err, tc.want)
			}
		})
	}
	if h.rev() != rev {
		t.Fatal("moving a cursor appended to the change log")
	}
	if err := h.s.SetWebhookCursor(h.ctx, ws, "nope", to); !errors.Is(err, errs.NotFound) {
		t.Fatalf("SetWebhookCursor of a missing webhook = %v", err)
	}

	d, err := h.s.SaveDelivery(h.ctx, ws, domain.Delivery{Webhook: "audit", Revision: rev, Seq: 0, EventType: "t", Status: domain.DeliveryRetrying})
	if err != nil || d.ID == "" {
		t.Fatalf("SaveDelivery = %+v, %v", d, err)
	}
	d.Attempts, d.Status, d.ResponseCode, d.LastError = 2, domain.DeliverySucceeded, 200, "boom"
	if _, err := h.s.SaveDelivery(h.ctx, ws, d); err != nil {
		t.Fatal(err)
	}
	latest, ok, err := h.s.LatestDelivery(h.ctx, ws, "audit", rev, 0)
	if err != nil || !ok || latest.Attempts != 2 || latest.Status != domain.DeliverySucceeded || latest.LastError != "boom" {
		t.Fatalf("LatestDelivery = %+v, %v, %v", latest, ok, err)
	}
	for range store.MaxDeliveries + 5 {
		if _, err := h.s.SaveDelivery(h.ctx, ws, domain.Delivery{Webhook: "audit", Revision: rev, EventType: "t", Status: domain.DeliveryRetrying}); err != nil {
			t.Fatal(err)
		}
	}
	if all, err := h.s.ListDeliveries(h.ctx, ws, "audit", 5000); err != nil || len(all) != store.MaxDeliveries {
		t.Fatalf("ListDeliveries kept %d records (%v), want the newest %d", len(all), err, store.MaxDeliveries)
	}
	if err := h.s.DeleteWebhook(h.ctx, ws, "audit"); err != nil {
		t.Fatal(err)
	}
	if _, err := h.s.GetWebhook(h.ctx, ws, "audit"); !errors.Is(err, errs.NotFound) {
		t.Fatalf("GetWebhook after delete = %v", err)
	}
	if all, _ := h.s.ListDeliveries(h.ctx, ws, "audit", 10); len(all) != 0 {
		t.Fatal("the delivery log outlived its webhook")
	}

	fh, err := h.s.CreateFactHook(h.ctx, domain.FactHook{Workspace: ws, Name: "cms", Scopes: []string{"deployment/*@eu-1", "environment/prod"}, TokenHash: []byte{1, 2, 3}})
	if err != nil {
		t.Fatal(err)
	}
	if cs := h.since(fh.Revision - 1); len(cs) != 1 || strings.Contains(string(cs[0].After), "Hash") {
		t.Fatalf("fact hook changes %+v", cs)
	}
	if got, err := h.s.GetFactHook(h.ctx, ws, "cms"); err != nil || string(got.TokenHash) != "\x01\x02\x03" ||
		strings.Join(got.Scopes, " ") != "deployment/*@eu-1 environment/prod" {
		t.Fatalf("GetFactHook = %+v, %v", got, err)
	}
	if list, err := h.s.ListFactHooks(h.ctx, ws); err != nil || len(list) != 1 {
		t.Fatalf("ListFactHooks = %v, %v", list, err)
	}
	if err := h.s.DeleteFactHook(h.ctx, ws, "cms"); err != nil {
		t.Fatal(err)
	}
	wantKind(t, h.s.DeleteFactHook(h.ctx, ws, "cms"), errs.NotFound, "")

	if _, ok, err := h.s.FollowerCursor(h.ctx, "gitwrite/x"); ok || err != nil {
		t.Fatalf("FollowerCursor of a new follower = %v, %v", ok, err)
	}
	for _, c := range []domain.Cursor{{Revision: 3, Seq: 1}, domain.CursorAfterRevision(7)} {
		if err := h.s.SetFollowerCursor(h.ctx, "gitwrite/x", c); err != nil {
			t.Fatal(err)
		}
		if got, ok, err := h.s.FollowerCursor(h.ctx, "gitwrite/x"); !ok || err != nil || got != c {
			t.Fatalf("FollowerCursor = %+v, %v, %v; want %+v", got, ok, err, c)
		}
	}
}
