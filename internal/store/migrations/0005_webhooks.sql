-- Outbound webhooks (subscriptions with their delivery cursor and log), inbound
-- fact hooks, and the cursors of other change-log followers (git write-back).
-- The cursor and delivery columns move outside the change log: they record
-- progress of followers, not state that anyone follows. Webhooks and hooks do
-- not reference workspaces, so that deleting a workspace needs no change here;
-- their rows are keyed by workspace and listed per workspace.

CREATE TABLE webhooks (
	workspace       TEXT NOT NULL,
	name            TEXT NOT NULL,
	url             TEXT NOT NULL,
	type            TEXT NOT NULL,
	filter          {{json}} NOT NULL,
	secret          TEXT NOT NULL,
	revision        BIGINT NOT NULL,
	created_at      BIGINT NOT NULL,
	cursor_revision BIGINT NOT NULL,
	cursor_seq      INTEGER NOT NULL,
	PRIMARY KEY (workspace, name)
);

CREATE TABLE webhook_deliveries (
	id            TEXT PRIMARY KEY,
	workspace     TEXT NOT NULL,
	webhook       TEXT NOT NULL,
	revision      BIGINT NOT NULL,
	seq           INTEGER NOT NULL,
	event_type    TEXT NOT NULL,
	status        TEXT NOT NULL,
	attempts      INTEGER NOT NULL,
	last_error    TEXT NOT NULL,
	response_code INTEGER NOT NULL,
	created_at    BIGINT NOT NULL,
	updated_at    BIGINT NOT NULL,
	FOREIGN KEY (workspace, webhook) REFERENCES webhooks (workspace, name) ON DELETE CASCADE
);

CREATE INDEX webhook_deliveries_by_webhook ON webhook_deliveries (workspace, webhook, created_at);

CREATE TABLE fact_hooks (
	workspace  TEXT NOT NULL,
	name       TEXT NOT NULL,
	token_hash TEXT NOT NULL,
	revision   BIGINT NOT NULL,
	created_at BIGINT NOT NULL,
	PRIMARY KEY (workspace, name)
);

CREATE TABLE follower_cursors (
	name     TEXT PRIMARY KEY,
	revision BIGINT NOT NULL,
	seq      INTEGER NOT NULL
);
