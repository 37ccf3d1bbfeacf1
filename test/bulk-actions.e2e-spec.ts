import 'reflect-metadata';
import { Client, Pool } from 'pg';
import { SagaClient } from '@saga-engine/client';
import { NonRetryableError, defineSaga } from '@saga-engine/sdk';
import { TEST_API_KEYS, startTestEngine, type TestEngine } from './support/test-engine';
import { waitFor } from './support/wait-for';

/**
 * Bulk actions (issue 19 item 3) against the real engine: 500 sagas left FAILED by a participant that is down,
 * the participant fixed, a dry run that counts them, one bulk retry that ends them all COMPLETED with each effect
 * applied once per idempotency key (the participant's ledger in PostgreSQL); the cap, the roles, a key's types,
 * and stopping a job while it runs. (A supervisor killed -9 mid-job: bulk-actions-recovery.e2e-spec.ts.)
 */

/** The participant: down (every call fails for good) until the test fixes it. */
let carrierDown = true;
let ledger: Pool;

/** Applies an effect for real: one ledger row per call that succeeded. */
async function apply(key: string, effect: string): Promise<{ key: string }> {
  await ledger.query(`INSERT INTO bulk_ledger (key, effect) VALUES ($1, $2)`, [key, effect]);
  return { key };
}

const order = defineSaga('bulk-order', { version: 1 })
  .step('charge', { run: (ctx) => apply(ctx.key, 'charge'), pivot: true })
  .step('ship', {
    run: (ctx) => {
      // Past the pivot, a definite "no" leaves the saga FAILED, for a human: what a bulk retry is for.
      // (Or down for this one saga: its input says so.)
      if (carrierDown || (ctx.input as { carrierDown?: boolean }).carrierDown) {
        throw new NonRetryableError('the carrier is down', { code: 'CARRIER_DOWN' });
      }
      return apply(ctx.key, 'ship');
    },
  })
  .build();
const other = defineSaga('bulk-other', { version: 1 })
  .step('only', { run: () => ({ ok: true }) })
  .build();

const SCOPED_KEY = 'test-scoped-key-0123456789abcdefghijkl';
const COUNT = 500;

