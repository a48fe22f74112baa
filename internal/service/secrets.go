package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"

	"github.com/flagops/flagops/internal/domain"
	"github.com/flagops/flagops/internal/errs"
	"github.com/flagops/flagops/internal/secrets"
	"github.com/flagops/flagops/internal/store"
)

// SecretStore is the part of the store the secret use cases need.
type SecretStore interface {
	PutSecret(ctx context.Context, kr *secrets.Keyring, ws string, sc domain.Scope, key string, value []byte, cas *int64) (domain.Secret, error)
	ReadSecret(ctx context.Context, kr *secrets.Keyring, ws string, sc domain.Scope, key string, version int64) ([]byte, int64, error)
	GetSecret(ctx context.Context, ws string, sc domain.Scope, key string) (domain.Secret, error)
	ListSecrets(ctx context.Context, ws string, sc *domain.Scope) ([]domain.Secret, error)
	SecretVersions(ctx context.Context, ws string, sc domain.Scope, key string) ([]domain.SecretVersion, error)
	DeleteSecret(ctx context.Context, ws string, sc domain.Scope, key string, cas *int64) (domain.Secret, error)
	RestoreSecret(ctx context.Context, ws string, sc domain.Scope, key string) (domain.Secret, error)
	DestroySecretVersion(ctx context.Context, ws string, sc domain.Scope, key string, version int64) (domain.Secret, error)
	SecretReads(ctx context.Context, q store.SecretReadQuery) ([]domain.SecretRead, error)
	ResolveSecrets(ctx context.Context, ws, project, target string) ([]store.ResolvedSecret, error)
	RewrapSecrets(ctx context.Context, kr *secrets.Keyring) (int, error)
	RetireMasterKey(ctx context.Context, kr *secrets.Keyring, id string) (int, error)
}

var _ SecretStore = (*store.Store)(nil)

// Secrets manages secret values. It owns the keyring's use: values are
// sealed and opened only through it. Nothing here logs a value.
type Secrets struct {
	store SecretStore
	kr    *secrets.Keyring
	log   *slog.Logger
	// rotateMu serialises master key rotations of this process.
	rotateMu sync.Mutex
}

// NewSecrets returns the secret use cases on st with keyring kr.
func NewSecrets(st SecretStore, kr *secrets.Keyring, log *slog.Logger) *Secrets {
	if log == nil {
		log = slog.Default()
	}
	return &Secrets{store: st, kr: kr, log: log}
}

// SecretRef names one secret as a request does.
type SecretRef struct {
	Workspace, Scope, Key string
}

func (r SecretRef) parse() (string, domain.Scope, error) {
	ws, sc, err := scopedIn(r.Workspace, r.Scope)
	if err != nil {
		return "", domain.Scope{}, err
	}
	if err := domain.ValidateFactKey("key", r.Key); err != nil {
		return "", domain.Scope{}, err
	}
	return ws, sc, nil
}

func checkCAS(cas *int64) error {
	if cas != nil && *cas < 0 {
		return errs.Field("cas", "must not be negative")
	}
	return nil
}

// Put stores value as the secret's next version.
func (s *Secrets) Put(ctx context.Context, ref SecretRef, value []byte, cas *int64) (domain.Secret, error) {
	ws, sc, err := ref.parse()
	if err != nil {
		return domain.Secret{}, err
	}
	if len(value) == 0 {
		return domain.Secret{}, errs.Field("value", "is required")
	}
	if err := checkCAS(cas); err != nil {
		return domain.Secret{}, err
	}
	return s.store.PutSecret(ctx, s.kr, ws, sc, ref.Key, value, cas)
}

// Get returns a version's value (0: current) with the secret's metadata;
// the read is audited by the store.
func (s *Secrets) Get(ctx context.Context, ref SecretRef, version int64) (domain.Secret, []byte, int64, error) {
	ws, sc, err := ref.parse()
	if err != nil {
		return domain.Secret{}, nil, 0, err
	}
	if version < 0 {
		return domain.Secret{}, nil, 0, errs.Field("version", "must not be negative")
	}
	value, v, err := s.store.ReadSecret(ctx, s.kr, ws, sc, ref.Key, version)
	if err != nil {
		return domain.Secret{}, nil, 0, err
	}
	meta, err := s.store.GetSecret(ctx, ws, sc, ref.Key)
	if err != nil {
		clear(value)
		return domain.Secret{}, nil, 0, err
	}
	return meta, value, v, nil
}

