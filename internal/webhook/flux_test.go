package webhook_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flagops/flagops/internal/domain"
	"github.com/flagops/flagops/internal/service"
	"github.com/flagops/flagops/internal/store"
	"github.com/flagops/flagops/internal/webhook"
)

// fluxReceiver is a fake of a Flux notification-controller Receiver of
// type generic-hmac, following its handler (internal/server/
// receiver_handlers.go, handlePayload, in the notification.toolkit.fluxcd.io/v1
// API):
//
//   - validate reads the body and checks X-Signature, "sha256=" and the hex
//     HMAC of the raw body keyed by the token (github.ValidateSignature);
//     a bad signature answers 400;
//   - the resourceFilter sees the body as "req" only when Content-Type is
//     application/json (receiver_resource_filter.go, isJSONContent);
//     otherwise req is an empty map;
//   - each listed resource is then annotated for reconciliation, and when
//     any of them fails (a deleted Kustomization cannot be read) the answer
//     is 500, even though the others were annotated.
//
// The filter is a Go function standing for the Receiver's CEL expression.
type fluxReceiver struct {
	token     string
	resources []string
	filter    func(req map[string]any) bool

	mu         sync.Mutex
	missing    map[string]bool // resources deleted from the cluster
	annotated  []string        // "RESOURCE:EVENT-ID" for every reconcile requested
	headers    []http.Header
	statusCode []int
}

func (f *fluxReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	code := f.handle(r.Header, body)
	f.mu.Lock()
	f.headers = append(f.headers, r.Header.Clone())
	f.statusCode = append(f.statusCode, code)
	f.mu.Unlock()
	w.WriteHeader(code)
}

func (f *fluxReceiver) handle(h http.Header, body []byte) int {
	m := hmac.New(sha256.New, []byte(f.token))
	m.Write(body)
	if !hmac.Equal([]byte(h.Get("X-Signature")), []byte("sha256="+hex.EncodeToString(m.Sum(nil)))) {
		return http.StatusBadRequest
	}
	req := map[string]any{}
	if isJSONContent(h) {
		if err := json.Unmarshal(body, &req); err != nil {
			return http.StatusInternalServerError // "unable to create resource filter"
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	withErrors := false
	for _, res := range f.resources {
		if f.missing[res] {
			withErrors = true // "unable to request reconciliation"
			continue
		}
		if f.filter != nil && !f.filter(req) {
			continue // "NOT annotated because CEL expression returned false"
		}
		f.annotated = append(f.annotated, res+":"+h.Get("ce-id"))
	}
	if withErrors {
		return http.StatusInternalServerError
	}
	return http.StatusOK
}

// isJSONContent is notification-controller's test, as written there.
func isJSONContent(h http.Header) bool {
	for _, v := range strings.Split(h.Get("Content-type"), ",") {
		t, _, err := mime.ParseMediaType(v)
		if err != nil {
			break
		}
		if t == "application/json" {
			return true
		}
	}
	return false
}

func (f *fluxReceiver) setMissing(res string, v bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.missing[res] = v
}

func (f *fluxReceiver) annotations() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.annotated)
}

// setFact writes one workspace fact and returns its event id.
func setFact(t *testing.T, st *store.Store, key, value string) string {
	t.Helper()
	rev, err := st.SetFacts(context.Background(), domain.DefaultWorkspace, domain.WorkspaceScope(), map[string]json.RawMessage{key: json.RawMessage(value)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return webhook.EventID(domain.Change{Revision: rev})
}

func deliveryOf(t *testing.T, st *store.Store, name, event string) (domain.Delivery, bool) {
	t.Helper()
	log, err := st.ListDeliveries(context.Background(), domain.DefaultWorkspace, name, 100)
	if err != nil {
		t.Fatal(err)
	}
	var last domain.Delivery
	found := false
	for _, d := range log {
		if webhook.EventID(domain.Change{Revision: d.Revision, Seq: d.Seq}) == event {
			last, found = d, true
		}
	}
	return last, found
}

// TestFluxReceiverFailureIsParked: issue 17.9. A Receiver whose listed
// Kustomization was deleted answers 500 to every event; the dispatcher
// gives up on the event after its retry budget, parks it (the delivery log
// says so), delivers the next events, and a redelivery from the parked
// delivery sends it again once the Receiver is fixed.
func TestFluxReceiverFailureIsParked(t *testing.T) {
	for _, budget := range []struct {
		name        string
		maxAttempts int
		giveUpAfter time.Duration
	}{
		{"by attempts", 3, -1},
		{"by time", 0, 200 * time.Millisecond},
	} {
		t.Run(budget.name, func(t *testing.T) { testParked(t, budget.maxAttempts, budget.giveUpAfter) })
	}
}

func testParked(t *testing.T, maxAttempts int, giveUpAfter time.Duration) {
	backends(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		rc := &fluxReceiver{token: "flux-receiver-token", resources: []string{"GitRepository/flux-system", "Kustomization/apps"},
			missing: map[string]bool{"Kustomization/apps": true}}
		srv := httptest.NewServer(rc)
		defer srv.Close()
		kr := keyring(t)
		d := webhook.NewDispatcher(st, webhook.Options{Keyring: kr, Backoff: webhook.Backoff{Base: time.Millisecond, Max: 2 * time.Millisecond},
			MaxAttempts: maxAttempts, GiveUpAfter: giveUpAfter, PollInterval: 20 * time.Millisecond, Logger: quiet})
		runCtx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { defer close(done); d.Run(runCtx) }()
		defer func() { cancel(); <-done }()
		svc := service.NewWebhooks(st, kr, func() { d.Notify(0) })
		if _, err := svc.CreateWebhook(ctx, domain.Webhook{Name: "flux", URL: srv.URL, Type: domain.WebhookFlux, Secret: "flux-receiver-token"}, 0); err != nil {
			t.Fatal(err)
		}
		first := setFact(t, st, "image.tag", `"1.0"`)
		d.Notify(0)
		var parked domain.Delivery
		waitFor(t, "the failing event to be parked", func() bool {
			var ok bool
			parked, ok = deliveryOf(t, st, "flux", first)
			return ok && parked.Status == domain.DeliveryParked
		})
		if (maxAttempts > 0 && parked.Attempts != maxAttempts) || parked.ResponseCode != http.StatusInternalServerError || !strings.Contains(parked.LastError, "500") {
			t.Fatalf("parked delivery %+v: want its attempts ending in 500", parked)
		}

		rc.setMissing("Kustomization/apps", false) // the operator restores the Kustomization
		second := setFact(t, st, "image.tag", `"1.1"`)
		d.Notify(0)
		waitFor(t, "the next event to be delivered", func() bool {
			rec, ok := deliveryOf(t, st, "flux", second)
			return ok && rec.Status == domain.DeliverySucceeded
		})

		if _, err := svc.Redeliver(ctx, domain.DefaultWorkspace, "flux", 0, parked.ID); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the parked event to arrive on redelivery", func() bool {
			return slices.Contains(rc.annotations(), "Kustomization/apps:"+first)
		})
		// The Receiver may see the event just before its success is recorded.
		waitFor(t, "the redelivered event recorded as succeeded", func() bool {
			rec, _ := deliveryOf(t, st, "flux", first)
			return rec.Status == domain.DeliverySucceeded
		})
	})
}

