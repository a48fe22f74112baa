-- Webhook URLs may carry credentials (https://user:pass@host/…, ?token=…).
-- From this version url holds the URL with those parts redacted
-- (domain.RedactURL), which is all that listings, the change log and events
-- show, and url_sealed the whole URL sealed like the signing secret (bound
-- to the subscription; url_key_id names its master key), which only the
-- dispatcher opens. Sealing needs the keyring, which a migration does not
-- have: rows written before this migration keep their whole URL in url until
-- the next server start seals it, redacts the row and redacts the URL in the
-- subscription's change entries (SealWebhookURLs).
--
-- grants holds the bindings (JSON) of the key that created the subscription:
-- it receives only the changes of its workspace those bindings may read.
-- Older rows have none and are taken as created by an administrator of
-- their workspace, the least creating one required.

ALTER TABLE webhooks ADD COLUMN url_sealed TEXT NOT NULL DEFAULT '';

ALTER TABLE webhooks ADD COLUMN url_key_id TEXT NOT NULL DEFAULT '';

ALTER TABLE webhooks ADD COLUMN grants TEXT NOT NULL DEFAULT '';
