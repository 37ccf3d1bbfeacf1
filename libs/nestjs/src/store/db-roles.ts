import { Client } from 'pg';
import { DataSource } from 'typeorm';
import { dataSourceOptions } from './data-source-options';
import { ensureDatabase } from './ensure-database';

/**
 * Least privilege for the engine (issue 18): the schema's OWNER runs the migrations, and the engine connects as a
 * role that owns nothing. That role reads and writes the engine's tables, but may only SELECT and INSERT the audit
 * logs (`saga_audit`, `saga_schedule_audit`) and only read the audit chain's head: UPDATE, DELETE and TRUNCATE are
 * refused by privileges, and since it owns neither the tables nor their triggers, and is no superuser, it can
 * neither disable a trigger (`ALTER TABLE ... DISABLE TRIGGER`) nor skip them all
 * (`SET session_replication_role = replica`). `scripts/db-roles.sql` is the same for psql.
 */
export function engineRoleGrants(role: string, database: string, schema: string): string[] {
  const r = quoteIdent(role);
  return [
    `GRANT CONNECT ON DATABASE ${quoteIdent(database)} TO ${r}`,
    `GRANT USAGE ON SCHEMA ${quoteIdent(schema)} TO ${r}`,
    // The engine's own tables: ordinary DML.
    `GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA ${quoteIdent(schema)} TO ${r}`,
    `GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA ${quoteIdent(schema)} TO ${r}`,
    // TypeORM's record of applied migrations: read only (the engine checks that none is pending; it applies none).
    `REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON migrations FROM ${r}`,
    // The audit logs: append and read, nothing else; the chain's head is moved by the insert trigger only.
    `REVOKE ALL ON saga_audit FROM ${r}`,
    `GRANT SELECT, INSERT ON saga_audit TO ${r}`,
    `REVOKE ALL ON saga_schedule_audit FROM ${r}`,
    `GRANT SELECT, INSERT ON saga_schedule_audit TO ${r}`,
    `REVOKE ALL ON saga_audit_chain FROM ${r}`,
    `GRANT SELECT ON saga_audit_chain TO ${r}`,
  ];
}

export interface MigrateResult {
  /** The engine's role that was granted its privileges, or null (DATABASE_URL's user is the owner, or none). */
  engineRole: string | null;
  /** Whether the role was created by this run. */
  created: boolean;
}

/**
 * The migration run (`node dist/apps/orchestrator/main.js migrate`, compose's `migrate` service): as the owner
 * (`migrationUrl`), creates the database when missing, applies the pending migrations, then, when `engineUrl`
 * names another user, makes that role (when missing: LOGIN, with the URL's password; an existing one gets the
 * URL's password when it has one) and grants it exactly what the engine needs (`engineRoleGrants`). Refuses an
 * engine role that is a superuser, or that owns the audit log: either could rewrite it.
 */
export async function migrateDatabase(
  migrationUrl: string,
  engineUrl: string | undefined,
  log: (line: string) => void = () => undefined,
): Promise<MigrateResult> {
  await ensureDatabase(migrationUrl);
  const dataSource = new DataSource({ ...dataSourceOptions(migrationUrl, 2, null), logging: ['error'] });
  await dataSource.initialize(); // migrationsRun: applies what is pending
  await dataSource.destroy();
  log('migrations applied');
  const owner = decodeURIComponent(new URL(migrationUrl).username);
  if (!engineUrl) return { engineRole: null, created: false };
  const engine = new URL(engineUrl);
  const role = decodeURIComponent(engine.username);
  if (!role || role === owner) {
    log(`DATABASE_URL connects as the owner (${owner || 'the default user'}): no least-privilege role to grant`);
    return { engineRole: null, created: false };
  }
  const password = engine.password ? decodeURIComponent(engine.password) : null;
  const client = new Client({ connectionString: migrationUrl });
  await client.connect();
  try {
    const found = await client.query<{ rolsuper: boolean; rolbypassrls: boolean }>(
      'SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = $1',
      [role],
    );
    const created = found.rowCount === 0;
    if (created) {
      await client.query(`CREATE ROLE ${quoteIdent(role)} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE`);
      log(`role ${role} created`);
    } else if (found.rows[0].rolsuper || found.rows[0].rolbypassrls) {
      throw new Error(
        `DATABASE_URL's role ${role} is a superuser (or bypasses row security): it could rewrite the audit log. ` +
          'Give the engine a role of its own (docs/security.md)',
      );
    }
    if (password !== null) {
      await client.query(`ALTER ROLE ${quoteIdent(role)} LOGIN PASSWORD ${quoteLiteral(password)}`);
    }
    const owns = await client.query(
      `SELECT 1 FROM pg_class c JOIN pg_roles r ON r.oid = c.relowner
        WHERE c.oid = to_regclass('saga_audit') AND r.rolname = $1`,
      [role],
    );
    if (owns.rowCount) {
      throw new Error(`DATABASE_URL's role ${role} owns saga_audit: it could rewrite it. Migrate as another role`);
    }
    const where = await client.query<{ db: string; schema: string }>(
      'SELECT current_database() AS db, current_schema() AS schema',
    );
    await client.query('BEGIN');
    for (const statement of engineRoleGrants(role, where.rows[0].db, where.rows[0].schema)) {
      await client.query(statement);
    }
    await client.query('COMMIT');
    log(`role ${role}: the engine's privileges granted (the audit log: SELECT and INSERT only)`);
    return { engineRole: role, created };
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  } finally {
    await client.end();
  }
}

function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

function quoteLiteral(value: string): string {
  return `'${value.replace(/'/g, "''")}'`;
}
