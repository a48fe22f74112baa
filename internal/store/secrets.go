package store

import (
	"context"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"

	"github.com/flagops/flagops/internal/domain"
	"github.com/flagops/flagops/internal/errs"
	"github.com/flagops/flagops/internal/secrets"
)

// Secrets are stored sealed: secret_versions.sealed holds the base64 of
// secrets.Sealed.Marshal, bound (AAD) to workspace, scope, key and version.
// Values are sealed inside the write transaction, after the revision counter
// is locked, so that a master key retirement (which checks for users of the
// old key under the same lock) can never miss a value sealed under it.

// secretAAD is the place a version is sealed for.
func secretAAD(ws, scope, key string, version int64) secrets.AAD {
	return secrets.AAD{Workspace: ws, Scope: scope, Key: key, Version: version}
}

// validateSecret checks a secret's scope, key and value size.
func validateSecret(sc domain.Scope, key string) error {
	if err := sc.Validate(); err != nil {
		return err
	}
	return domain.ValidateFactKey("key", key)
}

func stateOf(sec domain.Secret) domain.SecretState {
	return domain.SecretState{Version: sec.Version, Fingerprint: sec.Fingerprint, Deleted: sec.Deleted}
}

// secretRow reads a secret's metadata row; found is false when it has none.
func (r reader) secretRow(ctx context.Context, ws string, sc domain.Scope, key string) (domain.Secret, bool, error) {
	sec := domain.Secret{Scope: sc, Key: key}
	var deleted int
	var updated int64
	err := r.queryRow(ctx, "SELECT version, fingerprint, deleted, revision, updated_at FROM secrets WHERE workspace = ? AND scope = ? AND key = ?",
		ws, sc.String(), key).Scan(&sec.Version, &sec.Fingerprint, &deleted, &sec.Revision, &updated)
	if errors.Is(err, sql.ErrNoRows) {
		return domain.Secret{Scope: sc, Key: key}, false, nil
	}
	if err != nil {
		return sec, false, fmt.Errorf("read secret: %w", err)
	}
	sec.Deleted, sec.UpdatedAt = deleted != 0, fromNanos(updated)
	return sec, true, nil
}

