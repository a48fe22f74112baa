-- Versions, releases and promotions. Rows refer to catalog objects by name
-- without foreign keys: deleting a target or an environment must not be
-- refused because a version was once set there, and every read joins the
-- deployments view, so rows of deleted objects are simply not seen.

-- Desired versions: target '' is the environment-wide version, any other
-- target a pin that overrides it until removed.
CREATE TABLE desired_versions (
	workspace   TEXT NOT NULL,
	project     TEXT NOT NULL,
	environment TEXT NOT NULL,
	target      TEXT NOT NULL,
	version     TEXT NOT NULL,
	reason      TEXT NOT NULL,
	actor       TEXT NOT NULL,
	revision    BIGINT NOT NULL,
	updated_at  BIGINT NOT NULL,
	PRIMARY KEY (workspace, project, environment, target)
);

-- Every desired version ever set, for rollback and the history view.
CREATE TABLE version_history (
	workspace   TEXT NOT NULL,
	project     TEXT NOT NULL,
	environment TEXT NOT NULL,
	target      TEXT NOT NULL,
	revision    BIGINT NOT NULL,
	version     TEXT NOT NULL,
	reason      TEXT NOT NULL,
	actor       TEXT NOT NULL,
	time        BIGINT NOT NULL,
	PRIMARY KEY (workspace, project, environment, target, revision)
);

-- What agents report. since is when the current state (version, and whether
-- it is healthy) began; soak times count from it.
CREATE TABLE deployed_versions (
	workspace   TEXT NOT NULL,
	project     TEXT NOT NULL,
	target      TEXT NOT NULL,
	version     TEXT NOT NULL,
	status      TEXT NOT NULL,
	message     TEXT NOT NULL,
	revision    BIGINT NOT NULL,
	since       BIGINT NOT NULL,
	reported_at BIGINT NOT NULL,
	PRIMARY KEY (workspace, project, target)
);

CREATE TABLE releases (
	workspace  TEXT NOT NULL,
	project    TEXT NOT NULL,
	version    TEXT NOT NULL,
	body       {{json}} NOT NULL,
	revision   BIGINT NOT NULL,
	created_at BIGINT NOT NULL,
	PRIMARY KEY (workspace, project, version)
);

CREATE TABLE release_commits (
	workspace  TEXT NOT NULL,
	project    TEXT NOT NULL,
	version    TEXT NOT NULL,
	repository TEXT NOT NULL,
	sha        TEXT NOT NULL,
	PRIMARY KEY (workspace, project, version, repository)
);

CREATE INDEX release_commits_sha ON release_commits (sha);

CREATE TABLE release_artifacts (
	workspace TEXT NOT NULL,
	project   TEXT NOT NULL,
	version   TEXT NOT NULL,
	name      TEXT NOT NULL,
	platform  TEXT NOT NULL,
	sha256    TEXT NOT NULL,
	PRIMARY KEY (workspace, project, version, name, platform)
);

CREATE INDEX release_artifacts_sha256 ON release_artifacts (sha256);

-- Per-project version settings (require_release: setting a version needs a
-- release of it).
CREATE TABLE version_policies (
	workspace       TEXT NOT NULL,
	project         TEXT NOT NULL,
	require_release INTEGER NOT NULL,
	revision        BIGINT NOT NULL,
	PRIMARY KEY (workspace, project)
);

CREATE TABLE promotion_policies (
	workspace   TEXT NOT NULL,
	project     TEXT NOT NULL,
	from_env    TEXT NOT NULL,
	to_env      TEXT NOT NULL,
	body        {{json}} NOT NULL,
	revision    BIGINT NOT NULL,
	-- last_slot is the last scheduled time (Unix nanoseconds) the scheduler
	-- has dealt with, so a restart neither skips nor repeats a slot.
	last_slot   BIGINT NOT NULL,
	updated_at  BIGINT NOT NULL,
	PRIMARY KEY (workspace, project, from_env, to_env)
);

-- A promotion's identity for exactly-once: one record per policy, version
-- and slot ("auto", a scheduled time, or "manual-REV").
CREATE TABLE promotions (
	id         BIGINT PRIMARY KEY,
	workspace  TEXT NOT NULL,
	project    TEXT NOT NULL,
	from_env   TEXT NOT NULL,
	to_env     TEXT NOT NULL,
	version    TEXT NOT NULL,
	slot       TEXT NOT NULL,
	state      TEXT NOT NULL,
	body       {{json}} NOT NULL,
	updated_at BIGINT NOT NULL,
	UNIQUE (workspace, project, from_env, to_env, version, slot)
);

CREATE INDEX promotions_state ON promotions (state, workspace, project);

-- Pauses (project and environment set), project stop-the-line (environment
-- '') and workspace stop-the-line (project '').
CREATE TABLE promotion_holds (
	workspace   TEXT NOT NULL,
	project     TEXT NOT NULL,
	environment TEXT NOT NULL,
	body        {{json}} NOT NULL,
	PRIMARY KEY (workspace, project, environment)
);
