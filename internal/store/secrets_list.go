package store

import (
	"context"
	"encoding/base64"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/flagops/flagops/internal/domain"
	"github.com/flagops/flagops/internal/errs"
	"github.com/flagops/flagops/internal/secrets"
)

// ListSecrets returns the metadata of the secrets of one scope (or of the
// whole workspace when sc is nil), deleted ones included, by scope and key.
func (s *Store) ListSecrets(ctx context.Context, ws string, sc *domain.Scope) ([]domain.Secret, error) {
	q := "SELECT scope, key, version, fingerprint, deleted, revision, updated_at FROM secrets WHERE workspace = ?"
	args := []any{ws}
	if sc != nil {
		if err := sc.Validate(); err != nil {
			return nil, err
		}
		q += " AND scope = ?"
		args = append(args, sc.String())
	}
	rows, err := s.query(ctx, q+" ORDER BY scope, key", args...)
	if err != nil {
		return nil, fmt.Errorf("list secrets: %w", err)
	}
	defer rows.Close()
	var out []domain.Secret
	for rows.Next() {
		var sec domain.Secret
		var scope string
		var deleted int
		var updated int64
		if err := rows.Scan(&scope, &sec.Key, &sec.Version, &sec.Fingerprint, &deleted, &sec.Revision, &updated); err != nil {
			return nil, fmt.Errorf("list secrets: %w", err)
		}
		if sec.Scope, err = domain.ParseScope(scope); err != nil {
			return nil, fmt.Errorf("list secrets: stored scope %s: %w", errs.Quote(scope), err)
		}
		sec.Deleted, sec.UpdatedAt = deleted != 0, fromNanos(updated)
		out = append(out, sec)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list secrets: %w", err)
	}
	return out, nil
}

// GetSecret returns one secret's metadata, or errs.NotFound.
func (s *Store) GetSecret(ctx context.Context, ws string, sc domain.Scope, key string) (domain.Secret, error) {
	if err := validateSecret(sc, key); err != nil {
		return domain.Secret{}, err
	}
	sec, found, err := s.r().secretRow(ctx, ws, sc, key)
	if err != nil {
		return domain.Secret{}, err
	}
	if !found {
		return domain.Secret{}, errs.New(errs.NotFound, "secret %s:%s", sc, key)
	}
	return sec, nil
}

// SecretVersions lists the versions of a secret, oldest first, with who
// wrote them and when; destroyed ones are marked.
func (s *Store) SecretVersions(ctx context.Context, ws string, sc domain.Scope, key string) ([]domain.SecretVersion, error) {
	if _, err := s.GetSecret(ctx, ws, sc, key); err != nil {
		return nil, err
	}
	rows, err := s.query(ctx, "SELECT version, fingerprint, key_id, created_at, created_by, destroyed_at, revision FROM secret_versions WHERE workspace = ? AND scope = ? AND key = ? ORDER BY version",
		ws, sc.String(), key)
	if err != nil {
		return nil, fmt.Errorf("list versions of secret %s:%s: %w", sc, key, err)
	}
	defer rows.Close()
	var out []domain.SecretVersion
	for rows.Next() {
		var v domain.SecretVersion
		var created, destroyed int64
		if err := rows.Scan(&v.Version, &v.Fingerprint, &v.KeyID, &created, &v.CreatedBy, &destroyed, &v.Revision); err != nil {
			return nil, fmt.Errorf("list versions of secret %s:%s: %w", sc, key, err)
		}
		v.CreatedAt, v.Destroyed = fromNanos(created), destroyed != 0
		out = append(out, v)
	}
	return out, rows.Err()
}

// SecretReadQuery selects audited reads; zero fields do not filter. Limit
// defaults to 100 and is capped at 1000; the newest reads come first.
type SecretReadQuery struct {
	Workspace string
	Scope     string
	Key       string
	Since     time.Time
	Limit     int
}