// PutSecret stores value as the next version of the secret. cas, when set,
// is the version the caller expects to be current (0: the secret must not
// exist). The scope's objects must exist. A value equal to the current one
// (same fingerprint, not deleted) changes nothing. The plaintext is never
// stored or recorded: the change entry carries only SecretState.
func (s *Store) PutSecret(ctx context.Context, kr *secrets.Keyring, ws string, sc domain.Scope, key string, value []byte, cas *int64) (domain.Secret, error) {
	if err := validateSecret(sc, key); err != nil {
		return domain.Secret{}, err
	}
	if len(value) > domain.MaxSecretValue {
		return domain.Secret{}, &errs.FieldError{Field: "value", Rule: fmt.Sprintf("must be at most %d bytes", domain.MaxSecretValue), Kind: errs.TooLarge}
	}
	scope := sc.String()
	fp := kr.Fingerprint(ws, scope, key, value)
	var out domain.Secret
	_, err := s.write(ctx, func(t *wtx) error {
		r := t.r()
		if err := checkScope(ctx, r, ws, sc); err != nil {
			return err
		}
		cur, found, err := r.secretRow(ctx, ws, sc, key)
		if err != nil {
			return err
		}
		if cas != nil && *cas != cur.Version {
			return errs.New(errs.Conflict, "secret %s:%s is at version %d, not the expected %d", scope, key, cur.Version, *cas)
		}
		out = cur
		if found && !cur.Deleted && cur.Fingerprint == fp {
			return nil
		}
		next := domain.Secret{Scope: sc, Key: key, Version: cur.Version + 1, Fingerprint: fp, Revision: t.rev, UpdatedAt: t.now}
		sealed, err := kr.Seal(secretAAD(ws, scope, key, next.Version), value)
		if err != nil {
			return fmt.Errorf("seal: %w", err)
		}
		raw, err := sealed.Marshal()
		if err != nil {
			return fmt.Errorf("seal: %w", err)
		}
		if found {
			_, err = t.exec(ctx, "UPDATE secrets SET version = ?, fingerprint = ?, deleted = 0, revision = ?, updated_at = ? WHERE workspace = ? AND scope = ? AND key = ?",
				next.Version, fp, t.rev, t.now.UnixNano(), ws, scope, key)
		} else {
			_, err = t.exec(ctx, "INSERT INTO secrets (workspace, scope, key, version, fingerprint, deleted, revision, updated_at) VALUES (?, ?, ?, ?, ?, 0, ?, ?)",
				ws, scope, key, next.Version, fp, t.rev, t.now.UnixNano())
		}
		if err != nil {
			return fmt.Errorf("write secret: %w", err)
		}
		if _, err := t.exec(ctx, "INSERT INTO secret_versions (workspace, scope, key, version, sealed, key_id, fingerprint, created_at, created_by, destroyed_at, revision) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?)",
			ws, scope, key, next.Version, base64.StdEncoding.EncodeToString(raw), sealed.KeyID, fp, t.now.UnixNano(), t.origin.Actor, t.rev); err != nil {
			return fmt.Errorf("write secret version: %w", err)
		}
		op, before := domain.OpCreate, any(nil)
		if found {
			op, before = domain.OpUpdate, stateOf(cur)
		}
		out = next
		return t.record(ws, domain.KindSecret, domain.SecretChangeKey(sc, key), op, before, stateOf(next))
	})
	if err != nil {
		return domain.Secret{}, fmt.Errorf("put secret %s:%s: %w", scope, key, err)
	}
	return out, nil
}

// setDeleted soft-deletes or restores a secret.
func (s *Store) setDeleted(ctx context.Context, ws string, sc domain.Scope, key string, deleted bool, cas *int64) (domain.Secret, error) {
	if err := validateSecret(sc, key); err != nil {
		return domain.Secret{}, err
	}
	var out domain.Secret
	_, err := s.write(ctx, func(t *wtx) error {
		cur, found, err := t.r().secretRow(ctx, ws, sc, key)
		if err != nil {
			return err
		}
		if !found {
			return errs.New(errs.NotFound, "secret %s:%s", sc, key)
		}
		if cas != nil && *cas != cur.Version {
			return errs.New(errs.Conflict, "secret %s:%s is at version %d, not the expected %d", sc, key, cur.Version, *cas)
		}
		out = cur
		if cur.Deleted == deleted {
			return nil
		}
		next := cur
		next.Deleted, next.Revision, next.UpdatedAt = deleted, t.rev, t.now
		flag := 0
		if deleted {
			flag = 1
		}
		if _, err := t.exec(ctx, "UPDATE secrets SET deleted = ?, revision = ?, updated_at = ? WHERE workspace = ? AND scope = ? AND key = ?",
			flag, t.rev, t.now.UnixNano(), ws, sc.String(), key); err != nil {
			return fmt.Errorf("update secret: %w", err)
		}
		out = next
		op := domain.OpUpdate
		if deleted {
			op = domain.OpDelete
		}
		return t.record(ws, domain.KindSecret, domain.SecretChangeKey(sc, key), op, stateOf(cur), stateOf(next))
	})
	if err != nil {
		return domain.Secret{}, fmt.Errorf("set deleted of secret %s:%s: %w", sc, key, err)
	}
	return out, nil
}

// DeleteSecret soft-deletes a secret: its versions stay (RestoreSecret brings
// it back) but it is neither read nor resolved.
func (s *Store) DeleteSecret(ctx context.Context, ws string, sc domain.Scope, key string, cas *int64) (domain.Secret, error) {
	return s.setDeleted(ctx, ws, sc, key, true, cas)
}