// List lists the secrets of a scope, or of the workspace when scope is "".
func (s *Secrets) List(ctx context.Context, ws, scope string) ([]domain.Secret, error) {
	ws, err := workspace("workspace", ws)
	if err != nil {
		return nil, err
	}
	if scope == "" {
		return s.store.ListSecrets(ctx, ws, nil)
	}
	sc, err := scopeOf("scope", scope)
	if err != nil {
		return nil, err
	}
	return s.store.ListSecrets(ctx, ws, &sc)
}

// Versions lists a secret's versions.
func (s *Secrets) Versions(ctx context.Context, ref SecretRef) ([]domain.SecretVersion, error) {
	ws, sc, err := ref.parse()
	if err != nil {
		return nil, err
	}
	return s.store.SecretVersions(ctx, ws, sc, ref.Key)
}

// Delete soft-deletes a secret.
func (s *Secrets) Delete(ctx context.Context, ref SecretRef, cas *int64) (domain.Secret, error) {
	ws, sc, err := ref.parse()
	if err != nil {
		return domain.Secret{}, err
	}
	if err := checkCAS(cas); err != nil {
		return domain.Secret{}, err
	}
	return s.store.DeleteSecret(ctx, ws, sc, ref.Key, cas)
}

// Restore undoes Delete.
func (s *Secrets) Restore(ctx context.Context, ref SecretRef) (domain.Secret, error) {
	ws, sc, err := ref.parse()
	if err != nil {
		return domain.Secret{}, err
	}
	return s.store.RestoreSecret(ctx, ws, sc, ref.Key)
}

// Destroy erases one version's value for good.
func (s *Secrets) Destroy(ctx context.Context, ref SecretRef, version int64) (domain.Secret, error) {
	ws, sc, err := ref.parse()
	if err != nil {
		return domain.Secret{}, err
	}
	if version <= 0 {
		return domain.Secret{}, errs.Field("version", "is required (a version number from 1)")
	}
	return s.store.DestroySecretVersion(ctx, ws, sc, ref.Key, version)
}

// Reads lists audited reads.
func (s *Secrets) Reads(ctx context.Context, q store.SecretReadQuery) ([]domain.SecretRead, error) {
	ws, err := workspace("workspace", q.Workspace)
	if err != nil {
		return nil, err
	}
	q.Workspace = ws
	if q.Scope != "" {
		sc, err := scopeOf("scope", q.Scope)
		if err != nil {
			return nil, err
		}
		q.Scope = sc.String()
	}
	return s.store.SecretReads(ctx, q)
}

// Resolve returns the secrets a deployment sees, without values.
func (s *Secrets) Resolve(ctx context.Context, ws, project, target string) ([]store.ResolvedSecret, error) {
	ws, err := workspace("workspace", ws)
	if err != nil {
		return nil, err
	}
	if err := domain.ValidateName("project", project); err != nil {
		return nil, err
	}
	if err := domain.ValidateName("target", target); err != nil {
		return nil, err
	}
	return s.store.ResolveSecrets(ctx, ws, project, target)
}

// ResolvedValue is a resolved secret with its value.
type ResolvedValue struct {
	store.ResolvedSecret
	Value []byte
}

// ReadResolved returns the secrets a deployment sees with their values; each
// value read is audited.
func (s *Secrets) ReadResolved(ctx context.Context, ws, project, target string) ([]ResolvedValue, error) {
	list, err := s.Resolve(ctx, ws, project, target)
	if err != nil {
		return nil, err
	}
	ws, _ = workspace("workspace", ws)
	out := make([]ResolvedValue, 0, len(list))
	for _, r := range list {
		v, _, err := s.store.ReadSecret(ctx, s.kr, ws, r.Scope, r.Key, r.Version)
		if err != nil {
			return nil, fmt.Errorf("read resolved secret %s: %w", r.Key, err)
		}
		out = append(out, ResolvedValue{ResolvedSecret: r, Value: v})
	}
	return out, nil
}

