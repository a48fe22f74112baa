-- API keys with their role bindings, secrets with their versions, and the
-- audit of secret reads. Tokens are never stored: only their SHA-256 (hex).
-- Secret values are stored only sealed (internal/secrets), base64-encoded.

CREATE TABLE api_keys (
	id           TEXT PRIMARY KEY,
	name         TEXT NOT NULL UNIQUE,
	token_hash   TEXT NOT NULL UNIQUE,
	bindings     {{json}} NOT NULL,
	expires_at   BIGINT NOT NULL,
	last_used_at BIGINT NOT NULL,
	revoked_at   BIGINT NOT NULL,
	created_at   BIGINT NOT NULL,
	created_by   TEXT NOT NULL,
	revision     BIGINT NOT NULL
);

-- secrets holds one row per secret: its current version and fingerprint and
-- whether it is soft-deleted. The values live in secret_versions.
CREATE TABLE secrets (
	workspace   TEXT NOT NULL REFERENCES workspaces (name),
	scope       TEXT NOT NULL,
	key         TEXT NOT NULL,
	version     BIGINT NOT NULL,
	fingerprint TEXT NOT NULL,
	deleted     INTEGER NOT NULL,
	revision    BIGINT NOT NULL,
	updated_at  BIGINT NOT NULL,
	PRIMARY KEY (workspace, scope, key)
);

-- sealed is NULL once a version is destroyed; key_id names the master key
-- that wraps its data key, so the rewrap job finds what still uses an old one.
CREATE TABLE secret_versions (
	workspace    TEXT NOT NULL,
	scope        TEXT NOT NULL,
	key          TEXT NOT NULL,
	version      BIGINT NOT NULL,
	sealed       TEXT,
	key_id       TEXT NOT NULL,
	fingerprint  TEXT NOT NULL,
	created_at   BIGINT NOT NULL,
	created_by   TEXT NOT NULL,
	destroyed_at BIGINT NOT NULL,
	revision     BIGINT NOT NULL,
	PRIMARY KEY (workspace, scope, key, version),
	FOREIGN KEY (workspace, scope, key) REFERENCES secrets (workspace, scope, key)
);

CREATE INDEX secret_versions_key_id ON secret_versions (key_id);

-- secret_reads is the read audit: reads consume no revision, so they do not
-- pollute the change log, yet every one is queryable.
CREATE TABLE secret_reads (
	time       BIGINT NOT NULL,
	actor      TEXT NOT NULL,
	request_id TEXT NOT NULL,
	workspace  TEXT NOT NULL,
	scope      TEXT NOT NULL,
	key        TEXT NOT NULL,
	version    BIGINT NOT NULL
);

CREATE INDEX secret_reads_secret ON secret_reads (workspace, scope, key, time);

CREATE INDEX secret_reads_time ON secret_reads (time);
