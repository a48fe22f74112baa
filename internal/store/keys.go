package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/flagops/flagops/internal/domain"
	"github.com/flagops/flagops/internal/errs"
)

const apiKeyCols = "id, name, token_hash, bindings, expires_at, last_used_at, revoked_at, created_at, created_by, revision"

// nanosOrZero stores a zero time as 0.
func nanosOrZero(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func timeOrZero(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return fromNanos(n)
}

// logged is the key as its change entries show it: no token hash, and no
// last-used time, which moves without a revision.
func logged(k domain.APIKey) domain.APIKey {
	k.LastUsedAt = time.Time{}
	return k
}

func scanAPIKey(sc scanner) (domain.APIKey, string, error) {
	var k domain.APIKey
	var hash string
	var bindings []byte
	var exp, used, revoked, created int64
	if err := sc.Scan(&k.ID, &k.Name, &hash, &bindings, &exp, &used, &revoked, &created, &k.CreatedBy, &k.Revision); err != nil {
		return domain.APIKey{}, "", err
	}
	if err := json.Unmarshal(bindings, &k.Bindings); err != nil {
		return domain.APIKey{}, "", fmt.Errorf("read bindings of key %s: %w", errs.Quote(k.Name), err)
	}
	k.ExpiresAt, k.LastUsedAt, k.RevokedAt, k.CreatedAt = timeOrZero(exp), timeOrZero(used), timeOrZero(revoked), fromNanos(created)
	return k, hash, nil
}

// CreateAPIKey stores a new key under the hash of its token (the token itself
// is never given to the store). k.ID and k.Name must be unique. When
// onlyIfNone is set it creates the key only if the store holds no key at all
// (the bootstrap admin key; checked inside the write transaction, so of
// several instances starting together exactly one creates it) and returns
// errs.FailedPrecondition otherwise.
func (s *Store) CreateAPIKey(ctx context.Context, k domain.APIKey, tokenHash string, onlyIfNone bool) (domain.APIKey, error) {
	for i, b := range k.Bindings {
		if err := b.Validate(); err != nil {
			return domain.APIKey{}, errs.Prefix(fmt.Sprintf("bindings[%d]", i), err)
		}
	}
	if err := domain.ValidateName("name", k.Name); err != nil {
		return domain.APIKey{}, err
	}
	bindings, err := json.Marshal(k.Bindings)
	if err != nil {
		return domain.APIKey{}, fmt.Errorf("create key %s: %w", errs.Quote(k.Name), err)
	}
	_, err = s.write(ctx, func(t *wtx) error {
		if onlyIfNone {
			var n int
			if err := t.queryRow(ctx, "SELECT COUNT(*) FROM api_keys").Scan(&n); err != nil {
				return fmt.Errorf("count keys: %w", err)
			}
			if n > 0 {
				return errs.New(errs.FailedPrecondition, "keys already exist")
			}
		}
		k.CreatedAt, k.CreatedBy, k.Revision, k.LastUsedAt = t.now, t.origin.Actor, t.rev, time.Time{}
		if _, err := t.exec(ctx, "INSERT INTO api_keys ("+apiKeyCols+") VALUES (?, ?, ?, ?, ?, 0, 0, ?, ?, ?)",
			k.ID, k.Name, tokenHash, string(bindings), nanosOrZero(k.ExpiresAt), t.now.UnixNano(), k.CreatedBy, t.rev); err != nil {
			return s.mapConstraint(err, fmt.Sprintf("key %q", k.Name))
		}
		return t.record("", domain.KindAPIKey, k.ID, domain.OpCreate, nil, logged(k))
	})
	if err != nil {
		return domain.APIKey{}, fmt.Errorf("create key %s: %w", errs.Quote(k.Name), err)
	}
	return k, nil
}

// APIKeyByHash returns the key stored under tokenHash and the stored hash
// (for the caller's constant-time comparison), or errs.NotFound. It always
// reads the database, so a revocation is seen by the very next request.
func (s *Store) APIKeyByHash(ctx context.Context, tokenHash string) (domain.APIKey, string, error) {
	k, hash, err := scanAPIKey(s.queryRow(ctx, "SELECT "+apiKeyCols+" FROM api_keys WHERE token_hash = ?", tokenHash))
	if errors.Is(err, sql.ErrNoRows) {
		return domain.APIKey{}, "", errs.New(errs.NotFound, "api key")
	}
	if err != nil {
		return domain.APIKey{}, "", fmt.Errorf("look up api key: %w", err)
	}
	return k, hash, nil
}

// GetAPIKey returns the key whose ID or name is ref.
func (s *Store) GetAPIKey(ctx context.Context, ref string) (domain.APIKey, error) {
	k, _, err := scanAPIKey(s.queryRow(ctx, "SELECT "+apiKeyCols+" FROM api_keys WHERE id = ? OR name = ?", ref, ref))
	if errors.Is(err, sql.ErrNoRows) {
		return domain.APIKey{}, errs.New(errs.NotFound, "api key %s", errs.Quote(ref))
	}
	if err != nil {
		return domain.APIKey{}, fmt.Errorf("get api key %s: %w", errs.Quote(ref), err)
	}
	return k, nil
}

// ListAPIKeys returns every key, revoked ones included, by name.
func (s *Store) ListAPIKeys(ctx context.Context) ([]domain.APIKey, error) {
	rows, err := s.query(ctx, "SELECT "+apiKeyCols+" FROM api_keys ORDER BY name")
	if err != nil {
		return nil, fmt.Errorf("list api keys: %w", err)
	}
	defer rows.Close()
	var out []domain.APIKey
	for rows.Next() {
		k, _, err := scanAPIKey(rows)
		if err != nil {
			return nil, fmt.Errorf("list api keys: %w", err)
		}
		out = append(out, k)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list api keys: %w", err)
	}
	return out, nil
}

// CountAPIKeys returns how many keys exist, revoked ones included.
func (s *Store) CountAPIKeys(ctx context.Context) (int, error) {
	var n int
	if err := s.queryRow(ctx, "SELECT COUNT(*) FROM api_keys").Scan(&n); err != nil {
		return 0, fmt.Errorf("count api keys: %w", err)
	}
	return n, nil
}

// RevokeAPIKey revokes the key whose ID or name is ref. Revoking a revoked
// key changes nothing.
func (s *Store) RevokeAPIKey(ctx context.Context, ref string) (domain.APIKey, error) {
	var out domain.APIKey
	_, err := s.write(ctx, func(t *wtx) error {
		k, _, err := scanAPIKey(t.queryRow(ctx, "SELECT "+apiKeyCols+" FROM api_keys WHERE id = ? OR name = ?", ref, ref))
		if errors.Is(err, sql.ErrNoRows) {
			return errs.New(errs.NotFound, "api key %s", errs.Quote(ref))
		}
		if err != nil {
			return err
		}
		out = k
		if !k.RevokedAt.IsZero() {
			return nil
		}
		before := logged(k)
		k.RevokedAt, k.Revision = t.now, t.rev
		if _, err := t.exec(ctx, "UPDATE api_keys SET revoked_at = ?, revision = ? WHERE id = ?", t.now.UnixNano(), t.rev, k.ID); err != nil {
			return fmt.Errorf("update: %w", err)
		}
		out = k
		return t.record("", domain.KindAPIKey, k.ID, domain.OpUpdate, before, logged(k))
	})
	if err != nil {
		return domain.APIKey{}, fmt.Errorf("revoke api key %s: %w", errs.Quote(ref), err)
	}
	return out, nil
}

// TouchAPIKey records that key id was used at `at`, unless it was already
// recorded within every of the last interval. It takes no revision: last use
// is bookkeeping, not a change of the key.
func (s *Store) TouchAPIKey(ctx context.Context, id string, at time.Time, every time.Duration) error {
	_, err := s.db.ExecContext(ctx, s.d.rebind("UPDATE api_keys SET last_used_at = ? WHERE id = ? AND last_used_at < ?"),
		at.UnixNano(), id, at.Add(-every).UnixNano())
	if err != nil {
		return fmt.Errorf("touch api key %s: %w", id, err)
	}
	return nil
}