// RestoreSecret undoes DeleteSecret.
func (s *Store) RestoreSecret(ctx context.Context, ws string, sc domain.Scope, key string) (domain.Secret, error) {
	return s.setDeleted(ctx, ws, sc, key, false, nil)
}

// DestroySecretVersion erases the sealed value of one version for good; its
// metadata (fingerprint, who and when) stays for the history.
func (s *Store) DestroySecretVersion(ctx context.Context, ws string, sc domain.Scope, key string, version int64) (domain.Secret, error) {
	if err := validateSecret(sc, key); err != nil {
		return domain.Secret{}, err
	}
	scope := sc.String()
	var out domain.Secret
	_, err := s.write(ctx, func(t *wtx) error {
		cur, found, err := t.r().secretRow(ctx, ws, sc, key)
		if err != nil {
			return err
		}
		if !found {
			return errs.New(errs.NotFound, "secret %s:%s", scope, key)
		}
		out = cur
		res, err := t.exec(ctx, "UPDATE secret_versions SET sealed = NULL, destroyed_at = ?, revision = ? WHERE workspace = ? AND scope = ? AND key = ? AND version = ? AND sealed IS NOT NULL",
			t.now.UnixNano(), t.rev, ws, scope, key, version)
		if err != nil {
			return fmt.Errorf("destroy: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			var exists int
			if err := t.queryRow(ctx, "SELECT COUNT(*) FROM secret_versions WHERE workspace = ? AND scope = ? AND key = ? AND version = ?", ws, scope, key, version).Scan(&exists); err != nil {
				return fmt.Errorf("destroy: %w", err)
			}
			if exists == 0 {
				return errs.New(errs.NotFound, "secret %s:%s version %d", scope, key, version)
			}
			return nil // already destroyed
		}
		after := stateOf(cur)
		after.Destroyed = version
		return t.record(ws, domain.KindSecret, domain.SecretChangeKey(sc, key), domain.OpUpdate, stateOf(cur), after)
	})
	if err != nil {
		return domain.Secret{}, fmt.Errorf("destroy secret %s:%s version %d: %w", scope, key, version, err)
	}
	return out, nil
}

// ReadSecret decrypts a version of a secret (0: the current one) and records
// the read in the audit (who, which secret, which version, when) before
// returning the value: a read that cannot be audited fails. A deleted secret
// or a destroyed version is NotFound; a value that does not decrypt (wrong
// master key, tampered or moved ciphertext) is FailedPrecondition with a
// message that says so, never garbage.
func (s *Store) ReadSecret(ctx context.Context, kr *secrets.Keyring, ws string, sc domain.Scope, key string, version int64) ([]byte, int64, error) {
	if err := validateSecret(sc, key); err != nil {
		return nil, 0, err
	}
	scope := sc.String()
	cur, found, err := s.r().secretRow(ctx, ws, sc, key)
	if err != nil {
		return nil, 0, err
	}
	if !found {
		return nil, 0, errs.New(errs.NotFound, "secret %s:%s", scope, key)
	}
	if version == 0 {
		if cur.Deleted {
			return nil, 0, errs.New(errs.NotFound, "secret %s:%s is deleted (restore it to read it)", scope, key)
		}
		version = cur.Version
	}
	var sealedText sql.NullString
	err = s.queryRow(ctx, "SELECT sealed FROM secret_versions WHERE workspace = ? AND scope = ? AND key = ? AND version = ?", ws, scope, key, version).Scan(&sealedText)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, 0, errs.New(errs.NotFound, "secret %s:%s version %d", scope, key, version)
	}
	if err != nil {
		return nil, 0, fmt.Errorf("read secret %s:%s: %w", scope, key, err)
	}
	if !sealedText.Valid {
		return nil, 0, errs.New(errs.NotFound, "secret %s:%s version %d was destroyed", scope, key, version)
	}
	value, err := openSealed(kr, secretAAD(ws, scope, key, version), sealedText.String)
	if err != nil {
		return nil, 0, fmt.Errorf("read secret %s:%s version %d: %w", scope, key, version, err)
	}
	o := domain.OriginFrom(ctx)
	if _, err := s.db.ExecContext(ctx, s.d.rebind("INSERT INTO secret_reads (time, actor, request_id, workspace, scope, key, version) VALUES (?, ?, ?, ?, ?, ?, ?)"),
		now().UnixNano(), o.Actor, o.RequestID, ws, scope, key, version); err != nil {
		clear(value)
		return nil, 0, fmt.Errorf("audit read of secret %s:%s: %w", scope, key, err)
	}
	return value, version, nil
}

