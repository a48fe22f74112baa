package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/flagops/flagops/internal/domain"
	"github.com/flagops/flagops/internal/errs"
	"github.com/flagops/flagops/internal/secrets"
)

// Webhook subscriptions are written like every other resource (one revision,
// a change of kind "webhook"), except that the signing secret and the
// delivery cursor never enter the change log: the secret because the log is
// readable by every follower, the cursor because it records who has read the
// log, and moving it must not itself append to the log.
//
// The signing secret, and the URL when it carries credentials, are stored
// sealed, like secret values (see webhook_seal.go); the url column holds
// the URL redacted, and so does every change entry. The plaintext column
// secret predates sealing; it is written empty and SealWebhookSecrets
// empties the rows of older versions.

const webhookCols = "workspace, name, url, type, filter, secret_sealed, url_sealed, grants, revision, created_at, cursor_revision, cursor_seq"

func scanWebhook(sc scanner) (domain.Webhook, error) {
	var w domain.Webhook
	var filter []byte
	var grants string
	var created int64
	if err := sc.Scan(&w.Workspace, &w.Name, &w.URL, &w.Type, &filter, &w.SealedSecret, &w.SealedURL, &grants, &w.Revision, &created,
		&w.Cursor.Revision, &w.Cursor.Seq); err != nil {
		return w, err
	}
	w.CreatedAt = fromNanos(created)
	if err := json.Unmarshal(filter, &w.Filter); err != nil {
		return w, fmt.Errorf("webhook %s: read filter: %w", w.Name, err)
	}
	if grants != "" {
		if err := json.Unmarshal([]byte(grants), &w.Grants); err != nil {
			return w, fmt.Errorf("webhook %s: read grants: %w", w.Name, err)
		}
	}
	return w, nil
}

// CreateWebhook stores a new subscription whose cursor starts after the
// revision that creates it (or after from, when from is positive and lower),
// so it receives the changes made from then on. Its secret, and its URL when
// that carries credentials, are sealed with kr inside the write transaction,
// after the revision counter is locked, for the reason given in secrets.go;
// only the sealed forms are stored, with the URL redacted (domain.RedactURL)
// in the row and the change entry, and the returned webhook carries them
// instead of the plaintext. w.Grants are stored as they are (none: see
// domain.Webhook). It fails with AlreadyExists when the name is taken.
func (s *Store) CreateWebhook(ctx context.Context, kr *secrets.Keyring, w domain.Webhook, from int64) (domain.Webhook, error) {
	filter, err := json.Marshal(w.Filter)
	if err != nil {
		return w, fmt.Errorf("create webhook %s: %w", w.Name, err)
	}
	grants := ""
	if len(w.Grants) > 0 {
		b, err := json.Marshal(w.Grants)
		if err != nil {
			return w, fmt.Errorf("create webhook %s: %w", w.Name, err)
		}
		grants = string(b)
	}
	_, err = s.write(ctx, func(t *wtx) error {
		if err := requireWorkspace(ctx, t.r(), w.Workspace); err != nil {
			return err
		}
		w.Revision, w.CreatedAt = t.rev, t.now
		w.Cursor = domain.CursorAfterRevision(t.rev)
		if from > 0 && from < t.rev {
			w.Cursor = domain.CursorAfterRevision(from)
		}
		secretKeyID, urlKeyID, err := sealWebhook(kr, &w)
		if err != nil {
			return err
		}
		_, err = t.exec(ctx, "INSERT INTO webhooks ("+webhookCols+", secret, secret_key_id, url_key_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, '', ?, ?)",
			w.Workspace, w.Name, w.URL, w.Type, string(filter), w.SealedSecret, w.SealedURL, grants, w.Revision, w.CreatedAt.UnixNano(),
			w.Cursor.Revision, w.Cursor.Seq, secretKeyID, urlKeyID)
		if err != nil {
			return s.mapConstraint(err, "webhook "+w.Name)
		}
		return t.record(w.Workspace, domain.KindWebhook, w.Name, domain.OpCreate, nil, w)
	})
	if err != nil {
		return domain.Webhook{}, fmt.Errorf("create webhook %s: %w", w.Name, err)
	}
	return w, nil
}

