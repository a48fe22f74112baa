-- Leases of leadership among the instances sharing a database (package
-- internal/leader): one row per background job that exactly one instance
-- runs (the scheduler, the webhook dispatcher, git write-back). term grows by
-- one every time the lease changes hands and is the fencing token that every
-- write of the leader's actions checks inside its transaction. expires_ms
-- and acquired_ms are Unix milliseconds by the database's clock, so that
-- instances whose clocks disagree still agree on when a lease expires; 0 in
-- expires_ms is a lease given up, free to take at once. The table replaces
-- the PostgreSQL advisory locks of earlier versions, which had no expiry: a
-- paused leader kept its lock for as long as its connection stayed open.

CREATE TABLE leader_leases (
	name        TEXT PRIMARY KEY,
	holder      TEXT NOT NULL,
	term        BIGINT NOT NULL,
	expires_ms  BIGINT NOT NULL,
	acquired_ms BIGINT NOT NULL
);
