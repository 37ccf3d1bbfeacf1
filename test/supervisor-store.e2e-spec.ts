import { DataSource } from 'typeorm';
import { type SagaDefinition, transition } from '@saga-engine/core';
import { defineSaga } from '@saga-engine/sdk';
import { DEADLINE_GRACE_MS, SagaStore } from '../libs/nestjs/src/store/saga-store';
import { SupervisorStore } from '../libs/nestjs/src/store/supervisor-store';
import { dataSourceOptions } from '../libs/nestjs/src/store/data-source-options';
import { insertStarted } from './support/store-saga';
import { TestDatabase } from './support/test-engine';

/**
 * The supervisor's claims against real PostgreSQL: `FOR UPDATE SKIP LOCKED` plus a lease, so that concurrent
 * supervisors never claim the same attempt; deadlines on the database clock; the outbox columns the scheduler's
 * commits keep up to date (a new dispatch releases the lease, a StepStarted moves the deadline).
 */
describe('SupervisorStore (integration)', () => {
  const db = new TestDatabase();
  let dataSource: DataSource;
  let store: SagaStore;
  let supervisor: SupervisorStore;
  const definition = defineSaga('claim-test', { version: 1 })
    .step('a', { run: () => 1, compensate: () => undefined, timeout: '3s' })
    .step('b', { run: () => 2 })
    .build() as unknown as SagaDefinition;

  beforeAll(async () => {
    await db.create();
    dataSource = new DataSource(dataSourceOptions(db.url, 10));
    await dataSource.initialize();
    store = new SagaStore(dataSource);
    supervisor = new SupervisorStore(dataSource);
  });
  afterAll(async () => {
    await dataSource?.destroy();
    await db.drop();
  });
  beforeEach(() => db.query(`DELETE FROM saga_instance`));

  let seq = 0;
  async function started() {
    const id = `0190f2c4-0000-7000-8000-${String(++seq).padStart(12, '0')}`;
    return insertStarted(store, definition, id);
  }

  /** Moves step a's timestamps into the past, as if the time had passed. */
  const age = (id: string, set: string) =>
    db.query(`UPDATE saga_step SET ${set} WHERE saga_id = $1 AND name = 'a'`, [id]);

  it('claims an attempt past its deadline once, for one supervisor, until its lease ends', async () => {
    const sagas = await Promise.all(Array.from({ length: 20 }, () => started()));
    expect(await supervisor.claimExpired(100, 60_000)).toEqual([]);
    for (const s of sagas) await age(s.id, `deadline_at = now() - interval '1 second'`);

    // Four supervisors at once: every expired attempt is claimed by exactly one of them.
    const claims = (await Promise.all([1, 2, 3, 4].map(() => supervisor.claimExpired(7, 60_000)))).flat();
    expect(claims.map((c) => c.sagaId).sort()).toEqual(sagas.map((s) => s.id).sort());
    expect(claims[0]).toMatchObject({ step: 'a', phase: 'run', attempt: 1, sagaType: 'claim-test' });
    // Leased: nobody gets them again...
    expect(await supervisor.claimExpired(100, 60_000)).toEqual([]);
    // ...until the lease ends (a supervisor that died mid-action).
    await db.query(`UPDATE saga_step SET lease_until = now() - interval '1 millisecond' WHERE name = 'a'`);
    expect(await supervisor.claimExpired(100, 60_000)).toHaveLength(20);
  });

  it('claims an attempt due for longer than schedule-to-start, leased at most until its deadline', async () => {
    const saga = await started();
    expect(await supervisor.claimOverdue(100, 5_000, 60_000)).toEqual([]);
    await age(saga.id, `due_at = now() - interval '6 seconds'`);
    const [claim] = await supervisor.claimOverdue(100, 5_000, 60_000);
    expect(claim).toMatchObject({ sagaId: saga.id, step: 'a', phase: 'run', attempt: 1 });
    const [row] = await db.query<any>(
      `SELECT lease_until = deadline_at AS capped FROM saga_step WHERE saga_id = $1 AND name = 'a'`,
      [saga.id],
    );
    expect(row.capped).toBe(true);
    // Past its deadline it belongs to the deadline sweep only.
    await age(saga.id, `lease_until = NULL, deadline_at = now() - interval '1 second'`);
    expect(await supervisor.claimOverdue(100, 5_000, 60_000)).toEqual([]);
    expect(await supervisor.claimExpired(100, 60_000)).toHaveLength(1);
  });

  it('extends the deadline of an attempt still queued, unless the row moved since the claim', async () => {
    const saga = await started();
    await age(saga.id, `deadline_at = now() - interval '1 second'`);
    const [claim] = await supervisor.claimExpired(100, 60_000);
    expect(await supervisor.extendDeadline(claim, 10_000)).toBe(true);
    const [row] = await db.query<any>(
      `SELECT deadline_at > now() + interval '9 seconds' AS later, lease_until FROM saga_step
        WHERE saga_id = $1 AND name = 'a'`,
      [saga.id],
    );
    expect(row).toEqual({ later: true, lease_until: null });

    // The attempt reported meanwhile: the stale claim changes nothing.
    await age(saga.id, `deadline_at = now() - interval '1 second'`);
    const [again] = await supervisor.claimExpired(100, 60_000);
    const r = transition(definition, saga.state, { type: 'StepSucceeded', step: 'a', attempt: 1, output: 1 });
    await store.commit(saga, r.state, r.history, r.commands, definition);
    expect(await supervisor.extendDeadline(again, 10_000)).toBe(false);
  });

  it('a new dispatch releases the lease; a StepStarted counts the deadline from now', async () => {
    let saga = await started();
    await age(saga.id, `deadline_at = now() - interval '1 second'`);
    const [claim] = await supervisor.claimExpired(100, 60_000);
    expect(claim.attempt).toBe(1);

    // The attempt failed transiently: attempt 2 is dispatched, and its row is free for the supervisors again.
    const failed = transition(definition, saga.state, {
      type: 'StepFailed',
      step: 'a',
      attempt: 1,
      error: { name: 'Error', code: 'X', message: 'x', retryable: true },
    });
    saga = (await store.commit(saga, failed.state, failed.history, failed.commands, definition))!;
    const [after] = await db.query<any>(
      `SELECT attempt, lease_until FROM saga_step WHERE saga_id = $1 AND name = 'a'`,
      [saga.id],
    );
    expect(after).toEqual({ attempt: 2, lease_until: null });

    // Queued for a long time, then started: the deadline is its timeout (3 s) plus the grace, from now.
    await age(saga.id, `deadline_at = now() + interval '1 second'`);
    const running = transition(definition, saga.state, { type: 'StepStarted', step: 'a', phase: 'run', attempt: 2 });
    await store.commit(saga, running.state, running.history, running.commands, definition);
    const [row] = await db.query<any>(
      `SELECT status, due_at, extract(epoch FROM deadline_at - now()) * 1000 AS left_ms FROM saga_step
        WHERE saga_id = $1 AND name = 'a'`,
      [saga.id],
    );
    expect(row.status).toBe('RUNNING');
    // An agent holds it now (from a job, or in-process with no job at all): no longer due, so the overdue sweep
    // never enqueues a second copy of it; only the deadline counts.
    expect(row.due_at).toBeNull();
    await db.query(`UPDATE saga_step SET lease_until = NULL WHERE saga_id = $1`, [saga.id]);
    expect(await supervisor.claimOverdue(100, 0, 60_000)).toEqual([]);
    expect(Number(row.left_ms)).toBeGreaterThan(3_000 + DEADLINE_GRACE_MS - 1_000);
    expect(Number(row.left_ms)).toBeLessThanOrEqual(3_000 + DEADLINE_GRACE_MS);
  });

  it('retention deletes finished sagas older than the setting, oldest first, with their rows; never live or FAILED ones', async () => {
    const sagas = await Promise.all(Array.from({ length: 5 }, () => started()));
    const [old1, old2, recent, live, failed] = sagas.map((s) => s.id);
    const finish = (id: string, status: string, ago: string) =>
      db.query(
        `UPDATE saga_instance SET status = $2, completed_at = ${ago === 'null' ? 'NULL' : `now() - interval '${ago}'`} WHERE id = $1`,
        [id, status],
      );
    await finish(old1, 'COMPLETED', '3 days');
    await finish(old2, 'COMPENSATED', '2 days');
    await finish(recent, 'COMPLETED', '1 hour');
    await finish(failed, 'FAILED', 'null');
    await db.query(`UPDATE saga_instance SET created_at = now() - interval '10 days'`);

    const day = 86_400_000;
    // One at a time: the oldest goes first.
    expect(await supervisor.purgeFinished(day, 1)).toBe(1);
    const left = async () =>
      (await db.query<{ id: string }>(`SELECT id FROM saga_instance ORDER BY id`)).map((r) => r.id);
    expect(await left()).toEqual([old2, recent, live, failed].sort());
    expect(await supervisor.purgeFinished(day, 100)).toBe(1);
    expect(await supervisor.purgeFinished(day, 100)).toBe(0);
    expect(await left()).toEqual([recent, live, failed].sort());
    // Their steps and history went with them.
    const orphans = await db.query(
      `SELECT (SELECT count(*)::int FROM saga_step WHERE saga_id = ANY($1)) AS steps,
              (SELECT count(*)::int FROM saga_event WHERE saga_id = ANY($1)) AS events`,
      [[old1, old2]],
    );
    expect(orphans).toEqual([{ steps: 0, events: 0 }]);
    // And only theirs.
    const kept = await db.query(
      `SELECT (SELECT count(DISTINCT saga_id)::int FROM saga_step WHERE saga_id = ANY($1)) AS steps,
              (SELECT count(DISTINCT saga_id)::int FROM saga_event WHERE saga_id = ANY($1)) AS events`,
      [[recent, live, failed]],
    );
    expect(kept).toEqual([{ steps: 3, events: 3 }]);
  });
});