// SecretReads returns audited reads of secret values, newest first.
func (s *Store) SecretReads(ctx context.Context, q SecretReadQuery) ([]domain.SecretRead, error) {
	sql := "SELECT time, actor, request_id, workspace, scope, key, version FROM secret_reads WHERE 1 = 1"
	var args []any
	for _, f := range []struct{ col, v string }{{"workspace", q.Workspace}, {"scope", q.Scope}, {"key", q.Key}} {
		if f.v != "" {
			sql += " AND " + f.col + " = ?"
			args = append(args, f.v)
		}
	}
	if !q.Since.IsZero() {
		sql += " AND time >= ?"
		args = append(args, q.Since.UnixNano())
	}
	sql += " ORDER BY time DESC LIMIT ?"
	args = append(args, clampLimit(q.Limit))
	rows, err := s.query(ctx, sql, args...)
	if err != nil {
		return nil, fmt.Errorf("list secret reads: %w", err)
	}
	defer rows.Close()
	var out []domain.SecretRead
	for rows.Next() {
		var r domain.SecretRead
		var t int64
		if err := rows.Scan(&t, &r.Actor, &r.RequestID, &r.Workspace, &r.Scope, &r.Key, &r.Version); err != nil {
			return nil, fmt.Errorf("list secret reads: %w", err)
		}
		r.Time = fromNanos(t)
		out = append(out, r)
	}
	return out, rows.Err()
}

// ResolvedSecret is a secret visible to a deployment and the scope it came from.
type ResolvedSecret struct {
	domain.Secret
	Source string
}

// ResolveSecrets merges the (not deleted) secrets of a deployment's scopes
// from general to specific, as ResolveFacts does for facts: the most specific
// scope wins. It returns metadata only; values are read one by one with
// ReadSecret, so that every read is audited.
func (s *Store) ResolveSecrets(ctx context.Context, ws, project, target string) ([]ResolvedSecret, error) {
	d, err := s.GetDeployment(ctx, ws, project, target)
	if err != nil {
		return nil, err
	}
	order := []domain.Scope{domain.WorkspaceScope(), domain.EnvironmentScope(d.Environment), domain.TargetScope(target),
		domain.ProjectScope(project), domain.ProjectEnvScope(project, d.Environment), domain.DeploymentScope(project, target)}
	byKey := map[string]ResolvedSecret{}
	var keys []string
	for _, sc := range order {
		list, err := s.ListSecrets(ctx, ws, &sc)
		if err != nil {
			return nil, err
		}
		for _, sec := range list {
			if sec.Deleted {
				continue
			}
			if _, seen := byKey[sec.Key]; !seen {
				keys = append(keys, sec.Key)
			}
			byKey[sec.Key] = ResolvedSecret{Secret: sec, Source: sc.String()}
		}
	}
	out := make([]ResolvedSecret, 0, len(keys))
	for _, k := range slices.Sorted(maps.Keys(byKey)) {
		out = append(out, byKey[k])
	}
	return out, nil
}