// TestFluxBinaryMode: issue 17.9. The Flux preset sends CloudEvents in
// binary mode, so that a Receiver's resourceFilter sees the change (only an
// application/json body is decoded for it); the attributes travel as ce-*
// headers and the signature covers the body sent.
func TestFluxBinaryMode(t *testing.T) {
	backends(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		// The Receiver reconciles only for image tag changes, as a
		// resourceFilter of req.kind == 'fact' && req.key.endsWith(':image.tag').
		rc := &fluxReceiver{token: "flux-receiver-token", resources: []string{"Kustomization/apps"}, missing: map[string]bool{},
			filter: func(req map[string]any) bool {
				k, _ := req["key"].(string)
				return req["kind"] == "fact" && strings.HasSuffix(k, ":image.tag")
			}}
		srv := httptest.NewServer(rc)
		defer srv.Close()
		kr := keyring(t)
		notify, stop := startDispatcher(st, kr)
		defer stop()
		if _, err := st.CreateWebhook(ctx, kr, domain.Webhook{Workspace: domain.DefaultWorkspace, Name: "flux", URL: srv.URL,
			Type: domain.WebhookFlux, Secret: "flux-receiver-token"}, 0); err != nil {
			t.Fatal(err)
		}
		other := setFact(t, st, "region", `"eu"`)
		tag := setFact(t, st, "image.tag", `"1.2"`)
		notify()
		waitFor(t, "both events", func() bool {
			rec, ok := deliveryOf(t, st, "flux", tag)
			return ok && rec.Status == domain.DeliverySucceeded
		})
		if got := rc.annotations(); !slices.Equal(got, []string{"Kustomization/apps:" + tag}) {
			t.Fatalf("reconciles requested %v, want only for the image tag event %s (not %s)", got, tag, other)
		}
		rc.mu.Lock()
		h := rc.headers[len(rc.headers)-1]
		rc.mu.Unlock()
		for _, tc := range []struct{ header, want string }{
			{"Content-Type", "application/json"},
			{"ce-specversion", "1.0"},
			{"ce-id", tag},
			{"ce-type", "dev.flagops.fact.created"},
			{"ce-source", "/flagops/workspaces/default"},
			{"ce-subject", "workspace:image.tag"},
		} {
			t.Run(tc.header, func(t *testing.T) {
				if got := h.Get(tc.header); got != tc.want {
					t.Errorf("%s = %q, want %q", tc.header, got, tc.want)
				}
			})
		}
	})
}

// TestEmptySubjectOmitted: issue 17.9. CloudEvents forbids an empty
// subject; an event without one carries no subject attribute in either mode.
func TestEmptySubjectOmitted(t *testing.T) {
	ev := webhook.NewEvent("/flagops/workspaces/default", domain.Change{Revision: 7, Kind: "fact", Op: domain.OpUpdate})
	for _, typ := range []string{domain.WebhookGeneric, domain.WebhookFlux} {
		t.Run(typ, func(t *testing.T) {
			req, err := webhook.Request(domain.Webhook{Name: "w", URL: "http://127.0.0.1/hook", Type: typ, Secret: "s"}, ev, "d1", time.Now())
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(req.Body)
			if _, ok := req.Header["Ce-Subject"]; ok {
				t.Error("an empty ce-subject header was sent")
			}
			if bytes.Contains(body, []byte(`"subject"`)) {
				t.Errorf("body %s holds an empty subject", body)
			}
		})
	}
}