// GetWebhook returns one subscription, sealed secret and cursor included.
func (s *Store) GetWebhook(ctx context.Context, ws, name string) (domain.Webhook, error) {
	w, err := scanWebhook(s.queryRow(ctx, "SELECT "+webhookCols+" FROM webhooks WHERE workspace = ? AND name = ?", ws, name))
	if errors.Is(err, sql.ErrNoRows) {
		return w, errs.New(errs.NotFound, "webhook %s in workspace %s", errs.Quote(name), errs.Quote(ws))
	}
	if err != nil {
		return w, fmt.Errorf("get webhook %s: %w", name, err)
	}
	return w, nil
}

// ListWebhooks returns the subscriptions of a workspace ("" for every
// workspace, which is what the dispatcher reads), ordered by name.
func (s *Store) ListWebhooks(ctx context.Context, ws string) ([]domain.Webhook, error) {
	q, args := "SELECT "+webhookCols+" FROM webhooks ORDER BY workspace, name", []any(nil)
	if ws != "" {
		q, args = "SELECT "+webhookCols+" FROM webhooks WHERE workspace = ? ORDER BY name", []any{ws}
	}
	rows, err := s.query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list webhooks: %w", err)
	}
	defer rows.Close()
	var out []domain.Webhook
	for rows.Next() {
		w, err := scanWebhook(rows)
		if err != nil {
			return nil, fmt.Errorf("list webhooks: %w", err)
		}
		out = append(out, w)
	}
	return out, rows.Err()
}

// DeleteWebhook removes a subscription and its delivery log.
func (s *Store) DeleteWebhook(ctx context.Context, ws, name string) error {
	_, err := s.write(ctx, func(t *wtx) error {
		w, err := scanWebhook(t.queryRow(ctx, "SELECT "+webhookCols+" FROM webhooks WHERE workspace = ? AND name = ?", ws, name))
		if errors.Is(err, sql.ErrNoRows) {
			return errs.New(errs.NotFound, "webhook %s in workspace %s", errs.Quote(name), errs.Quote(ws))
		}
		if err != nil {
			return err
		}
		if _, err := t.exec(ctx, "DELETE FROM webhook_deliveries WHERE workspace = ? AND webhook = ?", ws, name); err != nil {
			return err
		}
		if _, err := t.exec(ctx, "DELETE FROM webhooks WHERE workspace = ? AND name = ?", ws, name); err != nil {
			return err
		}
		return t.record(ws, domain.KindWebhook, name, domain.OpDelete, w, nil)
	})
	if err != nil {
		return fmt.Errorf("delete webhook %s: %w", name, err)
	}
	return nil
}

