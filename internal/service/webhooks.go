package service

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/flagops/flagops/internal/auth"
	"github.com/flagops/flagops/internal/domain"
	"github.com/flagops/flagops/internal/errs"
	"github.com/flagops/flagops/internal/secrets"
	"github.com/flagops/flagops/internal/store"
)

// WebhookStore is the part of the store the webhook and fact-hook use cases need.
type WebhookStore interface {
	CreateWebhook(ctx context.Context, kr *secrets.Keyring, w domain.Webhook, from int64) (domain.Webhook, error)
	GetWebhook(ctx context.Context, ws, name string) (domain.Webhook, error)
	ListWebhooks(ctx context.Context, ws string) ([]domain.Webhook, error)
	DeleteWebhook(ctx context.Context, ws, name string) error
	SetWebhookCursor(ctx context.Context, ws, name string, c domain.Cursor) error
	ListDeliveries(ctx context.Context, ws, webhook string, limit int) ([]domain.Delivery, error)
	GetDelivery(ctx context.Context, ws, webhook, id string) (domain.Delivery, error)
	CreateFactHook(ctx context.Context, h domain.FactHook) (domain.FactHook, error)
	GetFactHook(ctx context.Context, ws, name string) (domain.FactHook, error)
	ListFactHooks(ctx context.Context, ws string) ([]domain.FactHook, error)
	DeleteFactHook(ctx context.Context, ws, name string) error
	BulkSetFacts(ctx context.Context, ws string, entries []domain.FactsEntry) (int64, error)
}

var _ WebhookStore = (*store.Store)(nil)

// Webhooks manages outbound webhook subscriptions and inbound fact hooks. It
// is safe for concurrent use. Secrets and tokens leave it only from the
// create calls.
type Webhooks struct {
	store WebhookStore
	// kr seals the signing secrets; the store keeps only their sealed form.
	kr *secrets.Keyring
	// wake tells the dispatcher of this process that a cursor moved.
	wake func()
}

// NewWebhooks returns the webhook use cases on st, sealing signing secrets
// with kr; wake (may be nil) is called after a redelivery rewinds a cursor.
func NewWebhooks(st WebhookStore, kr *secrets.Keyring, wake func()) *Webhooks {
	if wake == nil {
		wake = func() {}
	}
	return &Webhooks{store: st, kr: kr, wake: wake}
}

// MinSecretLen is the shortest signing secret accepted.
const MinSecretLen = 16

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// CreateWebhook validates and stores a subscription. An empty Secret is
// generated. The returned webhook carries the secret: show it once. Its URL
// comes back redacted (domain.RedactURL), as every listing shows it.
//
// The subscription records the bindings of the key in ctx (Grants): it will
// receive only the changes those bindings may read from the change log
// (webhook.Readable). They are taken now, at creation, so revoking or
// narrowing the creator's key later does not change what the subscription
// receives; delete the subscription to stop it. With authentication off the
// creator may read everything.
func (s *Webhooks) CreateWebhook(ctx context.Context, w domain.Webhook, from int64) (domain.Webhook, error) {
	var err error
	if w.Workspace, err = workspace("workspace", w.Workspace); err != nil {
		return w, err
	}
	if err := domain.ValidateName("name", w.Name); err != nil {
		return w, err
	}
	u, err := url.Parse(w.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return w, errs.Field("url", "must be an absolute http or https URL")
	}
	switch w.Type {
	case "":
		w.Type = domain.WebhookGeneric
	case domain.WebhookGeneric, domain.WebhookFlux:
	default:
		return w, errs.Field("type", "%s is not a webhook type: use %s or %s", errs.Quote(w.Type), domain.WebhookGeneric, domain.WebhookFlux)
	}
	if w.Secret == "" {
		w.Secret = randomHex(32)
	} else if len(w.Secret) < MinSecretLen {
		return w, errs.Field("secret", "must be at least %d characters", MinSecretLen)
	}
	// A slice, not a map, so that the error reported is always the same.
	for _, f := range []struct {
		field string
		names []string
	}{{"filter.projects", w.Filter.Projects}, {"filter.environments", w.Filter.Environments}, {"filter.targets", w.Filter.Targets}} {
		for i, n := range f.names {
			if err := domain.ValidateName(f.field+"["+strconv.Itoa(i)+"]", n); err != nil {
				return w, err
			}
		}
	}
	for i, k := range w.Filter.Kinds {
		if k == "" {
			return w, errs.Field("filter.kinds["+strconv.Itoa(i)+"]", "must not be empty")
		}
	}
	if from < 0 {
		return w, errs.Field("from_revision", "must not be negative")
	}
	w.Grants = creatorGrants(ctx)
	secret := w.Secret
	out, err := s.store.CreateWebhook(ctx, s.kr, w, from)
	if err != nil {
		return out, err
	}
	out.Secret, out.SealedSecret, out.SealedURL = secret, "", ""
	return out, nil
}

