-- Feature flags and segments of projects, and their scheduled changes and
-- progressive rollouts. A flag or segment is kept as its JSON document (the
-- internal/flag shape, which the change log also records) plus the columns
-- it is looked up and listed by.

CREATE TABLE flags (
	workspace  TEXT NOT NULL,
	project    TEXT NOT NULL,
	key        TEXT NOT NULL,
	doc        {{json}} NOT NULL,
	revision   BIGINT NOT NULL,
	created_at BIGINT NOT NULL,
	updated_at BIGINT NOT NULL,
	PRIMARY KEY (workspace, project, key),
	FOREIGN KEY (workspace, project) REFERENCES projects (workspace, name)
);

CREATE TABLE segments (
	workspace  TEXT NOT NULL,
	project    TEXT NOT NULL,
	key        TEXT NOT NULL,
	doc        {{json}} NOT NULL,
	revision   BIGINT NOT NULL,
	created_at BIGINT NOT NULL,
	updated_at BIGINT NOT NULL,
	PRIMARY KEY (workspace, project, key),
	FOREIGN KEY (workspace, project) REFERENCES projects (workspace, name)
);

-- A schedule is a scheduled change (one step) or a progressive rollout (one
-- step per rollout step). kind is "change" or "rollout"; doc is the
-- flag.ScheduledChange or flag.ProgressiveRollout; state is pending, done,
-- cancelled or failed.
CREATE TABLE flag_schedules (
	workspace  TEXT NOT NULL,
	id         TEXT NOT NULL,
	project    TEXT NOT NULL,
	flag       TEXT NOT NULL,
	kind       TEXT NOT NULL,
	doc        {{json}} NOT NULL,
	state      TEXT NOT NULL,
	revision   BIGINT NOT NULL,
	created_at BIGINT NOT NULL,
	updated_at BIGINT NOT NULL,
	PRIMARY KEY (workspace, id)
);

CREATE INDEX flag_schedules_flag ON flag_schedules (workspace, project, flag);

-- One row per step; the executor flips state from pending to done (or
-- failed) in the transaction that applies the step, guarded by the state,
-- so a step runs once however many executors race. applied_revision is the
-- revision that applied it.
CREATE TABLE flag_schedule_steps (
	workspace        TEXT NOT NULL,
	schedule_id      TEXT NOT NULL,
	step             INTEGER NOT NULL,
	due_at           BIGINT NOT NULL,
	state            TEXT NOT NULL,
	applied_revision BIGINT NOT NULL,
	error            TEXT NOT NULL,
	PRIMARY KEY (workspace, schedule_id, step),
	FOREIGN KEY (workspace, schedule_id) REFERENCES flag_schedules (workspace, id) ON DELETE CASCADE
);

CREATE INDEX flag_schedule_steps_due ON flag_schedule_steps (state, due_at);
