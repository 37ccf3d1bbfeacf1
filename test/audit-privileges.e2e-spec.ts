import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { Client } from 'pg';
import { DataSource } from 'typeorm';
import { defineSaga } from '@saga-engine/sdk';
import { dataSourceOptions } from '../libs/nestjs/src/store/data-source-options';
import { migrateDatabase } from '../libs/nestjs/src/store/db-roles';
import { AuditLog } from '../libs/nestjs/src/store/saga-audit';
import { TestDatabase, startTestEngine, type TestEngine } from './support/test-engine';
import { TEST_PG_ADMIN_URL, TEST_QUEUE_KIND } from './support/urls';
import { PG_QUEUE_SCHEMA } from '../libs/nestjs/src/queue/queue-backend';
import { ensurePgQueueSchema } from '../libs/nestjs/src/queue/pg-queue-schema';

/**
 * Issue 6: "the audit table cannot be updated or deleted by the application's database role". The owner migrates
 * a fresh database and applies scripts/db-roles.sql for a login role of this test; connected as that role, an
 * INSERT into saga_audit works while UPDATE, DELETE and TRUNCATE are refused by privileges (42501 "permission
 * denied", not the trigger's message). Then a whole engine runs as that role: a saga completes, an operator's
 * cancel is audited, and the audit reads back.
 */
let releaseGate: () => void = () => undefined;
let gate: Promise<void> = Promise.resolve();

const simple = defineSaga('least-privilege', { version: 1 })
  .step('first', { run: () => ({ ok: 1 }), compensate: () => undefined })
  .step('second', {
    run: async () => {
      await gate;
      return { ok: 2 };
    },
  })
  .build();

describe('saga_audit under least privilege (e2e)', () => {
  const role = `saga_app_${randomBytes(4).toString('hex')}`;
  const db = new TestDatabase();
  let engine: TestEngine | undefined;

  const asRole = async <T>(fn: (c: Client) => Promise<T>): Promise<T> => {
    const url = new URL(db.url);
    url.username = role;
    const client = new Client({ connectionString: url.toString() });
    await client.connect();
    try {
      return await fn(client);
    } finally {
      await client.end();
    }
  };
  const failure = (promise: Promise<unknown>) =>
    promise.then(
      () => ({ code: 'none', message: 'succeeded' }),
      (error: { code?: string; message: string }) => ({ code: error.code, message: error.message }),
    );

  beforeAll(async () => {
    await db.create();
    // Migrations by the owner, as production would run them.
    const owner = new DataSource(dataSourceOptions(db.url, 2));
    await owner.initialize();
    await owner.destroy();
    // And BullMQ's schema, when the step jobs are in PostgreSQL (no Redis): the owner's first start creates it.
    if (TEST_QUEUE_KIND === 'postgres') await ensurePgQueueSchema(db.url, PG_QUEUE_SCHEMA);
    const script = readFileSync(join(__dirname, '..', 'scripts', 'db-roles.sql'), 'utf8').replace(
      /\bsaga_app\b/g,
      role,
    );
    await db.query(script);
    // The role signs in with the password the test URL carries, if any (the embedded PostgreSQL asks for one; the
    // machine's services trust loopback), so that swapping the user name in the URL is enough.
    const password = decodeURIComponent(new URL(db.url).password);
    if (password) await db.query(`ALTER ROLE "${role}" PASSWORD '${password.replace(/'/g, "''")}'`);
  });

  afterAll(async () => {
    if (engine)
      await engine.close(); // drops the database
    else await db.drop();
    const admin = new Client({ connectionString: TEST_PG_ADMIN_URL });
    await admin.connect();
    try {
      await admin.query(`DROP ROLE IF EXISTS "${role}"`);
    } finally {
      await admin.end();
    }
  });

  it('lets the role append and read, and refuses UPDATE, DELETE and TRUNCATE by privileges (42501)', async () => {
    const inserted = await asRole((c) =>
      c.query(
        `INSERT INTO saga_audit (actor, role, action, saga_id, step, reason, outcome, status_code, detail)
         VALUES ('k1', 'operator', 'cancel', gen_random_uuid(), NULL, 'customer asked', 'accepted', 202, NULL)
         RETURNING id`,
      ),
    );
    expect(inserted.rowCount).toBe(1);
    expect((await asRole((c) => c.query('SELECT count(*)::int AS n FROM saga_audit'))).rows[0].n).toBe(1);

    for (const sql of [
      `UPDATE saga_audit SET reason = 'rewritten'`,
      `UPDATE saga_audit SET reason = 'rewritten' WHERE false`,
      `DELETE FROM saga_audit`,
      `TRUNCATE saga_audit`,
    ]) {
      const refused = await failure(asRole((c) => c.query(sql)));
      // Privileges, not the trigger: the trigger's message says "append-only".
      expect({ sql, ...refused }).toEqual({ sql, code: '42501', message: 'permission denied for table saga_audit' });
    }
    // The row is intact, and the owner is still stopped by the trigger (the second line).
    const [row] = await db.query<{ reason: string }>('SELECT reason FROM saga_audit');
    expect(row.reason).toBe('customer asked');
    const owner = await failure(db.query(`UPDATE saga_audit SET reason = 'x'`));
    expect(owner.message).toMatch(/append-only/);
  });

  it('the migration took UPDATE, DELETE and TRUNCATE on saga_audit from PUBLIC', async () => {
    const rows = await db.query<{ privilege_type: string }>(
      `SELECT privilege_type FROM information_schema.role_table_grants
        WHERE table_name = 'saga_audit' AND grantee IN ('PUBLIC', $1)`,
      [role],
    );
    expect(rows.map((r) => r.privilege_type).sort()).toEqual(['INSERT', 'SELECT']);
  });

  it('runs the whole engine as that role: a saga completes, a cancel is audited and read back', async () => {
    engine = await startTestEngine({ sagas: [simple], db, dbUser: role, env: { SUPERVISOR_INTERVAL_MS: '200' } });
    const done = await engine.as('operator').post('/v1/sagas').send({ type: 'least-privilege', input: {} });
    expect(done.status).toBe(201);
    expect((await engine.waitForStatus(done.body.id, ['COMPLETED', 'FAILED'])).status).toBe('COMPLETED');

    gate = new Promise((resolve) => (releaseGate = resolve));
    const held = await engine.as('operator').post('/v1/sagas').send({ type: 'least-privilege', input: {} });
    expect(held.status).toBe(201);
    const cancel = await engine
      .as('operator')
      .post(`/v1/sagas/${held.body.id}/cancel`)
      .send({ reason: 'least privilege test' });
    expect(cancel.status).toBe(202);
    releaseGate();
    expect((await engine.waitForStatus(held.body.id, ['CANCELLED', 'FAILED'])).status).toBe('CANCELLED');

    const audit = await engine.as('admin').get(`/v1/audit?sagaId=${held.body.id}`);
    expect(audit.status).toBe(200);
    expect(JSON.stringify(audit.body)).toContain('least privilege test');
    // Written by the role the engine connects as.
    const [{ user }] = await engine.db.query<{ user: string }>(
      `SELECT usename AS user FROM pg_stat_activity WHERE datname = current_database() AND usename = $1 LIMIT 1`,
      [role],
    );
    expect(user).toBe(role);
  });
});

