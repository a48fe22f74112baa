package auth

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	flagopsv1 "github.com/flagops/flagops/gen/flagops/v1"
	"github.com/flagops/flagops/internal/domain"
	"github.com/flagops/flagops/internal/errs"
)

// fakeKeys is a hand-written KeyStore: keys by token hash, read afresh on
// every call as the real store does.
type fakeKeys struct {
	mu      sync.Mutex
	keys    map[string]domain.APIKey
	touched int
	lookups int
}

func (f *fakeKeys) APIKeyByHash(_ context.Context, hash string) (domain.APIKey, string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lookups++
	k, ok := f.keys[hash]
	if !ok {
		return domain.APIKey{}, "", errs.New(errs.NotFound, "api key")
	}
	return k, hash, nil
}

func (f *fakeKeys) TouchAPIKey(_ context.Context, id string, at time.Time, _ time.Duration) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.touched++
	for h, k := range f.keys {
		if k.ID == id {
			k.LastUsedAt = at
			f.keys[h] = k
		}
	}
	return nil
}

func (f *fakeKeys) GetTarget(_ context.Context, ws, name string) (domain.Target, error) {
	if name == "eu-1" {
		return domain.Target{Environment: "prod"}, nil
	}
	return domain.Target{}, errs.New(errs.NotFound, "target %q", name)
}

func (f *fakeKeys) update(token string, fn func(*domain.APIKey)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	k := f.keys[HashToken(token)]
	fn(&k)
	f.keys[HashToken(token)] = k
}

func bearer(token string) http.Header {
	h := http.Header{}
	h.Set("Authorization", "Bearer "+token)
	return h
}

func mustBinding(t *testing.T, s string) domain.Binding {
	t.Helper()
	b, err := domain.ParseBinding(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestTokens(t *testing.T) {
	a, b := NewToken(), NewToken()
	if a == b || !strings.HasPrefix(a, TokenPrefix) || len(a) != len(TokenPrefix)+tokenLen || !wellFormed(a) {
		t.Fatalf("tokens %q %q", a, b)
	}
	if HashToken(a) == HashToken(b) || len(HashToken(a)) != 64 {
		t.Fatal("hashes")
	}
	for _, bad := range []string{"", "fo_", "xx_" + a[3:], a + "x", a[:len(a)-1] + "!"} {
		if wellFormed(bad) {
			t.Errorf("%q is well formed", bad)
		}
	}
	if !hashesEqual(HashToken(a), HashToken(a)) || hashesEqual(HashToken(a), HashToken(b)) || hashesEqual(HashToken(a), "") {
		t.Error("hashesEqual")
	}
}

func TestAuthenticate(t *testing.T) {
	token, other := NewToken(), NewToken()
	st := &fakeKeys{keys: map[string]domain.APIKey{
		HashToken(token): {ID: "k1", Name: "ci", Bindings: []domain.Binding{mustBinding(t, "viewer")}},
	}}
	var logs bytes.Buffer
	a := NewAuthenticator(st, slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})), false)
	clock := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	a.now = func() time.Time { return clock }
	ctx := context.Background()

	tests := []struct {
		name   string
		header http.Header
		actor  string
		kind   error
	}{
		{"no header is anonymous", http.Header{}, Anonymous, nil},
		{"valid key", bearer(token), "key/ci", nil},
		{"unknown key", bearer(other), "", errs.Unauthenticated},
		{"not a token", bearer("hunter2"), "", errs.Unauthenticated},
		{"basic auth", http.Header{"Authorization": {"Basic " + token}}, "", errs.Unauthenticated},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := a.Authenticate(ctx, tt.header)
			if errs.KindOf(err) != tt.kind || (err == nil && p.Actor != tt.actor) {
				t.Fatalf("got %q, %v; want %q, %v", p.Actor, err, tt.actor, tt.kind)
			}
			if err != nil && strings.Contains(err.Error(), token) {
				t.Fatalf("error repeats the token: %v", err)
			}
		})
	}

	t.Run("last use is written at most once a minute", func(t *testing.T) {
		st.touched = 0
		st.update(token, func(k *domain.APIKey) { k.LastUsedAt = time.Time{} })
		for range 10 {
			if _, err := a.Authenticate(ctx, bearer(token)); err != nil {
				t.Fatal(err)
			}
		}
		clock = clock.Add(30 * time.Second)
		_, _ = a.Authenticate(ctx, bearer(token))
		if st.touched != 1 {
			t.Fatalf("touched %d times within a minute, want 1", st.touched)
		}
		clock = clock.Add(31 * time.Second)
		_, _ = a.Authenticate(ctx, bearer(token))
		if st.touched != 2 {
			t.Fatalf("touched %d times after a minute, want 2", st.touched)
		}
	})

	t.Run("revoked and expired keys are refused at once", func(t *testing.T) {
		if _, err := a.Authenticate(ctx, bearer(token)); err != nil {
			t.Fatal(err)
		}
		st.update(token, func(k *domain.APIKey) { k.ExpiresAt = clock })
		if _, err := a.Authenticate(ctx, bearer(token)); !errors.Is(err, errs.Unauthenticated) || !strings.Contains(err.Error(), "expired") {
			t.Fatalf("expired key: %v", err)
		}
		st.update(token, func(k *domain.APIKey) { k.ExpiresAt = clock.Add(time.Hour) })
		if _, err := a.Authenticate(ctx, bearer(token)); err != nil {
			t.Fatalf("key valid again: %v", err)
		}
		st.update(token, func(k *domain.APIKey) { k.RevokedAt = clock })
		if _, err := a.Authenticate(ctx, bearer(token)); !errors.Is(err, errs.Unauthenticated) || !strings.Contains(err.Error(), "revoked") {
			t.Fatalf("revoked key: %v", err)
		}
	})

	if strings.Contains(logs.String(), token) || strings.Contains(logs.String(), HashToken(token)) {
		t.Fatalf("a token or its hash was logged:\n%s", logs.String())
	}
}

