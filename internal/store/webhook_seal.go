package store

import (
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"fmt"

	"github.com/flagops/flagops/internal/domain"
	"github.com/flagops/flagops/internal/errs"
	"github.com/flagops/flagops/internal/secrets"
)

// A subscription holds two sealed parts, each bound (AAD) to the
// subscription and to what it is, so neither opens as the other or as the
// part of another subscription:
//
//   - the signing secret: secret_sealed, under the master key secret_key_id;
//   - the whole URL when it carries credentials: url_sealed, under url_key_id
//     (empty when the URL has none; url then holds it whole).
//
// Both are sealed inside the write transaction, after the revision counter is
// locked, for the reason given in secrets.go.

// webhookPart is one sealed part of a subscription: its AAD key and columns.
type webhookPart struct {
	aadKey, sealedCol, keyCol string
	what                      string // for errors: "signing secret", "URL"
}

var (
	webhookSecretPart = webhookPart{aadKey: "signing-secret", sealedCol: "secret_sealed", keyCol: "secret_key_id", what: "signing secret"}
	webhookURLPart    = webhookPart{aadKey: "url", sealedCol: "url_sealed", keyCol: "url_key_id", what: "URL"}
)

// aad is the place part of a subscription is sealed for. The version is the
// revision that created the subscription, which never changes: a ciphertext
// copied to another subscription, or to a later one of the same name, does
// not open.
func (p webhookPart) aad(ws, name string, rev int64) secrets.AAD {
	return secrets.AAD{Workspace: ws, Scope: "webhook/" + name, Key: p.aadKey, Version: rev}
}

// seal seals plaintext for the subscription and returns the stored text and
// the master key ID.
func (p webhookPart) seal(kr *secrets.Keyring, ws, name string, rev int64, plaintext []byte) (string, string, error) {
	if kr == nil {
		return "", "", errs.New(errs.FailedPrecondition, "no master keys loaded to seal the %s of webhook %q", p.what, name)
	}
	sealed, err := kr.Seal(p.aad(ws, name, rev), plaintext)
	if err != nil {
		return "", "", fmt.Errorf("seal %s: %w", p.what, err)
	}
	raw, err := sealed.Marshal()
	if err != nil {
		return "", "", fmt.Errorf("seal %s: %w", p.what, err)
	}
	return base64.StdEncoding.EncodeToString(raw), sealed.KeyID, nil
}

// open opens the sealed text of the part of w. Every failure (unknown
// master key, a ciphertext tampered with or copied from another
// subscription) is FailedPrecondition with a message naming the cause but
// no bytes.
func (p webhookPart) open(kr *secrets.Keyring, w domain.Webhook, text string) ([]byte, error) {
	if kr == nil {
		return nil, errs.New(errs.FailedPrecondition, "no master keys loaded to open the %s of webhook %q", p.what, w.Name)
	}
	v, err := openSealed(kr, p.aad(w.Workspace, w.Name, w.Revision), text)
	if err != nil {
		return nil, fmt.Errorf("open %s of webhook %s: %w", p.what, w.Name, err)
	}
	return v, nil
}

// OpenWebhookSecret opens the sealed signing secret of a subscription read
// from the store (errors: see webhookPart.open).
func (s *Store) OpenWebhookSecret(kr *secrets.Keyring, w domain.Webhook) ([]byte, error) {
	if w.SealedSecret == "" {
		return nil, errs.New(errs.FailedPrecondition, "webhook %q has no sealed signing secret (a server start seals it)", w.Name)
	}
	return webhookSecretPart.open(kr, w, w.SealedSecret)
}

// OpenWebhookURL returns the URL to deliver to: the whole URL, opened from
// its sealed form when it carries credentials, else w.URL (errors: see
// webhookPart.open). The result may hold credentials: use it for the
// request only, never in a message.
func (s *Store) OpenWebhookURL(kr *secrets.Keyring, w domain.Webhook) (string, error) {
	if w.SealedURL == "" {
		return w.URL, nil
	}
	v, err := webhookURLPart.open(kr, w, w.SealedURL)
	if err != nil {
		return "", err
	}
	return string(v), nil
}

// sealWebhook seals the secret and, when it carries credentials, the URL of
// a subscription about to be stored, and returns the values of the sealed
// columns: w's URL is replaced by its redacted form and its Secret cleared.
func sealWebhook(kr *secrets.Keyring, w *domain.Webhook) (secretKeyID, urlKeyID string, err error) {
	w.SealedSecret, secretKeyID, err = webhookSecretPart.seal(kr, w.Workspace, w.Name, w.Revision, []byte(w.Secret))
	if err != nil {
		return "", "", err
	}
	w.Secret = ""
	redacted, secret := domain.RedactURL(w.URL)
	if secret {
		if w.SealedURL, urlKeyID, err = webhookURLPart.seal(kr, w.Workspace, w.Name, w.Revision, []byte(w.URL)); err != nil {
			return "", "", err
		}
		w.URL = redacted
	}
	return secretKeyID, urlKeyID, nil
}

