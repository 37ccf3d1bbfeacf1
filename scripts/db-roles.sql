-- Least privilege for the saga engine (issues 6, 18): run the engine as a role that owns nothing.
-- The engine's `migrate` command does all of this by itself (DATABASE_MIGRATION_URL as the owner, DATABASE_URL as
-- the engine's role; see docs/security.md): this script is for a DBA who prefers psql. The two grant the same
-- (libs/nestjs/src/store/db-roles.ts, engineRoleGrants).
--
-- 1. The OWNER (the role that created the database, e.g. postgres) runs the migrations once per release:
--      DATABASE_URL=postgres://owner@host/sagas npm run start:orchestrator   (then stop it)
--    or start any engine process with the owner's URL once; migrations run at start.
-- 2. The owner runs this script (again after each release that adds tables):
--      psql postgres://owner@host/sagas -v ON_ERROR_STOP=1 -f scripts/db-roles.sql
-- 3. The engine runs as saga_app from then on:
--      DATABASE_URL=postgres://saga_app:<password>@host/sagas
--    It finds no pending migration and never needs DDL. It can append to saga_audit and read it, but UPDATE,
--    DELETE and TRUNCATE are refused by privileges ("permission denied", SQLSTATE 42501), before the trigger that
--    refuses them for the owner too. Owning nothing and no superuser, it can neither disable those triggers nor
--    set session_replication_role; the audit's hash chain (GET /v1/audit/verify) shows what the owner changes.
--
-- Set a password out of band: ALTER ROLE saga_app PASSWORD '...';  (or use your platform's IAM auth)

DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'saga_app') THEN
    CREATE ROLE saga_app LOGIN;
  END IF;
END
$$;

DO $$
BEGIN
  EXECUTE format('GRANT CONNECT ON DATABASE %I TO saga_app', current_database());
END
$$;
GRANT USAGE ON SCHEMA public TO saga_app;

-- The engine's own tables: ordinary DML.
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO saga_app;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO saga_app;

-- TypeORM's record of applied migrations: read only (the engine checks that none is pending; it applies none).
REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON migrations FROM saga_app;

-- The audit logs (operator actions, schedule changes): append and read, nothing else.
REVOKE ALL ON saga_audit FROM saga_app;
GRANT SELECT, INSERT ON saga_audit TO saga_app;
REVOKE ALL ON saga_schedule_audit FROM saga_app;
GRANT SELECT, INSERT ON saga_schedule_audit TO saga_app;
-- The audit chain's head: moved only by saga_audit's insert trigger (which runs as the owner).
REVOKE ALL ON saga_audit_chain FROM saga_app;
GRANT SELECT ON saga_audit_chain TO saga_app;

-- BullMQ's PostgreSQL backend (the step jobs when REDIS_URL is unset), once its schema exists (the owner's first
-- start creates it, and migrates it when a BullMQ upgrade needs to): its tables and functions, its ledger read only.
DO $$
BEGIN
  IF EXISTS (SELECT FROM pg_namespace WHERE nspname = 'bullmq') THEN
    GRANT USAGE ON SCHEMA bullmq TO saga_app;
    GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA bullmq TO saga_app;
    GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA bullmq TO saga_app;
    GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA bullmq TO saga_app;
    REVOKE INSERT, UPDATE, DELETE ON bullmq.migration FROM saga_app;
  END IF;
END
$$;

-- Elsewhere, if you use them: the demo participants (schema demo) create their own tables at start; start them
-- once as the owner, then grant likewise, e.g.:
--   GRANT USAGE ON SCHEMA demo TO saga_app;
--   GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA demo TO saga_app;
