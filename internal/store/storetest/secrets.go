package storetest

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flagops/flagops/internal/domain"
	"github.com/flagops/flagops/internal/errs"
	"github.com/flagops/flagops/internal/secrets"
	"github.com/flagops/flagops/internal/store"
)

func keyring(t *testing.T) *secrets.Keyring {
	t.Helper()
	kr, err := secrets.OpenKeyFile(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return kr
}

// shopCatalog makes environment prod, target eu-1 and project shop.
func (h *harness) shopCatalog() {
	h.env("prod")
	h.target("eu-1", "prod")
	h.project("shop", []string{"prod"}, nil)
}

func testSecrets(t *testing.T, h *harness) {
	h.shopCatalog()
	kr := keyring(t)
	ctx := domain.WithOrigin(h.ctx, domain.Origin{Actor: "alice", RequestID: "r1"})
	dep := domain.DeploymentScope("shop", "eu-1")
	put := func(v string, cas *int64) (domain.Secret, error) {
		return h.s.PutSecret(ctx, kr, ws, dep, "dbPassword", []byte(v), cas)
	}
	read := func(version int64) (string, error) {
		v, _, err := h.s.ReadSecret(ctx, kr, ws, dep, "dbPassword", version)
		return string(v), err
	}
	start := h.rev()

	s1, err := put("one", ptr(0))
	if err != nil || s1.Version != 1 || !strings.HasPrefix(s1.Fingerprint, "hmac-sha256:") {
		t.Fatalf("first put: %+v %v", s1, err)
	}
	_, err = put("two", ptr(0))
	wantKind(t, err, errs.Conflict, "")
	s2, err := put("two", ptr(1))
	if err != nil || s2.Version != 2 || s2.Fingerprint == s1.Fingerprint {
		t.Fatalf("second put: %+v %v", s2, err)
	}
	same, err := put("two", nil)
	if err != nil || same.Version != 2 {
		t.Fatalf("same value again: %+v %v", same, err)
	}
	for _, tt := range []struct {
		version int64
		want    string
	}{{0, "two"}, {1, "one"}, {2, "two"}} {
		if got, err := read(tt.version); err != nil || got != tt.want {
			t.Fatalf("read version %d: %q %v", tt.version, got, err)
		}
	}
	_, err = read(3)
	wantKind(t, err, errs.NotFound, "")

	vs, err := h.s.SecretVersions(h.ctx, ws, dep, "dbPassword")
	if err != nil || len(vs) != 2 || vs[0].CreatedBy != "alice" || vs[1].Fingerprint != s2.Fingerprint {
		t.Fatalf("versions: %+v %v", vs, err)
	}

	_, err = h.s.DeleteSecret(ctx, ws, dep, "dbPassword", ptr(1))
	wantKind(t, err, errs.Conflict, "")
	if d, err := h.s.DeleteSecret(ctx, ws, dep, "dbPassword", ptr(2)); err != nil || !d.Deleted {
		t.Fatalf("delete: %+v %v", d, err)
	}
	_, err = read(0)
	wantKind(t, err, errs.NotFound, "")
	if r, err := h.s.ResolveSecrets(h.ctx, ws, "shop", "eu-1"); err != nil || len(r) != 0 {
		t.Fatalf("a deleted secret resolves: %+v %v", r, err)
	}
	if _, err := h.s.RestoreSecret(ctx, ws, dep, "dbPassword"); err != nil {
		t.Fatal(err)
	}
	if got, err := read(0); err != nil || got != "two" {
		t.Fatalf("read after restore: %q %v", got, err)
	}
	if _, err := h.s.DestroySecretVersion(ctx, ws, dep, "dbPassword", 1); err != nil {
		t.Fatal(err)
	}
	_, err = read(1)
	wantKind(t, err, errs.NotFound, "")
	_, err = h.s.DestroySecretVersion(ctx, ws, dep, "dbPassword", 9)
	wantKind(t, err, errs.NotFound, "")

	_, err = h.s.PutSecret(ctx, kr, ws, domain.DeploymentScope("shop", "nowhere"), "k", []byte("x"), nil)
	if err == nil {
		t.Fatal("a secret on a missing deployment was stored")
	}

	// The change log holds states only.
	var kinds []string
	for _, c := range h.since(start) {
		kinds = append(kinds, string(c.Op))
		if c.Kind != domain.KindSecret || c.Key != "deployment/shop@eu-1:dbPassword" {
			t.Errorf("change %+v", c)
		}
		for _, b := range [][]byte{c.Before, c.After} {
			if bytes.Contains(b, []byte("one")) || bytes.Contains(b, []byte("two")) {
				t.Errorf("a value in the change log: %s", b)
			}
		}
	}
	if got := strings.Join(kinds, " "); got != "create update delete update update" {
		t.Errorf("secret change ops: %s", got)
	}

	reads, err := h.s.SecretReads(h.ctx, store.SecretReadQuery{Workspace: ws, Scope: dep.String(), Key: "dbPassword"})
	if err != nil || len(reads) != 4 || reads[0].Actor != "alice" || reads[0].Version != 2 || reads[0].RequestID != "r1" {
		t.Fatalf("audit: %+v %v", reads, err)
	}
}

func testResolveSecrets(t *testing.T, h *harness) {
	h.shopCatalog()
	kr := keyring(t)
	for _, p := range []struct {
		sc       domain.Scope
		key, val string
	}{
		{domain.WorkspaceScope(), "a", "ws"},
		{domain.EnvironmentScope("prod"), "a", "env"},
		{domain.EnvironmentScope("prod"), "b", "env"},
		{domain.DeploymentScope("shop", "eu-1"), "b", "dep"},
		{domain.ProjectScope("shop"), "c", "proj"},
	} {
		if _, err := h.s.PutSecret(h.ctx, kr, ws, p.sc, p.key, []byte(p.val), nil); err != nil {
			t.Fatal(err)
		}
	}
	got, err := h.s.ResolveSecrets(h.ctx, ws, "shop", "eu-1")
	if err != nil {
		t.Fatal(err)
	}
	var parts []string
	for _, r := range got {
		parts = append(parts, r.Key+"="+r.Source)
	}
	if want := "a=environment/prod b=deployment/shop@eu-1 c=project/shop"; strings.Join(parts, " ") != want {
		t.Fatalf("resolved %v, want %s", parts, want)
	}
}

func testAPIKeys(t *testing.T, h *harness) {
	if n, err := h.s.CountAPIKeys(h.ctx); err != nil || n != 0 {
		t.Fatalf("count: %d %v", n, err)
	}
	admin := domain.Binding{Role: domain.RoleAdmin, Workspace: domain.AllWorkspaces, Scope: domain.WorkspaceScope()}
	k, err := h.s.CreateAPIKey(h.ctx, domain.APIKey{ID: "k1", Name: "boot", Bindings: []domain.Binding{admin}}, "hash1", true)
	if err != nil || k.Revision == 0 {
		t.Fatalf("bootstrap: %+v %v", k, err)
	}
	_, err = h.s.CreateAPIKey(h.ctx, domain.APIKey{ID: "k2", Name: "boot2", Bindings: []domain.Binding{admin}}, "hash2", true)
	wantKind(t, err, errs.FailedPrecondition, "")
	_, err = h.s.CreateAPIKey(h.ctx, domain.APIKey{ID: "k3", Name: "boot", Bindings: []domain.Binding{admin}}, "hash3", false)
	wantKind(t, err, errs.AlreadyExists, "")

	got, hash, err := h.s.APIKeyByHash(h.ctx, "hash1")
	if err != nil || got.Name != "boot" || hash != "hash1" || len(got.Bindings) != 1 || got.Bindings[0] != admin {
		t.Fatalf("by hash: %+v %q %v", got, hash, err)
	}
	_, _, err = h.s.APIKeyByHash(h.ctx, "nope")
	wantKind(t, err, errs.NotFound, "")

	at := time.Now()
	if err := h.s.TouchAPIKey(h.ctx, "k1", at, time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := h.s.TouchAPIKey(h.ctx, "k1", at.Add(time.Second), time.Minute); err != nil {
		t.Fatal(err)
	}
	got, _ = h.s.GetAPIKey(h.ctx, "boot")
	if !got.LastUsedAt.Equal(time.Unix(0, at.UnixNano()).UTC()) {
		t.Fatalf("last used %v, want %v (touched at most once a minute)", got.LastUsedAt, at)
	}
	revoked, err := h.s.RevokeAPIKey(h.ctx, "k1")
	if err != nil || revoked.RevokedAt.IsZero() {
		t.Fatalf("revoke: %+v %v", revoked, err)
	}
	got, _, _ = h.s.APIKeyByHash(h.ctx, "hash1")
	if got.Usable(time.Now()) {
		t.Fatal("a revoked key is usable")
	}
	for _, c := range h.since(0) {
		if c.Kind == domain.KindAPIKey && (bytes.Contains(c.After, []byte("hash1")) || bytes.Contains(c.Before, []byte("hash1"))) {
			t.Fatalf("the token hash is in the change log: %s", c.After)
		}
	}
}

// testRotationUnderLoad rotates the master key while writers store new
// versions and readers read them, then checks every version ever written
// still reads back as written and the old key is retired.
func testRotationUnderLoad(t *testing.T, h *harness) {
	h.shopCatalog()
	kr := keyring(t)
	const keys, writers, readers = 8, 4, 4
	sc := domain.ProjectScope("shop")
	var mu sync.Mutex
	written := map[string]map[int64]string{} // key → version → value
	record := func(key string, v int64, val string) {
		mu.Lock()
		defer mu.Unlock()
		if written[key] == nil {
			written[key] = map[int64]string{}
		}
		written[key][v] = val
	}
	for i := range keys {
		k := fmt.Sprintf("k%d", i)
		s, err := h.s.PutSecret(h.ctx, kr, ws, sc, k, []byte(k+"-0"), nil)
		if err != nil {
			t.Fatal(err)
		}
		record(k, s.Version, k+"-0")
	}
	oldKey := kr.ActiveID()
	ctx, cancel := context.WithCancel(h.ctx)
	var wg sync.WaitGroup
	var failures atomic.Int64
	var ops atomic.Int64
	fail := func(format string, args ...any) {
		if failures.Add(1) <= 5 {
			t.Errorf(format, args...)
		}
	}
	for w := range writers {
		wg.Go(func() {
			for n := 1; ctx.Err() == nil; n++ {
				k := fmt.Sprintf("k%d", (w+n)%keys)
				val := fmt.Sprintf("%s-w%d-%d", k, w, n)
				s, err := h.s.PutSecret(h.ctx, kr, ws, sc, k, []byte(val), nil)
				if err != nil {
					fail("put %s: %v", k, err)
					return
				}
				record(k, s.Version, val)
				ops.Add(1)
			}
		})
	}
	for r := range readers {
		wg.Go(func() {
			for n := 0; ctx.Err() == nil; n++ {
				k := fmt.Sprintf("k%d", (r+n)%keys)
				v, _, err := h.s.ReadSecret(h.ctx, kr, ws, sc, k, 0)
				if err != nil {
					fail("read %s during rotation: %v", k, err)
					return
				}
				if !strings.HasPrefix(string(v), k+"-") {
					fail("read %s: got another secret's value", k)
				}
				ops.Add(1)
			}
		})
	}
	time.Sleep(50 * time.Millisecond)
	newKey, err := kr.Rotate()
	if err != nil {
		t.Fatal(err)
	}
	moved, err := h.s.RewrapSecrets(h.ctx, kr)
	if err != nil {
		t.Fatalf("rewrap: %v", err)
	}
	var users int
	for range 10 {
		if users, err = h.s.RetireMasterKey(h.ctx, kr, oldKey); err != nil {
			t.Fatalf("retire: %v", err)
		}
		if users == 0 {
			break
		}
		n, err := h.s.RewrapSecrets(h.ctx, kr)
		if err != nil {
			t.Fatalf("rewrap again: %v", err)
		}
		moved += n
	}
	if users != 0 {
		t.Fatalf("old key still used by %d records", users)
	}
	time.Sleep(50 * time.Millisecond) // keep the load on after the retirement
	cancel()
	wg.Wait()
	if failures.Load() > 0 {
		t.FailNow()
	}
	if got := kr.KeyIDs(); len(got) != 1 || got[0] != newKey {
		t.Fatalf("keys after rotation %v, want only %s", got, newKey)
	}
	total := 0
	for k, versions := range written {
		for v, want := range versions {
			got, _, err := h.s.ReadSecret(h.ctx, kr, ws, sc, k, v)
			if err != nil || string(got) != want {
				t.Fatalf("after rotation %s version %d: %q, %v; want %q", k, v, got, err, want)
			}
			total++
		}
	}
	t.Logf("%d operations during rotation; %d records re-wrapped; %d versions read back intact", ops.Load(), moved, total)
}

// testDeleteWorkspaceWithSecrets: a workspace holding secrets is not empty;
// forcing its deletion erases them and records each.
func testDeleteWorkspaceWithSecrets(t *testing.T, h *harness) {
	kr := keyring(t)
	if _, _, err := h.s.PutWorkspace(h.ctx, domain.Workspace{Meta: domain.Meta{Name: "tmp"}}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := h.s.PutSecret(h.ctx, kr, "tmp", domain.WorkspaceScope(), "token", []byte("x"), nil); err != nil {
		t.Fatal(err)
	}
	start := h.rev()
	err := h.s.DeleteWorkspace(h.ctx, "tmp", store.DeleteOptions{})
	wantKind(t, err, errs.FailedPrecondition, "")
	if err == nil || !strings.Contains(err.Error(), "1 secrets") {
		t.Fatalf("refusal does not name the secrets: %v", err)
	}
	if err := h.s.DeleteWorkspace(h.ctx, "tmp", store.DeleteOptions{Force: true}); err != nil {
		t.Fatalf("forced delete: %v", err)
	}
	var dropped bool
	for _, c := range h.since(start) {
		dropped = dropped || (c.Kind == domain.KindSecret && c.Op == domain.OpDelete && c.Key == "workspace:token")
	}
	if !dropped {
		t.Fatal("the dropped secret is not in the change log")
	}
}