// RewrapSecrets moves every stored value not sealed under kr's active master
// key onto it (only the data keys are re-encrypted; values are never
// decrypted) and returns how many records it moved. Webhook signing secrets
// are sealed values too and are moved first, so that the rotation's
// RetireMasterKey, which counts both, can retire the old key. Each record is
// updated only if it is unchanged since it was read, so a concurrent destroy
// wins.
// Rewrapping takes no revision: no value or fingerprint changes.
func (s *Store) RewrapSecrets(ctx context.Context, kr *secrets.Keyring) (int, error) {
	type rec struct {
		ws, scope, key, sealed string
		version                int64
	}
	moved, err := s.rewrapWebhookSecrets(ctx, kr)
	if err != nil {
		return moved, err
	}
	for {
		// The active key is read per batch: a rotation during the job makes
		// the next batch move records onto the newer key.
		active := kr.ActiveID()
		movedBefore := moved
		rows, err := s.query(ctx, "SELECT workspace, scope, key, version, sealed FROM secret_versions WHERE key_id <> ? AND sealed IS NOT NULL ORDER BY workspace, scope, key, version LIMIT 500", active)
		if err != nil {
			return moved, fmt.Errorf("rewrap secrets: %w", err)
		}
		var batch []rec
		for rows.Next() {
			var r rec
			if err := rows.Scan(&r.ws, &r.scope, &r.key, &r.version, &r.sealed); err != nil {
				rows.Close()
				return moved, fmt.Errorf("rewrap secrets: %w", err)
			}
			batch = append(batch, r)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return moved, fmt.Errorf("rewrap secrets: %w", err)
		}
		if len(batch) == 0 {
			return moved, nil
		}
		for _, r := range batch {
			raw, err := base64.StdEncoding.DecodeString(r.sealed)
			if err != nil {
				return moved, errs.New(errs.FailedPrecondition, "rewrap secret %s:%s version %d: stored ciphertext is not valid base64", r.scope, r.key, r.version)
			}
			sealed, err := secrets.Unmarshal(raw)
			if err != nil {
				return moved, fmt.Errorf("rewrap secret %s:%s version %d: %w", r.scope, r.key, r.version, err)
			}
			out, changed, err := kr.Rewrap(secretAAD(r.ws, r.scope, r.key, r.version), sealed)
			if err != nil {
				return moved, errorsJoinKind(fmt.Errorf("rewrap secret %s:%s version %d: %w", r.scope, r.key, r.version, err))
			}
			if !changed {
				continue
			}
			b, err := out.Marshal()
			if err != nil {
				return moved, fmt.Errorf("rewrap secret %s:%s version %d: %w", r.scope, r.key, r.version, err)
			}
			res, err := s.db.ExecContext(ctx, s.d.rebind("UPDATE secret_versions SET sealed = ?, key_id = ? WHERE workspace = ? AND scope = ? AND key = ? AND version = ? AND sealed = ?"),
				base64.StdEncoding.EncodeToString(b), out.KeyID, r.ws, r.scope, r.key, r.version, r.sealed)
			if err != nil {
				return moved, fmt.Errorf("rewrap secret %s:%s version %d: %w", r.scope, r.key, r.version, err)
			}
			if n, _ := res.RowsAffected(); n > 0 {
				moved++
			}
		}
		if moved == movedBefore {
			// Every record of the batch was already moved or destroyed
			// concurrently; the next query would return the same rows.
			return moved, nil
		}
	}
}

// errorsJoinKind gives a rewrap failure the FailedPrecondition kind: the
// record cannot be moved until an operator looks at it.
func errorsJoinKind(err error) error {
	if errs.KindOf(err) != nil {
		return err
	}
	return fmt.Errorf("%w (%w)", errs.New(errs.FailedPrecondition, "a stored secret cannot be re-wrapped"), err)
}

// RetireMasterKey retires master key id from kr once no stored value or
// webhook signing secret or sealed webhook URL uses it.
// The check and the retirement happen while holding the revision counter
// lock every secret write takes before sealing, so no write can seal under
// the old key in between. It returns how many records still use id (and does
// not retire) when that is not zero; run RewrapSecrets and try again.
func (s *Store) RetireMasterKey(ctx context.Context, kr *secrets.Keyring, id string) (int, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("retire master key: begin: %w", err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, s.d.rebind("UPDATE revision_counter SET rev = rev WHERE id = 1")); err != nil {
		return 0, fmt.Errorf("retire master key: lock: %w", err)
	}
	var n int
	if err := tx.QueryRowContext(ctx, s.d.rebind("SELECT COUNT(*) FROM secret_versions WHERE key_id = ? AND sealed IS NOT NULL"), id).Scan(&n); err != nil {
		return 0, fmt.Errorf("retire master key: count: %w", err)
	}
	var hooks int
	if err := tx.QueryRowContext(ctx, s.d.rebind("SELECT COUNT(*) FROM webhooks WHERE (secret_key_id = ? AND secret_sealed <> '') OR (url_key_id = ? AND url_sealed <> '')"), id, id).Scan(&hooks); err != nil {
		return 0, fmt.Errorf("retire master key: count webhook secrets: %w", err)
	}
	if n += hooks; n > 0 {
		return n, nil
	}
	if err := kr.Retire(id); err != nil {
		return 0, err
	}
	return 0, nil
}
