-- The change log, its revision counter and the catalog and facts projections.
-- {{json}} is the dialect's JSON column type; everything else is shared SQL.

CREATE TABLE revision_counter (
	id  INTEGER PRIMARY KEY,
	rev BIGINT NOT NULL
);

INSERT INTO revision_counter (id, rev) VALUES (1, 0);

CREATE TABLE meta (
	name  TEXT PRIMARY KEY,
	value BIGINT NOT NULL
);

INSERT INTO meta (name, value) VALUES ('compacted_revision', 0);

CREATE TABLE changes (
	revision   BIGINT NOT NULL,
	seq        INTEGER NOT NULL,
	time       BIGINT NOT NULL,
	actor      TEXT NOT NULL,
	request_id TEXT NOT NULL,
	workspace  TEXT NOT NULL,
	kind       TEXT NOT NULL,
	key        TEXT NOT NULL,
	op         TEXT NOT NULL,
	before     {{json}},
	after      {{json}},
	PRIMARY KEY (revision, seq)
);

CREATE INDEX changes_kind_key ON changes (kind, key, revision, seq);

CREATE INDEX changes_time ON changes (time);

CREATE INDEX changes_workspace ON changes (workspace, revision, seq);

CREATE TABLE workspaces (
	name        TEXT PRIMARY KEY,
	description TEXT NOT NULL,
	labels      {{json}} NOT NULL,
	revision    BIGINT NOT NULL,
	created_at  BIGINT NOT NULL,
	updated_at  BIGINT NOT NULL
);

CREATE TABLE environments (
	workspace   TEXT NOT NULL REFERENCES workspaces (name),
	name        TEXT NOT NULL,
	description TEXT NOT NULL,
	labels      {{json}} NOT NULL,
	revision    BIGINT NOT NULL,
	created_at  BIGINT NOT NULL,
	updated_at  BIGINT NOT NULL,
	PRIMARY KEY (workspace, name)
);

CREATE TABLE targets (
	workspace   TEXT NOT NULL,
	name        TEXT NOT NULL,
	environment TEXT NOT NULL,
	description TEXT NOT NULL,
	labels      {{json}} NOT NULL,
	revision    BIGINT NOT NULL,
	created_at  BIGINT NOT NULL,
	updated_at  BIGINT NOT NULL,
	PRIMARY KEY (workspace, name),
	FOREIGN KEY (workspace, environment) REFERENCES environments (workspace, name)
);

CREATE INDEX targets_environment ON targets (workspace, environment);

CREATE TABLE environment_sets (
	workspace   TEXT NOT NULL REFERENCES workspaces (name),
	name        TEXT NOT NULL,
	description TEXT NOT NULL,
	labels      {{json}} NOT NULL,
	revision    BIGINT NOT NULL,
	created_at  BIGINT NOT NULL,
	updated_at  BIGINT NOT NULL,
	PRIMARY KEY (workspace, name)
);

CREATE TABLE environment_set_members (
	workspace   TEXT NOT NULL,
	set_name    TEXT NOT NULL,
	environment TEXT NOT NULL,
	PRIMARY KEY (workspace, set_name, environment),
	FOREIGN KEY (workspace, set_name) REFERENCES environment_sets (workspace, name) ON DELETE CASCADE,
	FOREIGN KEY (workspace, environment) REFERENCES environments (workspace, name)
);

CREATE INDEX environment_set_members_environment ON environment_set_members (workspace, environment);

CREATE TABLE projects (
	workspace   TEXT NOT NULL REFERENCES workspaces (name),
	name        TEXT NOT NULL,
	description TEXT NOT NULL,
	labels      {{json}} NOT NULL,
	revision    BIGINT NOT NULL,
	created_at  BIGINT NOT NULL,
	updated_at  BIGINT NOT NULL,
	PRIMARY KEY (workspace, name)
);

CREATE TABLE project_environments (
	workspace   TEXT NOT NULL,
	project     TEXT NOT NULL,
	environment TEXT NOT NULL,
	PRIMARY KEY (workspace, project, environment),
	FOREIGN KEY (workspace, project) REFERENCES projects (workspace, name) ON DELETE CASCADE,
	FOREIGN KEY (workspace, environment) REFERENCES environments (workspace, name)
);

CREATE INDEX project_environments_environment ON project_environments (workspace, environment);

CREATE TABLE project_sets (
	workspace TEXT NOT NULL,
	project   TEXT NOT NULL,
	set_name  TEXT NOT NULL,
	PRIMARY KEY (workspace, project, set_name),
	FOREIGN KEY (workspace, project) REFERENCES projects (workspace, name) ON DELETE CASCADE,
	FOREIGN KEY (workspace, set_name) REFERENCES environment_sets (workspace, name)
);

CREATE INDEX project_sets_set ON project_sets (workspace, set_name);

-- A project's effective environments: its direct ones and those of its sets,
-- merged by name (UNION removes duplicates).
CREATE VIEW project_effective_environments AS
	SELECT workspace, project, environment FROM project_environments
	UNION
	SELECT ps.workspace, ps.project, m.environment
	FROM project_sets ps
	JOIN environment_set_members m ON m.workspace = ps.workspace AND m.set_name = ps.set_name;

-- Deployments are derived: a project on every target of its effective environments.
CREATE VIEW deployments AS
	SELECT e.workspace, e.project, t.name AS target, t.environment
	FROM project_effective_environments e
	JOIN targets t ON t.workspace = e.workspace AND t.environment = e.environment;

CREATE TABLE facts (
	workspace  TEXT NOT NULL,
	scope      TEXT NOT NULL,
	key        TEXT NOT NULL,
	value      {{json}} NOT NULL,
	revision   BIGINT NOT NULL,
	updated_at BIGINT NOT NULL,
	PRIMARY KEY (workspace, scope, key)
);

CREATE TABLE fact_scopes (
	workspace TEXT NOT NULL,
	scope     TEXT NOT NULL,
	revision  BIGINT NOT NULL,
	PRIMARY KEY (workspace, scope)
);