// openSealed decodes and opens a stored record, giving every failure a kind
// and a message that names the cause but no bytes.
func openSealed(kr *secrets.Keyring, aad secrets.AAD, text string) ([]byte, error) {
	raw, err := base64.StdEncoding.DecodeString(text)
	if err != nil {
		return nil, errs.New(errs.FailedPrecondition, "stored ciphertext is not valid base64 (tampered with)")
	}
	sealed, err := secrets.Unmarshal(raw)
	if err != nil {
		return nil, errors.Join(errs.New(errs.FailedPrecondition, "stored ciphertext is malformed or truncated"), err)
	}
	value, err := kr.Open(aad, sealed)
	switch {
	case errors.Is(err, secrets.ErrUnknownKey):
		return nil, errors.Join(errs.New(errs.FailedPrecondition, "sealed under master key %s, which this server does not hold", errs.Quote(sealed.KeyID)), err)
	case errors.Is(err, secrets.ErrMalformed):
		return nil, errors.Join(errs.New(errs.FailedPrecondition, "stored ciphertext is malformed or truncated"), err)
	case err != nil:
		return nil, errors.Join(errs.New(errs.FailedPrecondition, "value does not decrypt: wrong master key, or the ciphertext was tampered with or moved"), err)
	}
	return value, nil
}

// workspaceSecrets returns the metadata of every secret of a workspace.
func (r reader) workspaceSecrets(ctx context.Context, ws string) ([]domain.Secret, error) {
	rows, err := r.query(ctx, "SELECT scope, key, version, fingerprint, deleted FROM secrets WHERE workspace = ? ORDER BY scope, key", ws)
	if err != nil {
		return nil, fmt.Errorf("read secrets of workspace %s: %w", errs.Quote(ws), err)
	}
	defer rows.Close()
	var out []domain.Secret
	for rows.Next() {
		var sec domain.Secret
		var scope string
		var deleted int
		if err := rows.Scan(&scope, &sec.Key, &sec.Version, &sec.Fingerprint, &deleted); err != nil {
			return nil, fmt.Errorf("read secrets of workspace %s: %w", errs.Quote(ws), err)
		}
		if sec.Scope, err = domain.ParseScope(scope); err != nil {
			return nil, fmt.Errorf("read secrets of workspace %s: stored scope %s: %w", errs.Quote(ws), errs.Quote(scope), err)
		}
		sec.Deleted = deleted != 0
		out = append(out, sec)
	}
	return out, rows.Err()
}

// dropSecrets erases the secrets of a workspace being force-deleted, values
// and versions included, recording a delete of each (states only).
func (t *wtx) dropSecrets(ctx context.Context, ws string, list []domain.Secret) error {
	if len(list) == 0 {
		return nil
	}
	for _, q := range []string{"DELETE FROM secret_versions WHERE workspace = ?", "DELETE FROM secrets WHERE workspace = ?"} {
		if _, err := t.exec(ctx, q, ws); err != nil {
			return fmt.Errorf("drop secrets of workspace %s: %w", errs.Quote(ws), err)
		}
	}
	for _, sec := range list {
		if err := t.record(ws, domain.KindSecret, domain.SecretChangeKey(sec.Scope, sec.Key), domain.OpDelete, stateOf(sec), nil); err != nil {
			return err
		}
	}
	return nil
}