// GetWebhook returns a subscription without its secret.
func (s *Webhooks) GetWebhook(ctx context.Context, ws, name string) (domain.Webhook, error) {
	ws, err := workspace("workspace", ws)
	if err != nil {
		return domain.Webhook{}, err
	}
	w, err := s.store.GetWebhook(ctx, ws, name)
	w.Secret, w.SealedSecret, w.SealedURL = "", "", ""
	return w, err
}

// ListWebhooks returns a workspace's subscriptions without their secrets.
func (s *Webhooks) ListWebhooks(ctx context.Context, ws string) ([]domain.Webhook, error) {
	ws, err := workspace("workspace", ws)
	if err != nil {
		return nil, err
	}
	list, err := s.store.ListWebhooks(ctx, ws)
	for i := range list {
		list[i].Secret, list[i].SealedSecret, list[i].SealedURL = "", "", ""
	}
	return list, err
}

// DeleteWebhook removes a subscription and its delivery log.
func (s *Webhooks) DeleteWebhook(ctx context.Context, ws, name string) error {
	ws, err := workspace("workspace", ws)
	if err != nil {
		return err
	}
	return s.store.DeleteWebhook(ctx, ws, name)
}

// ListDeliveries returns a subscription's newest delivery records, oldest first.
func (s *Webhooks) ListDeliveries(ctx context.Context, ws, name string, limit int) ([]domain.Delivery, error) {
	ws, err := workspace("workspace", ws)
	if err != nil {
		return nil, err
	}
	if _, err := s.store.GetWebhook(ctx, ws, name); err != nil {
		return nil, err
	}
	if limit < 0 {
		return nil, errs.Field("limit", "must not be negative")
	}
	return s.store.ListDeliveries(ctx, ws, name, limit)
}

// Redeliver rewinds a subscription's cursor so that the dispatcher delivers
// again, in order, every matching change from a revision (fromRevision > 0)
// or from one delivery's change (deliveryID) onwards. It returns the new
// cursor.
func (s *Webhooks) Redeliver(ctx context.Context, ws, name string, fromRevision int64, deliveryID string) (domain.Cursor, error) {
	ws, err := workspace("workspace", ws)
	if err != nil {
		return domain.Cursor{}, err
	}
	if (fromRevision > 0) == (deliveryID != "") {
		return domain.Cursor{}, errs.Field("from_revision", "give exactly one of from_revision (> 0) and delivery_id")
	}
	if _, err := s.store.GetWebhook(ctx, ws, name); err != nil {
		return domain.Cursor{}, err
	}
	c := domain.CursorAfterRevision(fromRevision - 1)
	if deliveryID != "" {
		d, err := s.store.GetDelivery(ctx, ws, name, deliveryID)
		if err != nil {
			return domain.Cursor{}, err
		}
		c = domain.Cursor{Revision: d.Revision, Seq: d.Seq - 1}
		if d.Seq == 0 {
			c = domain.CursorAfterRevision(d.Revision - 1)
		}
	}
	if err := s.store.SetWebhookCursor(ctx, ws, name, c); err != nil {
		return domain.Cursor{}, fmt.Errorf("redeliver %s: %w", name, err)
	}
	s.wake()
	return c, nil
}