describe('bulk actions (e2e)', () => {
  let engine: TestEngine;

  beforeAll(async () => {
    engine = await startTestEngine({
      sagas: [order, other],
      env: {
        SAGA_API_KEYS: `${TEST_API_KEYS},scoped:${SCOPED_KEY}:admin:bulk-other`,
        SUPERVISOR_INTERVAL_MS: '200',
        AGENT_CONCURRENCY: '20',
      },
    });
    ledger = new Pool({ connectionString: engine.db.url, max: 10 });
    await ledger.query(`CREATE TABLE bulk_ledger (id bigserial PRIMARY KEY, key text NOT NULL, effect text NOT NULL)`);
  }, 60_000);
  afterAll(async () => {
    await ledger?.end();
    await engine?.close();
  });

  const bulk = (role: 'viewer' | 'operator' | 'admin', body: Record<string, unknown>) =>
    engine.as(role).post('/v1/bulk-actions').send(body);
  const job = async (id: string) => (await engine.as('viewer').get(`/v1/bulk-actions/${id}`).expect(200)).body;
  const countBy = async (type: string, status: string) =>
    (
      await engine.db.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM saga_instance WHERE type = $1 AND status = $2`,
        [type, status],
      )
    )[0].n;

  /** Starts `n` sagas of `type`, 25 at a time; their ids in order. */
  async function startMany(type: string, n: number, extra: Record<string, unknown> = {}): Promise<string[]> {
    const ids: string[] = [];
    for (let i = 0; i < n; i += 25) {
      const batch = await Promise.all(
        Array.from({ length: Math.min(25, n - i) }, () =>
          engine
            .as('operator')
            .post('/v1/sagas')
            .send({ type, input: {}, ...extra }),
        ),
      );
      for (const res of batch) {
        expect(res.status).toBe(201);
        ids.push(res.body.id);
      }
    }
    return ids;
  }

  let failedIds: string[] = [];

  it(`leaves ${COUNT} sagas FAILED while the carrier is down`, async () => {
    failedIds = await startMany('bulk-order', COUNT);
    await waitFor(async () => (await countBy('bulk-order', 'FAILED')) === COUNT, {
      timeoutMs: 120_000,
      intervalMs: 250,
      what: `${COUNT} FAILED sagas`,
    });
  }, 180_000);

  it('refuses bad requests with a 400 naming the field', async () => {
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ action: 'restart', filter: {}, reason: 'x' }, /action must be one of retry, cancel, resolve/],
      [{ action: 'retry', filter: { status: ['BROKEN'] }, reason: 'x' }, /filter\.status must be one of/],
      [{ action: 'retry', filter: { createdAfter: 'yesterday' }, reason: 'x' }, /filter\.createdAfter/],
      [{ action: 'retry', filter: { type: 'Not Kebab' }, reason: 'x' }, /filter\.type must be a kebab-case/],
      [{ action: 'retry', reason: 'x' }, /filter must be an object/],
      [{ action: 'retry', filter: {}, reason: '' }, /reason must not be empty/],
      [{ action: 'retry', filter: {}, reason: 'x', cap: 0 }, /cap must be an integer from 1 to 100000/],
      [{ action: 'retry', filter: {}, reason: 'x', cap: 100_001 }, /cap must be an integer from 1 to 100000/],
      [{ action: 'resolve', filter: {}, reason: 'x' }, /step is required with action resolve/],
      [{ action: 'retry', step: 'ship', filter: {}, reason: 'x' }, /step is only for action resolve/],
      [{ action: 'retry', filter: {}, reason: 'x', dryRun: 'yes' }, /dryRun must be true or false/],
    ];
    for (const [body, message] of cases) {
      const res = await bulk('admin', body);
      expect([JSON.stringify(body), res.status, res.body.code]).toEqual([JSON.stringify(body), 400, 'INPUT_INVALID']);
      expect(res.body.message).toMatch(message);
    }
  });

  it('checks roles: a viewer may not, an operator may not resolve; refusals are audited', async () => {
    const filter = { type: 'bulk-order', status: ['FAILED'] };
    const viewer = await bulk('viewer', { action: 'retry', filter, reason: 'try' });
    expect([viewer.status, viewer.body.code]).toEqual([403, 'FORBIDDEN']);
    const resolve = await bulk('operator', { action: 'resolve', step: 'ship', filter, reason: 'done by hand' });
    expect([resolve.status, resolve.body.code]).toEqual([403, 'FORBIDDEN']);
    expect(resolve.body.message).toContain('needs the admin role');
    const [row] = await engine.db.query<any>(
      `SELECT * FROM saga_audit WHERE action = 'bulk-start' ORDER BY id DESC LIMIT 1`,
    );
    expect(row).toMatchObject({
      actor: 'operator',
      outcome: 'refused',
      status_code: 403,
      saga_id: null,
      step: 'ship',
      reason: 'done by hand',
    });
    expect(await engine.db.query(`SELECT 1 FROM saga_bulk_job`)).toEqual([]);
  });

  it("keeps a key limited to some types to those: another type's filter is refused, no type means its own", async () => {
    const scoped = (body: Record<string, unknown>) =>
      engine.http().post('/v1/bulk-actions').set('Authorization', `Bearer ${SCOPED_KEY}`).send(body);
    const refused = await scoped({ action: 'retry', filter: { type: 'bulk-order' }, reason: 'x', dryRun: true });
    expect([refused.status, refused.body.code]).toEqual([403, 'FORBIDDEN']);
    expect(refused.body.message).toMatch(/^filter\.type/);
    // A dry run needs no reason.
    const own = await scoped({ action: 'retry', filter: { status: ['FAILED'] }, dryRun: true });
    expect(own.status).toBe(200);
    expect(own.body).toEqual({ dryRun: true, matched: 0, sample: [] });
  });

  it('refuses a job over its cap (409 CAP_EXCEEDED naming cap), audited, and writes no job', async () => {
    const res = await bulk('operator', {
      action: 'retry',
      filter: { type: 'bulk-order', status: ['FAILED'] },
      reason: 'carrier fixed',
      cap: COUNT - 1,
    });
    expect([res.status, res.body.code]).toEqual([409, 'CAP_EXCEEDED']);
    expect(res.body.message).toMatch(new RegExp(`^cap: ${COUNT} sagas match, more than the cap of ${COUNT - 1}`));
    expect(await engine.db.query(`SELECT 1 FROM saga_bulk_job`)).toEqual([]);
    const [row] = await engine.db.query<any>(
      `SELECT * FROM saga_audit WHERE action = 'bulk-start' ORDER BY id DESC LIMIT 1`,
    );
    expect(row).toMatchObject({ outcome: 'refused', status_code: 409, actor: 'operator' });
  });

  let jobId = '';

  it(`fixes the carrier, counts ${COUNT} in a dry run, retries them all in bulk: all COMPLETED, each effect once per key`, async () => {
    carrierDown = false;
    const filter = { type: 'bulk-order', status: ['FAILED'] };
    const dry = await bulk('operator', { action: 'retry', filter, reason: 'carrier fixed', dryRun: true });
    expect(dry.status).toBe(200);
    expect(dry.body.matched).toBe(COUNT);
    expect(dry.body.sample).toHaveLength(10);
    expect(failedIds).toEqual(expect.arrayContaining(dry.body.sample));
    // A dry run does nothing.
    expect(await engine.db.query(`SELECT 1 FROM saga_bulk_job`)).toEqual([]);

    const started = await bulk('operator', { action: 'retry', filter, reason: 'carrier fixed, ticket 88' });
    expect(started.status).toBe(202);
    expect(started.body).toMatchObject({
      action: 'retry',
      status: 'PENDING',
      matched: COUNT,
      cap: 10_000,
      requestedBy: 'operator',
      reason: 'carrier fixed, ticket 88',
      filter,
    });
    jobId = started.body.id;
    // A saga that fails after the job was asked for is not swept in (the snapshot), even though it matches. (It
    // fails by its own input: the carrier stays up for the sagas the job is retrying meanwhile.)
    const [late] = await startMany('bulk-order', 1, { input: { carrierDown: true } });
    await engine.waitForStatus(late, ['FAILED'], 30_000);

    let seen: unknown = null;
    const done = await waitFor(
      async () => {
        const j = await job(jobId);
        seen = j;
        return ['COMPLETED', 'FAILED', 'CANCELLED'].includes(j.status) && j;
      },
      { timeoutMs: 10_000 + COUNT * 200, intervalMs: 250, what: 'the bulk job to end' },
    ).catch((error: Error) => {
      error.message += `; the job as last seen: ${JSON.stringify(seen)}`;
      throw error;
    });
    expect(done).toMatchObject({ status: 'COMPLETED', matched: COUNT, processed: COUNT, done: COUNT, failed: 0 });
    expect(done.errors).toEqual([]);
    await waitFor(async () => (await countBy('bulk-order', 'COMPLETED')) === COUNT, {
      timeoutMs: 120_000,
      intervalMs: 250,
      what: `${COUNT} COMPLETED sagas`,
    });
    expect((await engine.as('viewer').get(`/v1/sagas/${late}`)).body.status).toBe('FAILED');

    // The participant's ledger: every charge and every ship applied exactly once per idempotency key.
    const effects = await ledger.query<{ effect: string; keys: number; calls: number }>(
      `SELECT effect, count(DISTINCT key)::int AS keys, count(*)::int AS calls FROM bulk_ledger GROUP BY effect
        ORDER BY effect`,
    );
    expect(effects.rows).toEqual([
      { effect: 'charge', keys: COUNT + 1, calls: COUNT + 1 },
      { effect: 'ship', keys: COUNT, calls: COUNT },
    ]);

    // Each saga's retry is audited once, with the job's reason, naming the job; the job's own start too.
    const audit = await engine.db.query<{ n: number; sagas: number }>(
      `SELECT count(*)::int AS n, count(DISTINCT saga_id)::int AS sagas FROM saga_audit
        WHERE action = 'retry' AND outcome = 'accepted' AND detail = $1 AND reason = 'carrier fixed, ticket 88'
          AND actor = 'operator'`,
      [`bulk job ${jobId}`],
    );
    expect(audit[0]).toEqual({ n: COUNT, sagas: COUNT });
    const start = await engine.db.query<any>(
      `SELECT * FROM saga_audit WHERE action = 'bulk-start' AND detail LIKE $1`,
      [`bulk job ${jobId}:%`],
    );
    expect(start).toHaveLength(1);
    expect(start[0]).toMatchObject({ outcome: 'accepted', status_code: 202, saga_id: null });
    expect(start[0].detail).toContain(`retry of ${COUNT} sagas matching {"type":"bulk-order","status":["FAILED"]}`);
    // Counted for Prometheus too.
    const metrics = await engine.as('viewer').get('/metrics').expect(200);
    expect(metrics.text).toContain(`saga_bulk_sagas_total{action="retry",outcome="done"} ${COUNT}`);
    // The chain still verifies with the new rows in it.
    expect((await engine.as('admin').get('/v1/audit/verify')).body).toMatchObject({ ok: true });

    const list = await engine.as('viewer').get('/v1/bulk-actions').expect(200);
    expect(list.body.items.map((j: { id: string }) => j.id)).toEqual([jobId]);
    // A key limited to other types does not see it.
    const scopedList = await engine.http().get('/v1/bulk-actions').set('Authorization', `Bearer ${SCOPED_KEY}`);
    expect(scopedList.body.items).toEqual([]);
    const scopedGet = await engine.http().get(`/v1/bulk-actions/${jobId}`).set('Authorization', `Bearer ${SCOPED_KEY}`);
    expect([scopedGet.status, scopedGet.body.code]).toEqual([404, 'BULK_JOB_NOT_FOUND']);
    // It has ended: it cannot be stopped.
    const stop = await engine.as('operator').post(`/v1/bulk-actions/${jobId}/cancel`).send({ reason: 'too late' });
    expect([stop.status, stop.body.code]).toEqual([409, 'INVALID_STATE']);
    expect(stop.body.message).toBe(`bulk job ${jobId} is COMPLETED: it has ended`);
    const refusedStop = await engine.db.query<any>(`SELECT * FROM saga_audit WHERE action = 'bulk-stop'`);
    expect(refusedStop.map((r: any) => [r.actor, r.outcome, r.status_code, r.reason, r.detail])).toEqual([
      ['operator', 'refused', 409, 'too late', `bulk job ${jobId} is COMPLETED: it has ended`],
    ]);
  }, 240_000);

  it('runs through the in-process client too, checked as the API checks', async () => {
    const client = engine.app.get(SagaClient);
    const dry = await client.bulkDryRun({
      action: 'retry',
      filter: { type: 'bulk-order', status: ['COMPLETED'] },
      reason: 'looking',
    });
    expect(dry).toMatchObject({ dryRun: true, matched: COUNT });
    await expect(
      client.bulkDryRun({ action: 'retry', filter: { status: ['LOST'] }, reason: 'looking' }),
    ).rejects.toMatchObject({ status: 400, code: 'INPUT_INVALID', message: expect.stringContaining('filter.status') });
    expect((await client.bulkJobs()).map((j) => j.id)).toContain(jobId);
    expect(await client.bulkJob(jobId)).toMatchObject({ id: jobId, status: 'COMPLETED' });
    expect(await client.bulkJob('00000000-0000-4000-8000-000000000000')).toBeNull();
  });

  it('stops a running job: the sagas acted on stay so, the others are left alone', async () => {
    const started60 = await startMany('bulk-order', 60, { startIn: '1d' });
    // In the job's order: oldest first.
    const ids = (
      await engine.db.query<{ id: string }>(
        `SELECT id FROM saga_instance WHERE id = ANY($1::uuid[]) ORDER BY created_at, id`,
        [started60],
      )
    ).map((r) => r.id);
    // Hold one saga's row in the middle: the job blocks on it, RUNNING, with part of the sagas done.
    const holder = new Client({ connectionString: engine.db.url });
    await holder.connect();
    try {
      await holder.query('BEGIN');
      await holder.query(`SELECT 1 FROM saga_instance WHERE id = $1 FOR UPDATE`, [ids[35]]);
      const started = await bulk('operator', {
        action: 'cancel',
        filter: { type: 'bulk-order', status: ['DELAYED'] },
        reason: 'campaign withdrawn',
      });
      expect(started.status).toBe(202);
      const id = started.body.id;
      await waitFor(async () => (await job(id)).processed === 30 && (await job(id)).status === 'RUNNING', {
        timeoutMs: 30_000,
        what: 'the job to run up to the held saga',
      });
      const viewer = await engine.as('viewer').post(`/v1/bulk-actions/${id}/cancel`).send({ reason: 'stop' });
      expect(viewer.status).toBe(403);
      const stopped = await engine
        .as('operator')
        .post(`/v1/bulk-actions/${id}/cancel`)
        .send({ reason: 'wrong campaign' });
      expect(stopped.status).toBe(202);
      expect(stopped.body).toMatchObject({
        status: 'CANCELLED',
        cancelledBy: 'operator',
        cancelReason: 'wrong campaign',
      });
      await holder.query('ROLLBACK');
      // The chunk in flight lands in the counters, then the job stops there.
      const final = await waitFor(async () => (await job(id)).processed === 40 && (await job(id)), {
        timeoutMs: 15_000,
        what: "the chunk in flight's counters",
      });
      expect(final).toMatchObject({ status: 'CANCELLED', done: 40, skipped: 0, failed: 0 });
      await new Promise((resolve) => setTimeout(resolve, 1000));
      expect((await job(id)).processed).toBe(40);
      const statuses = await engine.db.query<{ id: string; status: string }>(
        `SELECT id, status FROM saga_instance WHERE id = ANY($1::uuid[])`,
        [ids],
      );
      const byId = new Map(statuses.map((s) => [s.id, s.status]));
      expect(ids.slice(0, 40).map((s) => byId.get(s))).toEqual(Array(40).fill('CANCELLED'));
      expect(ids.slice(40).map((s) => byId.get(s))).toEqual(Array(20).fill('DELAYED'));
      const stopRow = await engine.db.query<any>(
        `SELECT * FROM saga_audit WHERE action = 'bulk-stop' AND detail LIKE $1 ORDER BY id`,
        [`bulk job ${id}%`],
      );
      // The viewer's 403 came from the route's role check, before the job was looked at: the stop is audited.
      expect(stopRow.map((r: any) => [r.actor, r.outcome, r.status_code, r.detail, r.saga_id])).toEqual([
        ['operator', 'accepted', 202, `bulk job ${id}`, null],
      ]);
    } finally {
      await holder.end();
    }
  }, 120_000);
});
