import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { Client } from 'pg';
import { DataSource } from 'typeorm';
import { defineSaga } from '@saga-engine/sdk';
import { dataSourceOptions } from '../libs/nestjs/src/store/data-source-options';
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