// factHookTokenPrefix marks fact hook tokens, so that a leaked one is
// recognisable (secret scanners, logs).
const factHookTokenPrefix = "fhk_"

func hashToken(tok string) []byte {
	h := sha256.Sum256([]byte(tok))
	return h[:]
}

// MaxFactHookScopes caps the scope patterns of one fact hook.
const MaxFactHookScopes = 64

// CreateFactHook stores a new fact hook bound to the scope patterns scopes
// (at least one) and returns it with its token, which is stored only as a
// hash: show it once.
func (s *Webhooks) CreateFactHook(ctx context.Context, ws, name string, scopes []string) (domain.FactHook, string, error) {
	ws, err := workspace("workspace", ws)
	if err != nil {
		return domain.FactHook{}, "", err
	}
	if err := domain.ValidateName("name", name); err != nil {
		return domain.FactHook{}, "", err
	}
	patterns, err := factHookScopes(scopes)
	if err != nil {
		return domain.FactHook{}, "", err
	}
	tok := factHookTokenPrefix + randomHex(32)
	h, err := s.store.CreateFactHook(ctx, domain.FactHook{Workspace: ws, Name: name, Scopes: patterns, TokenHash: hashToken(tok)})
	if err != nil {
		return domain.FactHook{}, "", err
	}
	h.TokenHash = nil
	return h, tok, nil
}

// factHookScopes checks a new hook's scope patterns and returns them in
// canonical form, without duplicates. A hook must name at least one: there
// is no default, so that no hook can write the whole workspace by omission.
func factHookScopes(scopes []string) ([]string, error) {
	if len(scopes) == 0 {
		return nil, errs.Field("scopes", "at least one scope pattern is required: a hook may write only the scopes it is bound to (for example deployment/*@eu-1 or environment/prod)")
	}
	if len(scopes) > MaxFactHookScopes {
		return nil, errs.Field("scopes", "at most %d scope patterns, got %d", MaxFactHookScopes, len(scopes))
	}
	out := make([]string, 0, len(scopes))
	for i, s := range scopes {
		p, err := domain.ParseScopePattern(s)
		if err != nil {
			return nil, errs.Prefix("scopes["+strconv.Itoa(i)+"]", errs.Field("", "%s", ruleOf(err)))
		}
		if !slices.Contains(out, p.String()) {
			out = append(out, p.String())
		}
	}
	return out, nil
}

// ruleOf returns the rule of a field error (its whole text otherwise).
func ruleOf(err error) string {
	if fe, ok := errors.AsType[*errs.FieldError](err); ok {
		return fe.Rule
	}
	return err.Error()
}

// ListFactHooks returns a workspace's fact hooks.
func (s *Webhooks) ListFactHooks(ctx context.Context, ws string) ([]domain.FactHook, error) {
	ws, err := workspace("workspace", ws)
	if err != nil {
		return nil, err
	}
	list, err := s.store.ListFactHooks(ctx, ws)
	for i := range list {
		list[i].TokenHash = nil
	}
	return list, err
}

// DeleteFactHook removes a fact hook.
func (s *Webhooks) DeleteFactHook(ctx context.Context, ws, name string) error {
	ws, err := workspace("workspace", ws)
	if err != nil {
		return err
	}
	return s.store.DeleteFactHook(ctx, ws, name)
}

// AuthenticateFactHook checks token against the hook's stored hash in
// constant time. An unknown hook and a wrong token fail alike
// (Unauthenticated), so the endpoint does not reveal which hooks exist.
func (s *Webhooks) AuthenticateFactHook(ctx context.Context, ws, name, token string) error {
	_, err := s.authenticateFactHook(ctx, ws, name, token)
	return err
}

