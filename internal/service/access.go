package service

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/flagops/flagops/internal/auth"
	"github.com/flagops/flagops/internal/domain"
	"github.com/flagops/flagops/internal/errs"
	"github.com/flagops/flagops/internal/store"
)

// AccessStore is the part of the store the key use cases need.
type AccessStore interface {
	CreateAPIKey(ctx context.Context, k domain.APIKey, tokenHash string, onlyIfNone bool) (domain.APIKey, error)
	ListAPIKeys(ctx context.Context) ([]domain.APIKey, error)
	RevokeAPIKey(ctx context.Context, ref string) (domain.APIKey, error)
}

var _ AccessStore = (*store.Store)(nil)

// Access manages API keys. Tokens are made here, returned once and
// forgotten: only their hash reaches the store.
type Access struct {
	store AccessStore
	now   func() time.Time
}

// NewAccess returns the key use cases on st.
func NewAccess(st AccessStore) *Access { return &Access{store: st, now: time.Now} }

// BindingIn is a binding as a request writes it.
type BindingIn struct {
	Role, Workspace, Scope string
}

// Create makes a key with bindings and returns it with its token, which is
// shown this once.
func (a *Access) Create(ctx context.Context, name string, in []BindingIn, expires time.Time) (domain.APIKey, string, error) {
	if err := domain.ValidateName("name", name); err != nil {
		return domain.APIKey{}, "", err
	}
	if len(in) == 0 {
		return domain.APIKey{}, "", errs.Field("bindings", "at least one binding (role at a scope) is required")
	}
	if !expires.IsZero() && !expires.After(a.now()) {
		return domain.APIKey{}, "", errs.Field("expire_time", "must be in the future")
	}
	k := domain.APIKey{ID: auth.NewKeyID(), Name: name, ExpiresAt: expires}
	for i, b := range in {
		field := "bindings[" + strconv.Itoa(i) + "]"
		ws := b.Workspace
		if ws == "" {
			ws = domain.DefaultWorkspace
		}
		scope := b.Scope
		if scope == "" {
			scope = "workspace"
		}
		sc, err := scopeOf(field+".scope", scope)
		if err != nil {
			return domain.APIKey{}, "", err
		}
		db := domain.Binding{Role: domain.Role(b.Role), Workspace: ws, Scope: sc}
		if err := db.Validate(); err != nil {
			return domain.APIKey{}, "", errs.Prefix(field, err)
		}
		k.Bindings = append(k.Bindings, db)
	}
	token := auth.NewToken()
	k, err := a.store.CreateAPIKey(ctx, k, auth.HashToken(token), false)
	if err != nil {
		return domain.APIKey{}, "", err
	}
	return k, token, nil
}

// BootstrapKeyName is the name of the admin key made on first start.
const BootstrapKeyName = "admin"

// Bootstrap creates an admin key over every workspace when the store holds
// no key at all, and returns its token; created is false (and the token
// empty) when keys already exist. The key takes token when it is not empty
// (the caller has checked its format with auth.WellFormed), else a fresh
// one.
func (a *Access) Bootstrap(ctx context.Context, token string) (_ string, created bool, err error) {
	k := domain.APIKey{ID: auth.NewKeyID(), Name: BootstrapKeyName, Bindings: []domain.Binding{
		{Role: domain.RoleAdmin, Workspace: domain.AllWorkspaces, Scope: domain.WorkspaceScope()},
	}}
	if token == "" {
		token = auth.NewToken()
	}
	_, err = a.store.CreateAPIKey(domain.WithOrigin(ctx, domain.Origin{Actor: "flagops/bootstrap"}), k, auth.HashToken(token), true)
	if errs.KindOf(err) == errs.FailedPrecondition {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("bootstrap admin key: %w", err)
	}
	return token, true, nil
}

// List returns every key, without tokens.
func (a *Access) List(ctx context.Context) ([]domain.APIKey, error) { return a.store.ListAPIKeys(ctx) }

// Revoke revokes a key by ID or name; it is refused from the next request on.
func (a *Access) Revoke(ctx context.Context, ref string) (domain.APIKey, error) {
	if ref == "" {
		return domain.APIKey{}, errs.Field("key", "is required (an ID or a name)")
	}
	return a.store.RevokeAPIKey(ctx, ref)
}