// lyingKeys returns a key whose stored hash is not the presented token's:
// Authenticate must compare the hashes itself, not trust the lookup.
type lyingKeys struct{ fakeKeys }

func (l *lyingKeys) APIKeyByHash(_ context.Context, hash string) (domain.APIKey, string, error) {
	return domain.APIKey{ID: "k", Name: "k"}, HashToken("another token"), nil
}

func TestAuthenticateComparesHashes(t *testing.T) {
	a := NewAuthenticator(&lyingKeys{}, nil, false)
	if _, err := a.Authenticate(context.Background(), bearer(NewToken())); !errors.Is(err, errs.Unauthenticated) {
		t.Fatalf("a lookup returning another key's hash was trusted: %v", err)
	}
}

func TestAuthenticateInsecure(t *testing.T) {
	a := NewAuthenticator(&fakeKeys{}, nil, true)
	h := http.Header{}
	h.Set(ActorHeader, "alice")
	p, err := a.Authenticate(context.Background(), h)
	if err != nil || p.Actor != "alice" || !p.Insecure {
		t.Fatalf("%+v %v", p, err)
	}
	if err := Authorize(WithPrincipal(context.Background(), p), "/flagops.v1.SecretService/GetSecret", &flagopsv1.GetSecretRequest{Scope: "workspace", Key: "a"}); err != nil {
		t.Fatalf("insecure mode denies: %v", err)
	}
}