// SetWebhookCursor moves a subscription's delivery cursor. It is not a
// change-log write. Moving it back (a redelivery) is allowed.
func (s *Store) SetWebhookCursor(ctx context.Context, ws, name string, c domain.Cursor) error {
	res, err := s.db.ExecContext(ctx, s.d.rebind("UPDATE webhooks SET cursor_revision = ?, cursor_seq = ? WHERE workspace = ? AND name = ?"),
		c.Revision, c.Seq, ws, name)
	if err != nil {
		return fmt.Errorf("set cursor of webhook %s: %w", name, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return errs.New(errs.NotFound, "webhook %s in workspace %s", errs.Quote(name), errs.Quote(ws))
	}
	return nil
}

// MaxDeliveries is how many delivery records each subscription keeps; older
// ones are pruned as new ones are written.
const MaxDeliveries = 1000

const deliveryCols = "id, webhook, revision, seq, event_type, status, attempts, last_error, response_code, created_at, updated_at"

// SaveDelivery inserts d (when d.ID is empty, giving it an id) or updates it,
// then prunes the subscription's log to MaxDeliveries records. It is fenced
// by the dispatcher's term when ctx carries one.
func (s *Store) SaveDelivery(ctx context.Context, ws string, d domain.Delivery) (domain.Delivery, error) {
	d.UpdatedAt = now()
	if d.ID == "" {
		var b [10]byte
		_, _ = rand.Read(b[:])
		d.ID, d.CreatedAt = hex.EncodeToString(b[:]), d.UpdatedAt
		_, err := s.fenced(ctx, func(x sqlExecQuerier) (int64, error) {
			_, err := x.ExecContext(ctx, s.d.rebind("INSERT INTO webhook_deliveries (workspace, "+deliveryCols+") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"),
				ws, d.ID, d.Webhook, d.Revision, d.Seq, d.EventType, d.Status, d.Attempts, d.LastError, d.ResponseCode,
				d.CreatedAt.UnixNano(), d.UpdatedAt.UnixNano())
			if err != nil {
				return 0, fmt.Errorf("record delivery to %s: %w", d.Webhook, err)
			}
			// Prune beyond the newest MaxDeliveries; the subquery keeps this
			// one statement on both dialects.
			_, err = x.ExecContext(ctx, s.d.rebind(`DELETE FROM webhook_deliveries WHERE workspace = ? AND webhook = ? AND id NOT IN
				(SELECT id FROM webhook_deliveries WHERE workspace = ? AND webhook = ? ORDER BY created_at DESC, id DESC LIMIT ?)`),
				ws, d.Webhook, ws, d.Webhook, MaxDeliveries)
			if err != nil {
				return 0, fmt.Errorf("prune deliveries of %s: %w", d.Webhook, err)
			}
			return 0, nil
		})
		return d, err
	}
	_, err := s.fenced(ctx, func(x sqlExecQuerier) (int64, error) {
		_, err := x.ExecContext(ctx, s.d.rebind("UPDATE webhook_deliveries SET status = ?, attempts = ?, last_error = ?, response_code = ?, updated_at = ? WHERE id = ?"),
			d.Status, d.Attempts, d.LastError, d.ResponseCode, d.UpdatedAt.UnixNano(), d.ID)
		return 0, err
	})
	if err != nil {
		return d, fmt.Errorf("update delivery %s: %w", d.ID, err)
	}
	return d, nil
}

func scanDelivery(sc scanner) (domain.Delivery, error) {
	var d domain.Delivery
	var created, updated int64
	err := sc.Scan(&d.ID, &d.Webhook, &d.Revision, &d.Seq, &d.EventType, &d.Status, &d.Attempts, &d.LastError,
		&d.ResponseCode, &created, &updated)
	d.CreatedAt, d.UpdatedAt = fromNanos(created), fromNanos(updated)
	return d, err
}

// ListDeliveries returns the newest limit (default 100, at most
// MaxDeliveries) delivery records of a subscription, oldest first.
func (s *Store) ListDeliveries(ctx context.Context, ws, webhook string, limit int) ([]domain.Delivery, error) {
	if limit <= 0 {
		limit = defaultLimit
	}
	limit = min(limit, MaxDeliveries)
	rows, err := s.query(ctx, "SELECT "+deliveryCols+" FROM webhook_deliveries WHERE workspace = ? AND webhook = ? ORDER BY created_at DESC, id DESC LIMIT ?",
		ws, webhook, limit)
	if err != nil {
		return nil, fmt.Errorf("list deliveries of %s: %w", webhook, err)
	}
	defer rows.Close()
	var out []domain.Delivery
	for rows.Next() {
		d, err := scanDelivery(rows)
		if err != nil {
			return nil, fmt.Errorf("list deliveries of %s: %w", webhook, err)
		}
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list deliveries of %s: %w", webhook, err)
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out, nil
}

// GetDelivery returns one delivery record of a subscription.
func (s *Store) GetDelivery(ctx context.Context, ws, webhook, id string) (domain.Delivery, error) {
	d, err := scanDelivery(s.queryRow(ctx, "SELECT "+deliveryCols+" FROM webhook_deliveries WHERE workspace = ? AND webhook = ? AND id = ?", ws, webhook, id))
	if errors.Is(err, sql.ErrNoRows) {
		return d, errs.New(errs.NotFound, "delivery %s of webhook %s", errs.Quote(id), errs.Quote(webhook))
	}
	if err != nil {
		return d, fmt.Errorf("get delivery %s: %w", id, err)
	}
	return d, nil
}

// FollowerCursor returns a named follower's cursor, and false when it has none yet.
func (s *Store) FollowerCursor(ctx context.Context, name string) (domain.Cursor, bool, error) {
	var c domain.Cursor
	err := s.queryRow(ctx, "SELECT revision, seq FROM follower_cursors WHERE name = ?", name).Scan(&c.Revision, &c.Seq)
	if errors.Is(err, sql.ErrNoRows) {
		return c, false, nil
	}
	if err != nil {
		return c, false, fmt.Errorf("read cursor of follower %s: %w", name, err)
	}
	return c, true, nil
}

// SetFollowerCursor stores a named follower's cursor. It is fenced by the
// follower's term when ctx carries one, so that a stale leader cannot move
// the cursor back over what the current one wrote.
func (s *Store) SetFollowerCursor(ctx context.Context, name string, c domain.Cursor) error {
	_, err := s.fenced(ctx, func(x sqlExecQuerier) (int64, error) {
		_, err := x.ExecContext(ctx, s.d.rebind("INSERT INTO follower_cursors (name, revision, seq) VALUES (?, ?, ?) ON CONFLICT (name) DO UPDATE SET revision = excluded.revision, seq = excluded.seq"),
			name, c.Revision, c.Seq)
		return 0, err
	})
	if err != nil {
		return fmt.Errorf("set cursor of follower %s: %w", name, err)
	}
	return nil
}

// AdvanceWebhookCursor moves a subscription's cursor from one position to
// another, and reports false (moving nothing) when it is no longer at from:
// a redelivery rewound it meanwhile, and the dispatcher must re-read. It is
// fenced by the dispatcher's term when ctx carries one.
func (s *Store) AdvanceWebhookCursor(ctx context.Context, ws, name string, from, to domain.Cursor) (bool, error) {
	n, err := s.fenced(ctx, func(x sqlExecQuerier) (int64, error) {
		res, err := x.ExecContext(ctx, s.d.rebind(`UPDATE webhooks SET cursor_revision = ?, cursor_seq = ?
			WHERE workspace = ? AND name = ? AND cursor_revision = ? AND cursor_seq = ?`),
			to.Revision, to.Seq, ws, name, from.Revision, from.Seq)
		if err != nil {
			return 0, err
		}
		return res.RowsAffected()
	})
	if err != nil {
		return false, fmt.Errorf("advance cursor of webhook %s: %w", name, err)
	}
	return n == 1, nil
}

// LatestDelivery returns the newest delivery record of one change to one
// subscription, so that a dispatcher restarted mid-retry continues its
// attempts count instead of starting a new record.
func (s *Store) LatestDelivery(ctx context.Context, ws, webhook string, rev int64, seq int) (domain.Delivery, bool, error) {
	d, err := scanDelivery(s.queryRow(ctx, "SELECT "+deliveryCols+` FROM webhook_deliveries
		WHERE workspace = ? AND webhook = ? AND revision = ? AND seq = ? ORDER BY created_at DESC, id DESC LIMIT 1`, ws, webhook, rev, seq))
	if errors.Is(err, sql.ErrNoRows) {
		return d, false, nil
	}
	if err != nil {
		return d, false, fmt.Errorf("latest delivery of %d-%d to %s: %w", rev, seq, webhook, err)
	}
	return d, true, nil
}
