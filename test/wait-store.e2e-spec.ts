import { DataSource } from 'typeorm';
import { type SagaDefinition, initialState, transition } from '@saga-engine/core';
import { defineSaga } from '@saga-engine/sdk';
import { SagaStore } from '../libs/nestjs/src/store/saga-store';
import { SupervisorStore } from '../libs/nestjs/src/store/supervisor-store';
import { dataSourceOptions } from '../libs/nestjs/src/store/data-source-options';
import { insertStarted } from './support/store-saga';
import { TestDatabase } from './support/test-engine';

/**
 * A WAITING step in the outbox: no job (no `due_at`, so the supervisor never re-enqueues anything for it), a
 * `deadline_at` of exactly its timeout, claimed by the deadline sweep once it passes, cleared by the signal.
 */
describe('wait steps in the store (integration)', () => {
  const db = new TestDatabase();
  let dataSource: DataSource;
  let store: SagaStore;
  let supervisor: SupervisorStore;
  const definition = defineSaga('wait-store-test', { version: 1 })
    .waitFor('await-go', { signal: 'Go', timeout: '1m' })
    .step('after', { run: () => 1 })
    .build() as unknown as SagaDefinition;

  beforeAll(async () => {
    await db.create();
    dataSource = new DataSource(dataSourceOptions(db.url, 5));
    await dataSource.initialize();
    store = new SagaStore(dataSource);
    supervisor = new SupervisorStore(dataSource);
  });
  afterAll(async () => {
    await dataSource?.destroy();
    await db.drop();
  });

  const row = async (id: string) =>
    (
      await db.query<{ status: string; due: boolean; deadline_s: number | null }>(
        `SELECT status, due_at IS NOT NULL AS due,
                extract(epoch FROM deadline_at - now())::float8 AS deadline_s
           FROM saga_step WHERE saga_id = $1 AND name = 'await-go'`,
        [id],
      )
    )[0];

  it('writes the deadline, no due time; the sweep claims it once past; the signal clears it', async () => {
    const id = '0190f2c4-0000-7000-8000-00000000a001';
    const started = transition(definition, initialState(definition, {}), { type: 'SagaStarted' });
    expect(started.commands).toEqual([
      { type: 'AwaitSignal', step: 'await-go', signal: 'Go', attempt: 1, timeoutMs: 60_000 },
    ]);
    const snapshot = await insertStarted(store, definition, id);

    const waiting = await row(id);
    expect(waiting).toMatchObject({ status: 'WAITING', due: false });
    expect(waiting.deadline_s).toBeGreaterThan(55);
    expect(waiting.deadline_s).toBeLessThanOrEqual(60);
    expect(await supervisor.claimOverdue(10, 0, 1_000)).toEqual([]);
    expect(await supervisor.claimExpired(10, 1_000)).toEqual([]);

    await db.query(`UPDATE saga_step SET deadline_at = now() - interval '1 second' WHERE saga_id = $1`, [id]);
    const claims = await supervisor.claimExpired(10, 60_000);
    expect(claims).toEqual([expect.objectContaining({ sagaId: id, step: 'await-go', phase: 'run', attempt: 1 })]);
    expect(claims[0].fence.status).toBe('WAITING');

    const signalled = transition(definition, snapshot.state, {
      type: 'SignalReceived',
      signal: 'Go',
      payload: { ok: true },
    });
    const committed = await store.commit(snapshot, signalled.state, signalled.history, signalled.commands, definition);
    expect(committed).not.toBeNull();
    expect(await row(id)).toMatchObject({ status: 'SUCCEEDED', due: false, deadline_s: null });
    expect((await store.load(id))!.state.steps['await-go'].output).toEqual({ ok: true });
  });
});