func (s *Webhooks) authenticateFactHook(ctx context.Context, ws, name, token string) (domain.FactHook, error) {
	ws, err := workspace("workspace", ws)
	if err != nil {
		return domain.FactHook{}, err
	}
	h, err := s.store.GetFactHook(ctx, ws, name)
	if err != nil && errs.KindOf(err) != errs.NotFound {
		return domain.FactHook{}, err
	}
	want := h.TokenHash
	if err != nil {
		want = make([]byte, sha256.Size) // compare anyway: same time either way
	}
	if subtle.ConstantTimeCompare(hashToken(token), want) != 1 || err != nil || token == "" {
		return domain.FactHook{}, errs.New(errs.Unauthenticated, "fact hook %s: missing or wrong token", errs.Quote(name))
	}
	return h, nil
}

// ApplyFactHook sets the facts of entries in one revision, all or nothing,
// after checking the hook's token and that every entry's scope is one the
// hook is bound to (Denied, naming the entry, otherwise).
func (s *Webhooks) ApplyFactHook(ctx context.Context, ws, name, token string, entries []domain.FactsEntry) (int64, error) {
	h, err := s.authenticateFactHook(ctx, ws, name, token)
	if err != nil {
		return 0, err
	}
	if len(entries) == 0 {
		return 0, errs.Field("body", "at least one entry is required")
	}
	if len(entries) > MaxBulkEntries {
		return 0, &errs.FieldError{Field: "body", Rule: "at most " + strconv.Itoa(MaxBulkEntries) + " entries", Kind: errs.TooLarge}
	}
	if err := checkFactHookScopes(h, entries); err != nil {
		return 0, err
	}
	ws, _ = workspace("workspace", ws)
	o := domain.OriginFrom(ctx)
	o.Actor = FactHookActor(name)
	return s.store.BulkSetFacts(domain.WithOrigin(ctx, o), ws, entries)
}

// creatorGrants are the bindings a subscription created by the principal in
// ctx records: the key's, or every workspace's administration when
// authentication is off (what that mode allows everyone).
func creatorGrants(ctx context.Context) []domain.Binding {
	p, _ := auth.PrincipalFrom(ctx)
	if p.Insecure {
		return []domain.Binding{{Role: domain.RoleAdmin, Workspace: domain.AllWorkspaces, Scope: domain.WorkspaceScope()}}
	}
	return slices.Clone(p.Key.Bindings)
}

// checkFactHookScopes refuses the first entry whose scope none of the
// hook's patterns matches. The field is the entry's scope, which the fact
// hook handler renames to the field of the body the caller sent.
func checkFactHookScopes(h domain.FactHook, entries []domain.FactsEntry) error {
	patterns := make([]domain.ScopePattern, 0, len(h.Scopes))
	for _, s := range h.Scopes {
		// Stored patterns were checked when the hook was created; one that
		// no longer parses grants nothing.
		if p, err := domain.ParseScopePattern(s); err == nil {
			patterns = append(patterns, p)
		}
	}
	for i, e := range entries {
		if domain.MatchAny(patterns, e.Scope) {
			continue
		}
		allowed := "no scope: recreate it with --scope"
		if len(h.Scopes) > 0 {
			allowed = strings.Join(h.Scopes, ", ")
		}
		return &errs.FieldError{Field: "entries[" + strconv.Itoa(i) + "].scope", Kind: errs.Denied,
			Rule: fmt.Sprintf("fact hook %s may not write %s: it may write %s", errs.Quote(h.Name), errs.Quote(e.Scope.String()), allowed)}
	}
	return nil
}

// FactHookActor is the actor the change log records for writes of the fact
// hook named name: the hook, not the anonymous HTTP caller that presented
// its token.
func FactHookActor(name string) string { return "hook/" + name }