// SealWebhookSecrets seals the plaintext signing secrets that subscriptions
// created before migration 0006 still hold, and clears the plaintext. The
// server runs it at start, once the keyring is loaded; it is idempotent (a
// sealed row has an empty secret). The rows are sealed in one transaction
// holding the revision counter lock, like every other seal, so a master key
// retirement cannot miss them. It returns how many rows it sealed.
func (s *Store) SealWebhookSecrets(ctx context.Context, kr *secrets.Keyring) (int, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("seal webhook secrets: begin: %w", err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, s.d.rebind("UPDATE revision_counter SET rev = rev WHERE id = 1")); err != nil {
		return 0, fmt.Errorf("seal webhook secrets: lock: %w", err)
	}
	type row struct {
		ws, name, secret string
		rev              int64
	}
	rows, err := tx.QueryContext(ctx, "SELECT workspace, name, revision, secret FROM webhooks WHERE secret <> ''")
	if err != nil {
		return 0, fmt.Errorf("seal webhook secrets: %w", err)
	}
	var todo []row
	for rows.Next() {
		var r row
		if err := rows.Scan(&r.ws, &r.name, &r.rev, &r.secret); err != nil {
			rows.Close()
			return 0, fmt.Errorf("seal webhook secrets: %w", err)
		}
		todo = append(todo, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("seal webhook secrets: %w", err)
	}
	for _, r := range todo {
		sealed, keyID, err := webhookSecretPart.seal(kr, r.ws, r.name, r.rev, []byte(r.secret))
		if err != nil {
			return 0, fmt.Errorf("seal secret of webhook %s: %w", r.name, err)
		}
		if _, err := tx.ExecContext(ctx, s.d.rebind("UPDATE webhooks SET secret_sealed = ?, secret_key_id = ?, secret = '' WHERE workspace = ? AND name = ?"),
			sealed, keyID, r.ws, r.name); err != nil {
			return 0, fmt.Errorf("seal secret of webhook %s: %w", r.name, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("seal webhook secrets: commit: %w", err)
	}
	return len(todo), nil
}

// SealWebhookURLs seals the URLs with credentials that subscriptions created
// before migration 0008 still hold whole, replaces them by their redacted
// form, and redacts them in the change entries of those subscriptions (the
// log is otherwise never rewritten: it held a credential every follower
// could read). The server runs it at start, once the keyring is loaded; it
// is idempotent (a sealed row's url is redacted already). It runs in one
// transaction holding the revision counter lock and returns how many
// subscriptions it sealed.
func (s *Store) SealWebhookURLs(ctx context.Context, kr *secrets.Keyring) (int, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("seal webhook URLs: begin: %w", err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, s.d.rebind("UPDATE revision_counter SET rev = rev WHERE id = 1")); err != nil {
		return 0, fmt.Errorf("seal webhook URLs: lock: %w", err)
	}
	type row struct {
		ws, name, url string
		rev           int64
	}
	rows, err := tx.QueryContext(ctx, "SELECT workspace, name, revision, url FROM webhooks WHERE url_sealed = ''")
	if err != nil {
		return 0, fmt.Errorf("seal webhook URLs: %w", err)
	}
	var todo []row
	for rows.Next() {
		var r row
		if err := rows.Scan(&r.ws, &r.name, &r.rev, &r.url); err != nil {
			rows.Close()
			return 0, fmt.Errorf("seal webhook URLs: %w", err)
		}
		if _, secret := domain.RedactURL(r.url); secret {
			todo = append(todo, r)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("seal webhook URLs: %w", err)
	}
	for _, r := range todo {
		sealed, keyID, err := webhookURLPart.seal(kr, r.ws, r.name, r.rev, []byte(r.url))
		if err != nil {
			return 0, fmt.Errorf("seal URL of webhook %s: %w", r.name, err)
		}
		redacted, _ := domain.RedactURL(r.url)
		if _, err := tx.ExecContext(ctx, s.d.rebind("UPDATE webhooks SET url = ?, url_sealed = ?, url_key_id = ? WHERE workspace = ? AND name = ?"),
			redacted, sealed, keyID, r.ws, r.name); err != nil {
			return 0, fmt.Errorf("seal URL of webhook %s: %w", r.name, err)
		}
	}
	if len(todo) > 0 {
		if err := s.redactWebhookChanges(ctx, tx); err != nil {
			return 0, err
		}
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("seal webhook URLs: commit: %w", err)
	}
	return len(todo), nil
}

// redactWebhookChanges redacts the URL in every webhook change entry whose
// before or after holds one with credentials.
func (s *Store) redactWebhookChanges(ctx context.Context, tx *sql.Tx) error {
	type entry struct {
		rev           int64
		seq           int
		before, after []byte
	}
	rows, err := tx.QueryContext(ctx, s.d.rebind("SELECT revision, seq, before, after FROM changes WHERE kind = ?"), domain.KindWebhook)
	if err != nil {
		return fmt.Errorf("redact webhook changes: %w", err)
	}
	var all []entry
	for rows.Next() {
		var e entry
		var before, after *string
		if err := rows.Scan(&e.rev, &e.seq, &before, &after); err != nil {
			rows.Close()
			return fmt.Errorf("redact webhook changes: %w", err)
		}
		if before != nil {
			e.before = []byte(*before)
		}
		if after != nil {
			e.after = []byte(*after)
		}
		all = append(all, e)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("redact webhook changes: %w", err)
	}
	for _, e := range all {
		before, bChanged := redactURLField(e.before)
		after, aChanged := redactURLField(e.after)
		if !bChanged && !aChanged {
			continue
		}
		if _, err := tx.ExecContext(ctx, s.d.rebind("UPDATE changes SET before = ?, after = ? WHERE revision = ? AND seq = ?"),
			jsonArg(before), jsonArg(after), e.rev, e.seq); err != nil {
			return fmt.Errorf("redact webhook change %d-%d: %w", e.rev, e.seq, err)
		}
	}
	return nil
}

// redactURLField returns doc with its top-level "url" redacted, and whether
// that changed it. A document without one, or that is not an object, is
// returned as it is.
func redactURLField(doc []byte) (json.RawMessage, bool) {
	if doc == nil {
		return nil, false
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(doc, &m) != nil {
		return doc, false
	}
	var u string
	if raw, ok := m["url"]; !ok || json.Unmarshal(raw, &u) != nil {
		return doc, false
	}
	redacted, secret := domain.RedactURL(u)
	if !secret || redacted == u {
		return doc, false
	}
	m["url"], _ = json.Marshal(redacted)
	out, err := json.Marshal(m)
	if err != nil {
		return doc, false
	}
	return out, true
}

// rewrapWebhookSecrets moves every sealed part of every subscription (the
// signing secret, the URL) not sealed under kr's active master key onto it,
// like RewrapSecrets does for secret values, and returns how many it moved.
// Subscriptions are few: one read per part takes them all.
func (s *Store) rewrapWebhookSecrets(ctx context.Context, kr *secrets.Keyring) (int, error) {
	moved := 0
	for _, p := range []webhookPart{webhookSecretPart, webhookURLPart} {
		n, err := s.rewrapWebhookPart(ctx, kr, p)
		moved += n
		if err != nil {
			return moved, err
		}
	}
	return moved, nil
}

func (s *Store) rewrapWebhookPart(ctx context.Context, kr *secrets.Keyring, p webhookPart) (int, error) {
	type rec struct {
		ws, name, sealed string
		rev              int64
	}
	rows, err := s.query(ctx, "SELECT workspace, name, revision, "+p.sealedCol+" FROM webhooks WHERE "+p.sealedCol+" <> '' AND "+p.keyCol+" <> ?", kr.ActiveID())
	if err != nil {
		return 0, fmt.Errorf("rewrap webhook %ss: %w", p.what, err)
	}
	var batch []rec
	for rows.Next() {
		var r rec
		if err := rows.Scan(&r.ws, &r.name, &r.rev, &r.sealed); err != nil {
			rows.Close()
			return 0, fmt.Errorf("rewrap webhook %ss: %w", p.what, err)
		}
		batch = append(batch, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("rewrap webhook %ss: %w", p.what, err)
	}
	moved := 0
	for _, r := range batch {
		raw, err := base64.StdEncoding.DecodeString(r.sealed)
		if err != nil {
			return moved, errs.New(errs.FailedPrecondition, "rewrap %s of webhook %s: stored ciphertext is not valid base64", p.what, r.name)
		}
		sealed, err := secrets.Unmarshal(raw)
		if err != nil {
			return moved, errorsJoinKind(fmt.Errorf("rewrap %s of webhook %s: %w", p.what, r.name, err))
		}
		out, changed, err := kr.Rewrap(p.aad(r.ws, r.name, r.rev), sealed)
		if err != nil {
			return moved, errorsJoinKind(fmt.Errorf("rewrap %s of webhook %s: %w", p.what, r.name, err))
		}
		if !changed {
			continue
		}
		b, err := out.Marshal()
		if err != nil {
			return moved, fmt.Errorf("rewrap %s of webhook %s: %w", p.what, r.name, err)
		}
		// Updated only if unchanged since read, so a concurrent delete wins.
		res, err := s.db.ExecContext(ctx, s.d.rebind("UPDATE webhooks SET "+p.sealedCol+" = ?, "+p.keyCol+" = ? WHERE workspace = ? AND name = ? AND "+p.sealedCol+" = ?"),
			base64.StdEncoding.EncodeToString(b), out.KeyID, r.ws, r.name, r.sealed)
		if err != nil {
			return moved, fmt.Errorf("rewrap %s of webhook %s: %w", p.what, r.name, err)
		}
		if n, _ := res.RowsAffected(); n > 0 {
			moved++
		}
	}
	return moved, nil
}