func TestAuthorize(t *testing.T) {
	st := &fakeKeys{}
	a := &Authenticator{store: st}
	principal := func(bindings ...string) context.Context {
		k := domain.APIKey{ID: "k", Name: "k"}
		for _, b := range bindings {
			k.Bindings = append(k.Bindings, mustBinding(t, b))
		}
		return WithPrincipal(context.Background(), Principal{Actor: "key/k", Key: k, envOf: a.targetEnv})
	}
	getSecret := func(scope string) *flagopsv1.GetSecretRequest {
		return &flagopsv1.GetSecretRequest{Scope: scope, Key: "dbPassword"}
	}
	tests := []struct {
		name string
		ctx  context.Context
		proc string
		req  any
		kind error
	}{
		{"anonymous on a public route", context.Background(), "GET /healthz", nil, nil},
		{"anonymous elsewhere", context.Background(), "GET /metrics", nil, errs.Unauthenticated},
		{"unknown procedure is denied", principal("admin"), "/flagops.v1.Nope/Nope", nil, errs.Denied},
		{"admin reads a secret", principal("admin"), "/flagops.v1.SecretService/GetSecret", getSecret("deployment/shop@eu-1"), nil},
		{"viewer may not read a value", principal("viewer"), "/flagops.v1.SecretService/GetSecret", getSecret("deployment/shop@eu-1"), errs.Denied},
		{"viewer lists secrets", principal("viewer"), "/flagops.v1.SecretService/ListSecrets", &flagopsv1.ListSecretsRequest{}, nil},
		{"editor may not read a value", principal("editor"), "/flagops.v1.SecretService/GetSecret", getSecret("workspace"), errs.Denied},
		{"editor writes a secret", principal("editor"), "/flagops.v1.SecretService/PutSecret", &flagopsv1.PutSecretRequest{Scope: "workspace", Key: "a"}, nil},
		{"secret-reader at the project", principal("secret-reader@project/shop"), "/flagops.v1.SecretService/GetSecret", getSecret("deployment/shop@eu-1"), nil},
		{"secret-reader at another project", principal("secret-reader@project/cart"), "/flagops.v1.SecretService/GetSecret", getSecret("deployment/shop@eu-1"), errs.Denied},
		{"secret-reader at the target's environment", principal("secret-reader@environment/prod"), "/flagops.v1.SecretService/GetSecret", getSecret("deployment/shop@eu-1"), nil},
		{"secret-reader at another environment", principal("secret-reader@environment/dev"), "/flagops.v1.SecretService/GetSecret", getSecret("deployment/shop@eu-1"), errs.Denied},
		{"secret-reader at the target", principal("secret-reader@target/eu-1"), "/flagops.v1.SecretService/GetSecret", getSecret("deployment/shop@eu-1"), nil},
		{"project binding does not cover the workspace", principal("secret-reader@project/shop"), "/flagops.v1.SecretService/GetSecret", getSecret("workspace"), errs.Denied},
		{"other workspace", principal("other:admin"), "/flagops.v1.SecretService/GetSecret", getSecret("workspace"), errs.Denied},
		{"every workspace", principal("*:admin"), "/flagops.v1.AccessService/ListKeys", &flagopsv1.ListKeysRequest{}, nil},
		{"workspace admin may not manage keys server-wide", principal("admin"), "/flagops.v1.AccessService/ListKeys", &flagopsv1.ListKeysRequest{}, errs.Denied},
		{"evaluator reads no facts", principal("evaluator@environment/prod"), "/flagops.v1.FactService/GetFacts", &flagopsv1.GetFactsRequest{Scope: "environment/prod"}, errs.Denied},
		{"agent resolves its target", principal("agent@target/eu-1"), "/flagops.v1.FactService/ResolveFacts", &flagopsv1.ResolveFactsRequest{Project: "shop", Target: "eu-1"}, nil},
		{"agent reads its target", principal("agent@target/eu-1"), "/flagops.v1.CatalogService/GetTarget", &flagopsv1.GetTargetRequest{Name: "eu-1"}, nil},
		{"agent reads no other target", principal("agent@target/eu-1"), "/flagops.v1.CatalogService/GetTarget", &flagopsv1.GetTargetRequest{Name: "us-1"}, errs.Denied},
		{"agent lists no targets", principal("agent@target/eu-1"), "/flagops.v1.CatalogService/ListTargets", &flagopsv1.ListTargetsRequest{}, errs.Denied},
		{"whoami needs only a key", principal("evaluator@environment/prod"), "/flagops.v1.AccessService/WhoAmI", &flagopsv1.WhoAmIRequest{}, nil},
		{"bulk write needs every scope", principal("editor@project/shop"), "/flagops.v1.FactService/BulkSetFacts", &flagopsv1.BulkSetFactsRequest{Entries: []*flagopsv1.FactsEntry{{Scope: "project/shop"}, {Scope: "project/cart"}}}, errs.Denied},
		{"granting needs access over the binding", principal("admin@project/shop"), "/flagops.v1.AccessService/CreateKey", &flagopsv1.CreateKeyRequest{Name: "x", Bindings: []*flagopsv1.Binding{{Role: "viewer", Scope: "workspace"}}}, errs.Denied},
		{"granting inside the binding", principal("admin@project/shop"), "/flagops.v1.AccessService/CreateKey", &flagopsv1.CreateKeyRequest{Name: "x", Bindings: []*flagopsv1.Binding{{Role: "viewer", Scope: "project/shop"}}}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Authorize(tt.ctx, tt.proc, tt.req)
			if errs.KindOf(err) != tt.kind {
				t.Fatalf("got %v, want kind %v", err, tt.kind)
			}
		})
	}
}
