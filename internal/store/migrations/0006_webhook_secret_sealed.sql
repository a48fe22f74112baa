-- Webhook signing secrets are sealed like secret values (internal/secrets):
-- secret_sealed holds the base64 of secrets.Sealed.Marshal, bound (AAD) to
-- the subscription, and secret_key_id names the master key it is wrapped
-- with, so that a master key rotation can find, re-wrap and count them before
-- retiring the old key. Sealing needs the keyring, which a migration does not
-- have: rows written before this migration keep their plaintext in secret
-- until the next server start seals them and clears it (SealWebhookSecrets).
-- New rows write an empty secret. The column stays until every installation
-- has started once with this version; a later migration can then drop it.

ALTER TABLE webhooks ADD COLUMN secret_sealed TEXT NOT NULL DEFAULT '';

ALTER TABLE webhooks ADD COLUMN secret_key_id TEXT NOT NULL DEFAULT '';
