-- A fact hook is bound to the scopes it may write: scopes is a JSON list of
-- scope patterns such as "deployment/*@eu-1" (domain.ParseScopePattern).
-- Hooks created before this migration could write any scope of their
-- workspace, the workspace scope included; they get an empty list and may
-- write nothing until they are recreated with the scopes they need
-- (docs/integrations.md), because widening them silently is what the binding
-- exists to prevent.

ALTER TABLE fact_hooks ADD COLUMN scopes {{json}} NOT NULL DEFAULT '[]';