// ResolveSecrets returns the values of the named secrets of a deployment,
// resolved like facts (the most specific scope wins). Only the named keys
// are read, and each read is audited; a key the deployment does not see is
// errs.NotFound naming it. It implements render.SecretReader.
func (s *Secrets) ResolveSecrets(ctx context.Context, ws, project, target string, keys []string) (map[string]string, error) {
	list, err := s.Resolve(ctx, ws, project, target)
	if err != nil {
		return nil, err
	}
	ws, _ = workspace("workspace", ws)
	byKey := make(map[string]store.ResolvedSecret, len(list))
	for _, r := range list {
		byKey[r.Key] = r
	}
	// Check every key before reading any, so a bad request audits nothing.
	for _, k := range keys {
		if _, ok := byKey[k]; !ok {
			return nil, errs.New(errs.NotFound, "secret %s of %s", errs.Quote(k), errs.Quote(project+"@"+target))
		}
	}
	out := make(map[string]string, len(keys))
	for _, k := range keys {
		r := byKey[k]
		v, _, err := s.store.ReadSecret(ctx, s.kr, ws, r.Scope, r.Key, r.Version)
		if err != nil {
			return nil, fmt.Errorf("read secret %s of %s@%s: %w", k, project, target, err)
		}
		out[k] = string(v)
	}
	return out, nil
}

// Rotation is what RotateMasterKey did.
type Rotation struct {
	NewKeyID  string
	Rewrapped int
	Retired   []string
}

// maxRetireRounds bounds the rewrap-then-retire loop: each round moves what
// writers sealed under an old key while the previous round ran.
const maxRetireRounds = 10

// RotateMasterKey rotates without downtime: it makes a new master key active
// (reads keep working, since old keys stay in the keyring), re-wraps every
// stored data key under it, then retires each old key once no record names
// it. With a keyring from FLAGOPS_MASTER_KEY (read-only) it re-wraps onto the
// active key, which the operator changed in the variable, and retires nothing.
func (s *Secrets) RotateMasterKey(ctx context.Context) (Rotation, error) {
	s.rotateMu.Lock()
	defer s.rotateMu.Unlock()
	old := s.kr.KeyIDs()
	id, err := s.kr.Rotate()
	readOnly := errors.Is(err, errs.FailedPrecondition)
	switch {
	case readOnly:
		id = s.kr.ActiveID()
		old = nil
	case err != nil:
		return Rotation{}, fmt.Errorf("rotate master key: %w", err)
	}
	res := Rotation{NewKeyID: id}
	s.log.InfoContext(ctx, "secrets: master key rotated; re-wrapping data keys", "key_id", id, "read_only_keyring", readOnly)
	for round := 0; ; round++ {
		n, err := s.store.RewrapSecrets(ctx, s.kr)
		res.Rewrapped += n
		if err != nil {
			return res, fmt.Errorf("rotate master key: %w", err)
		}
		var left []string
		for _, oid := range old {
			if oid == id || slices.Contains(res.Retired, oid) {
				continue
			}
			users, err := s.store.RetireMasterKey(ctx, s.kr, oid)
			if err != nil {
				return res, fmt.Errorf("rotate master key: retire %s: %w", errs.Quote(oid), err)
			}
			if users > 0 {
				left = append(left, oid)
				continue
			}
			res.Retired = append(res.Retired, oid)
		}
		if len(left) == 0 {
			break
		}
		if round == maxRetireRounds {
			return res, errs.New(errs.Unavailable, "rotate master key: keys %v are still in use after %d rounds of re-wrapping; run it again", left, round+1)
		}
	}
	s.log.InfoContext(ctx, "secrets: master key rotation done", "key_id", id, "rewrapped", res.Rewrapped, "retired", res.Retired)
	return res, nil
}
