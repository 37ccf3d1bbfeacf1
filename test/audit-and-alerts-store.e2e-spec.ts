import { Client } from 'pg';
import { DataSource } from 'typeorm';
import { type ErrorInfo, type SagaDefinition, transition } from '@saga-engine/core';
import { defineSaga } from '@saga-engine/sdk';
import { AlertOutbox, NOT_SENT } from '../libs/nestjs/src/store/saga-alerts';
import { AuditLog, type AuditRecord } from '../libs/nestjs/src/store/saga-audit';
import { type SagaSnapshot, SagaStore } from '../libs/nestjs/src/store/saga-store';
import { dataSourceOptions } from '../libs/nestjs/src/store/data-source-options';
import { insertStarted } from './support/store-saga';
import { TestDatabase } from './support/test-engine';

/**
 * The audit row of an accepted action and the alert of a saga entering FAILED are gated on the transition's
 * compare-and-set; alert claims are disjoint across senders and fenced against a sender whose lease expired.
 */
describe('audit and alert outbox (integration)', () => {
  const db = new TestDatabase();
  let dataSource: DataSource;
  let store: SagaStore;
  let outbox: AlertOutbox;
  let audit: AuditLog;
  const definition = defineSaga('audit-test', { version: 1 })
    .step('a', { run: () => 1, compensate: () => undefined })
    .step('b', { run: () => 2 })
    .build() as unknown as SagaDefinition;
  const no: ErrorInfo = { name: 'NonRetryableError', code: 'NO', message: 'no', retryable: false };
  const record: AuditRecord = {
    actor: 'abc123abc123',
    role: 'operator',
    action: 'retry',
    sagaId: '', // taken from the statement's instance
    step: null,
    reason: 'because',
    outcome: 'accepted',
    statusCode: 202,
    detail: null,
  };

  beforeAll(async () => {
    await db.create();
    dataSource = new DataSource(dataSourceOptions(db.url, 10));
    await dataSource.initialize();
    store = new SagaStore(dataSource);
    outbox = new AlertOutbox(dataSource);
    audit = new AuditLog(dataSource);
  });
  afterAll(async () => {
    await dataSource?.destroy();
    await db.drop();
  });

  /** A saga whose compensation of `a` is in flight: the next outcome decides between FAILED and COMPENSATED. */
  async function undoing(id: string): Promise<SagaSnapshot> {
    let snapshot = await insertStarted(store, definition, id);
    for (const event of [
      { type: 'StepSucceeded', step: 'a', attempt: 1, output: 1 },
      { type: 'StepFailed', step: 'b', attempt: 1, error: no },
    ] as const) {
      const r = transition(definition, snapshot.state, event);
      snapshot = (await store.commit(snapshot, r.state, r.history, r.commands, definition))!;
    }
    expect(snapshot.state.steps.a.compensation?.status).toBe('SCHEDULED');
    return snapshot;
  }

  /** A saga that ended FAILED (its compensation of `a` failed for good), with the alert that raised. */
  async function failedSaga(id: string): Promise<SagaSnapshot> {
    const from = await undoing(id);
    const r = transition(definition, from.state, { type: 'CompensationFailed', step: 'a', attempt: 1, error: no });
    const failed = (await store.commit(from, r.state, r.history, r.commands, definition))!;
    expect(failed.state.status).toBe('FAILED');
    return failed;
  }

  const count = async (table: string, sagaId: string) =>
    Number((await db.query<{ n: string }>(`SELECT count(*) AS n FROM ${table} WHERE saga_id = $1`, [sagaId]))[0].n);

  it('writes the audit row and the alert with the transition, and neither when the compare-and-set is lost', async () => {
    const from = await undoing('0190f2c4-0000-7000-8000-0000000000a1');
    const failed = transition(definition, from.state, { type: 'CompensationFailed', step: 'a', attempt: 1, error: no });
    expect(failed.commands).toContainEqual(expect.objectContaining({ type: 'RaiseAlert' }));
    const succeeded = transition(definition, from.state, { type: 'CompensationSucceeded', step: 'a', attempt: 1 });

    // Another writer moves the saga on first: the stale commit writes nothing at all.
    expect(await store.commit(from, succeeded.state, succeeded.history, succeeded.commands, definition)).not.toBeNull();
    expect(await store.commit(from, failed.state, failed.history, failed.commands, definition, record)).toBeNull();
    expect(await count('saga_audit', from.id)).toBe(0);
    expect(await count('saga_alert', from.id)).toBe(0);

    // The same commit from the current revision writes both, with the instance's id.
    const other = await undoing('0190f2c4-0000-7000-8000-0000000000a2');
    const result = transition(definition, other.state, {
      type: 'CompensationFailed',
      step: 'a',
      attempt: 1,
      error: no,
    });
    const committed = await store.commit(other, result.state, result.history, result.commands, definition, record);
    expect(committed?.state.status).toBe('FAILED');
    expect(await audit.list({ sagaId: other.id, limit: 10 })).toEqual([
      expect.objectContaining({ ...record, sagaId: other.id, id: expect.any(String), at: expect.any(Date) }),
    ]);
    const alerts = await db.query<any>(`SELECT * FROM saga_alert WHERE saga_id = $1`, [other.id]);
    expect(alerts).toEqual([
      expect.objectContaining({
        saga_type: 'audit-test',
        error: { step: 'a', code: 'NO', message: 'no', transient: false },
        attempts: 0,
        delivered_at: null,
      }),
    ]);
  });

  it('gives each due alert to one sender only, and hides it for the lease', async () => {
    const saga = await failedSaga('0190f2c4-0000-7000-8000-0000000000b1');
    // Earlier alerts (and the one this saga's failure raised) are out of the way: delivered.
    for (const alert of await outbox.claim(100, 60_000)) await outbox.markDelivered(alert.id, null);
    await db.query(`INSERT INTO saga_alert (saga_id, saga_type) SELECT $1, 'audit-test' FROM generate_series(1, 30)`, [
      saga.id,
    ]);
    const claims = await Promise.all([1, 2, 3].map(() => outbox.claim(20, 60_000)));
    const ids = claims.flat().map((a) => a.id);
    expect(ids).toHaveLength(30);
    expect(new Set(ids).size).toBe(30);
    expect(claims.flat().every((a) => a.attempts === 1 && a.sagaId === saga.id)).toBe(true);
    expect(await outbox.claim(20, 60_000)).toEqual([]);
  });

  it('fences a sender whose lease expired, and never claims an alert given up', async () => {
    for (const alert of await outbox.claim(100, 60_000)) await outbox.markDelivered(alert.id, null);
    await failedSaga('0190f2c4-0000-7000-8000-0000000000c1');
    const [slow] = await outbox.claim(1, 60_000);
    // Its lease runs out (a sender hung); another sender claims the alert again.
    await db.query(`UPDATE saga_alert SET next_attempt_at = now() WHERE id = $1`, [slow.id]);
    const [fast] = await outbox.claim(1, 60_000);
    expect([slow.attempts, fast.attempts]).toEqual([1, 2]);

    // The slow one's late failure report must not reschedule what the fast one holds.
    await outbox.reschedule(slow, 0, 'HTTP 500');
    expect(await outbox.claim(1, 60_000)).toEqual([]);

    // The fast one gives up: the row stays, undelivered, and is never claimed again.
    await outbox.reschedule(fast, null, 'HTTP 503');
    expect(await outbox.claim(1, 60_000)).toEqual([]);
    const [row] = await db.query<any>(`SELECT * FROM saga_alert WHERE id = $1`, [fast.id]);
    expect(row).toMatchObject({ attempts: 2, next_attempt_at: null, delivered_at: null, last_error: 'HTTP 503' });

    // A delivery reported late still counts: delivered is delivered.
    await outbox.markDelivered(slow.id, 'http://127.0.0.1:1');
    const [delivered] = await db.query<any>(`SELECT * FROM saga_alert WHERE id = $1`, [slow.id]);
    expect(delivered.delivered_at).not.toBeNull();
    expect(delivered.delivered_to).toBe('http://127.0.0.1:1');
  });

  it('does not send the alert of a saga an operator retried or resolved before it went out', async () => {
    for (const alert of await outbox.claim(100, 60_000)) await outbox.markDelivered(alert.id, null);
    // The webhook was down: the alert waits for its next attempt while an operator retries the saga.
    const saga = await failedSaga('0190f2c4-0000-7000-8000-0000000000d1');
    const [first] = await outbox.claim(1, 60_000);
    expect(first.sagaId).toBe(saga.id);
    await outbox.reschedule(first, 0, 'HTTP 503');
    const retried = transition(definition, saga.state, { type: 'RetryRequested', by: 'key ops', reason: 'fixed' });
    expect(retried.state.status).not.toBe('FAILED');
    const moved = (await store.commit(saga, retried.state, retried.history, retried.commands, definition))!;

    expect(await outbox.claim(10, 60_000)).toEqual([]);
    const [row] = await db.query<any>(`SELECT * FROM saga_alert WHERE id = $1`, [first.id]);
    expect(row).toMatchObject({ delivered_at: null, next_attempt_at: null, last_error: NOT_SENT });

    // It fails again: the new failure alerts, once; the old alert stays closed.
    const again = transition(definition, moved.state, { type: 'CompensationFailed', step: 'a', attempt: 2, error: no });
    expect((await store.commit(moved, again.state, again.history, again.commands, definition))!.state.status).toBe(
      'FAILED',
    );
    const claimed = await outbox.claim(10, 60_000);
    expect(claimed).toHaveLength(1);
    expect(claimed[0].id).not.toBe(first.id);
    expect(claimed[0].sagaId).toBe(saga.id);
  });

  it('skips an outdated alert that another sender holds, instead of waiting for it (two supervisors deadlocked)', async () => {
    for (const alert of await outbox.claim(100, 60_000)) await outbox.markDelivered(alert.id, null);
    // An alert due again whose saga an operator has retried since: the claim closes it unsent.
    const saga = await failedSaga('0190f2c4-0000-7000-8000-0000000000e1');
    const [first] = await outbox.claim(1, 60_000);
    await outbox.reschedule(first, 0, 'HTTP 503');
    const retried = transition(definition, saga.state, { type: 'RetryRequested', by: 'key ops', reason: 'fixed' });
    await store.commit(saga, retried.state, retried.history, retried.commands, definition);

    // Another supervisor's claim holds its row meanwhile: this claim passes it by, at once.
    const other = new Client({ connectionString: db.url });
    await other.connect();
    try {
      await other.query('BEGIN');
      await other.query('SELECT id FROM saga_alert WHERE id = $1 FOR UPDATE', [first.id]);
      const started = Date.now();
      const claimed = await Promise.race([
        outbox.claim(10, 60_000),
        new Promise<'blocked'>((resolve) => setTimeout(() => resolve('blocked'), 3_000)),
      ]);
      expect(claimed).toEqual([]);
      expect(Date.now() - started).toBeLessThan(3_000);
      const [held] = await db.query<any>(`SELECT * FROM saga_alert WHERE id = $1`, [first.id]);
      expect(held.last_error).not.toBe(NOT_SENT);
    } finally {
      await other.query('ROLLBACK').catch(() => undefined);
      await other.end();
    }
    // Released, the next claim closes it, unsent.
    expect(await outbox.claim(10, 60_000)).toEqual([]);
    const [row] = await db.query<any>(`SELECT * FROM saga_alert WHERE id = $1`, [first.id]);
    expect(row).toMatchObject({ delivered_at: null, next_attempt_at: null, last_error: NOT_SENT });
  });

  it('refuses to rewrite the audit log, whatever the statement', async () => {
    await audit.record({ ...record, sagaId: '0190f2c4-0000-7000-8000-0000000000d1', outcome: 'refused', reason: '' });
    for (const sql of [
      `UPDATE saga_audit SET reason = 'x'`,
      `UPDATE saga_audit SET reason = 'x' WHERE false`,
      `DELETE FROM saga_audit WHERE id > 0`,
      `TRUNCATE saga_audit`,
    ]) {
      await expect(db.query(sql)).rejects.toThrow(/saga_audit is append-only/);
    }
    // An accepted action must carry a reason; the database says so too.
    await expect(
      db.query(
        `INSERT INTO saga_audit (actor, role, action, saga_id, reason, outcome, status_code)
         VALUES ('k', 'operator', 'cancel', gen_random_uuid(), '', 'accepted', 202)`,
      ),
    ).rejects.toThrow(/check constraint/);
  });
});