/**
 * Issue 18: the documented production setup and docker-compose.yml's default. The migration run (the `migrate`
 * command: DATABASE_MIGRATION_URL as the owner, DATABASE_URL naming the engine's role) creates the role, migrates
 * and grants; connected as that role, nothing can change or remove an audit row: UPDATE, DELETE, TRUNCATE,
 * `SET session_replication_role = replica` (which would skip the append-only trigger) and `ALTER TABLE ...
 * DISABLE TRIGGER` are all refused, and the chain's head cannot be moved. The chain still verifies afterwards.
 */
describe('the migrate command and the engine role (e2e)', () => {
  const role = `saga_engine_${randomBytes(4).toString('hex')}`;
  const password = randomBytes(12).toString('hex');
  const db = new TestDatabase();
  let engineUrl: string;

  const asEngine = async <T>(fn: (c: Client) => Promise<T>): Promise<T> => {
    const client = new Client({ connectionString: engineUrl });
    await client.connect();
    try {
      return await fn(client);
    } finally {
      await client.end();
    }
  };
  const failure = (promise: Promise<unknown>) =>
    promise.then(
      () => ({ code: 'none', message: 'succeeded' }),
      (error: { code?: string; message: string }) => ({ code: error.code, message: error.message }),
    );

  beforeAll(async () => {
    const url = new URL(db.url);
    url.username = role;
    url.password = password;
    engineUrl = url.toString();
    // The database does not exist yet: the migration run creates it, as compose's first start does.
    const lines: string[] = [];
    const result = await migrateDatabase(db.url, engineUrl, (line) => lines.push(line));
    expect(result).toEqual({ engineRole: role, created: true });
    expect(lines.join('\n')).toMatch(/SELECT and INSERT only/);
    // Run again (the next release): nothing to create, the grants are the same.
    expect(await migrateDatabase(db.url, engineUrl)).toEqual({ engineRole: role, created: false });
  });

  afterAll(async () => {
    await db.drop();
    const admin = new Client({ connectionString: TEST_PG_ADMIN_URL });
    await admin.connect();
    try {
      await admin.query(`DROP ROLE IF EXISTS "${role}"`);
    } finally {
      await admin.end();
    }
  });

  it('is no superuser and owns nothing', async () => {
    const [row] = await db.query<{ rolsuper: boolean; owned: number }>(
      `SELECT r.rolsuper, (SELECT count(*)::int FROM pg_class c WHERE c.relowner = r.oid) AS owned
         FROM pg_roles r WHERE r.rolname = $1`,
      [role],
    );
    expect(row).toEqual({ rolsuper: false, owned: 0 });
  });

  it('may append to the audit and read it, and nothing else', async () => {
    const inserted = await asEngine((c) =>
      c.query(
        `INSERT INTO saga_audit (actor, role, action, saga_id, step, reason, outcome, status_code, detail)
         VALUES ('k1', 'operator', 'cancel', gen_random_uuid(), NULL, 'customer asked', 'accepted', 202, NULL)
         RETURNING id`,
      ),
    );
    expect(inserted.rowCount).toBe(1);
    const refusals: [string, string, RegExp][] = [
      [`UPDATE saga_audit SET reason = 'rewritten'`, '42501', /permission denied for table saga_audit/],
      [`UPDATE saga_audit SET reason = 'rewritten' WHERE false`, '42501', /permission denied for table saga_audit/],
      [`DELETE FROM saga_audit`, '42501', /permission denied for table saga_audit/],
      [`TRUNCATE saga_audit`, '42501', /permission denied for table saga_audit/],
      [`SET session_replication_role = replica`, '42501', /permission denied to set parameter/],
      [`SET LOCAL session_replication_role = replica`, '42501', /permission denied to set parameter/],
      [`ALTER TABLE saga_audit DISABLE TRIGGER saga_audit_no_rewrite`, '42501', /must be owner of (table|relation)/],
      [`ALTER TABLE saga_audit DISABLE TRIGGER ALL`, '42501', /must be owner of (table|relation)/],
      [`ALTER TABLE saga_audit DISABLE TRIGGER saga_audit_chain_link`, '42501', /must be owner of (table|relation)/],
      [`DROP TRIGGER saga_audit_no_rewrite ON saga_audit`, '42501', /must be owner of (table|relation)/],
      [`ALTER TABLE saga_audit OWNER TO CURRENT_USER`, '42501', /must be owner of (table|relation)/],
      [`UPDATE saga_audit_chain SET seq = 0`, '42501', /permission denied for table saga_audit_chain/],
      [`DELETE FROM saga_audit_chain`, '42501', /permission denied for table saga_audit_chain/],
      [`UPDATE saga_schedule_audit SET reason = 'x'`, '42501', /permission denied for table saga_schedule_audit/],
      [`DELETE FROM migrations`, '42501', /permission denied for table migrations/],
    ];
    for (const [sql, code, message] of refusals) {
      // In a transaction each, as an attacker would try them (SET LOCAL needs one).
      const refused = await failure(
        asEngine(async (c) => {
          await c.query('BEGIN');
          try {
            await c.query(sql);
          } finally {
            await c.query('ROLLBACK');
          }
        }),
      );
      expect({ sql, code: refused.code }).toEqual({ sql, code });
      expect(refused.message).toMatch(message);
    }
    const [row] = await db.query<{ reason: string; n: number }>(
      'SELECT reason, (SELECT count(*)::int FROM saga_audit) AS n FROM saga_audit',
    );
    expect(row).toEqual({ reason: 'customer asked', n: 1 });
  });

  it('leaves a chain that verifies, read as the engine', async () => {
    const ds = new DataSource(dataSourceOptions(engineUrl, 2));
    await ds.initialize(); // no migration pending: the engine role applies none
    try {
      const audit = new AuditLog(ds);
      await audit.record({
        actor: 'k2',
        role: 'admin',
        action: 'retry',
        sagaId: '00000000-0000-4000-8000-000000000001',
        step: null,
        reason: 'second row',
        outcome: 'accepted',
        statusCode: 202,
        detail: null,
      });
      expect(await audit.verify()).toEqual({ ok: true, checked: 2 });
    } finally {
      await ds.destroy();
    }
  });

  it('refuses a superuser as the engine role', async () => {
    const owner = new URL(db.url);
    const superuserUrl = new URL(db.url);
    superuserUrl.username = 'postgres';
    if (decodeURIComponent(owner.username) === 'postgres') {
      // The test's owner is postgres itself: name it as the engine's role through another URL user that is super.
      const superRole = `saga_super_${randomBytes(3).toString('hex')}`;
      await db.query(`CREATE ROLE "${superRole}" LOGIN SUPERUSER`);
      try {
        superuserUrl.username = superRole;
        await expect(migrateDatabase(db.url, superuserUrl.toString())).rejects.toThrow(/is a superuser/);
      } finally {
        await db.query(`DROP ROLE "${superRole}"`);
      }
    }
  });
});
