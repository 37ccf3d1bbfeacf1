import { DataSource } from 'typeorm';
import { type SagaDefinition, type SagaState, transition } from '@saga-engine/core';
import { defineSaga } from '@saga-engine/sdk';
import { MIGRATIONS, dataSourceOptions } from '../libs/nestjs/src/store/data-source-options';
import { SagaStore } from '../libs/nestjs/src/store/saga-store';
import { insertStarted } from './support/store-saga';
import { TestDatabase } from './support/test-engine';

/** The store's compare-and-set against real PostgreSQL: concurrent writers of one instance, one wins. */
describe('SagaStore (integration)', () => {
  const db = new TestDatabase();
  let dataSource: DataSource;
  let store: SagaStore;
  const definition = defineSaga('cas-test', { version: 1 })
    .step('a', { run: () => 1, compensate: () => undefined })
    .parallel('pair', (g) => g.step('b', { run: () => 2 }).step('c', { run: () => 3 }))
    .build() as unknown as SagaDefinition;

  beforeAll(async () => {
    await db.create();
    dataSource = new DataSource(dataSourceOptions(db.url, 10));
    await dataSource.initialize();
    store = new SagaStore(dataSource);
  });
  afterAll(async () => {
    await dataSource?.destroy();
    await db.drop();
  });

  const started = (id: string) => insertStarted(store, definition, id, { n: 1 });

  it('applies migrations (no synchronize) and round-trips a state', async () => {
    const [{ count }] = await db.query<{ count: string }>(`SELECT count(*) FROM migrations`);
    expect(count).toBe(String(MIGRATIONS.length));
    const snapshot = await started('0190f2c4-0000-7000-8000-000000000001');
    const loaded = await store.load(snapshot.id);
    expect(loaded).toEqual(snapshot);
    const [step] = await db.query<any>(
      `SELECT status, due_at, deadline_at, started_at FROM saga_step WHERE name = 'a'`,
    );
    expect(step.status).toBe('SCHEDULED');
    expect(step.due_at).not.toBeNull();
    expect(step.deadline_at.getTime()).toBeGreaterThan(step.due_at.getTime());
  });

  it('lets exactly one of two concurrent writers commit from the same revision', async () => {
    const from = await started('0190f2c4-0000-7000-8000-000000000002');
    const success = transition(definition, from.state, { type: 'StepSucceeded', step: 'a', attempt: 1, output: 1 });
    const failure = transition(definition, from.state, {
      type: 'StepFailed',
      step: 'a',
      attempt: 1,
      error: { name: 'NonRetryableError', code: 'NO', message: 'no', retryable: false },
    });
    const results = await Promise.all([
      store.commit(from, success.state, success.history, success.commands, definition),
      store.commit(from, failure.state, failure.history, failure.commands, definition),
    ]);
    expect(results.filter((r) => r !== null)).toHaveLength(1);
    const winner = results.find((r) => r !== null)!;
    const loaded = (await store.load(from.id))!;
    expect(loaded.version).toBe(2);
    expect(loaded.state).toEqual(winner.state);
    // The loser wrote nothing: no step rows, no events beyond the winner's.
    const events = await db.query<{ seq: number }>(`SELECT seq FROM saga_event WHERE saga_id = $1 ORDER BY seq`, [
      from.id,
    ]);
    expect(events.map((e) => e.seq)).toEqual(Array.from({ length: winner.state.eventCount }, (_, i) => i + 1));
  });

  it('group commit: many sagas in one statement, each by its own compare-and-set; a stale one writes nothing', async () => {
    const sagas = await Promise.all(
      Array.from({ length: 12 }, (_, i) => started(`0190f2c4-0000-7000-8000-0000000001${String(i).padStart(2, '0')}`)),
    );
    // One of them moves on first, so that the batch below carries a stale revision for it.
    const stale = sagas[5];
    const first = transition(definition, stale.state, { type: 'StepSucceeded', step: 'a', attempt: 1, output: 1 });
    await store.commit(stale, first.state, first.history, first.commands, definition);
    // All submitted in one tick: they go to PostgreSQL together.
    const results = await Promise.all(
      sagas.map((from) => {
        const r = transition(definition, from.state, { type: 'StepSucceeded', step: 'a', attempt: 1, output: 7 });
        return store.commit(from, r.state, r.history, r.commands, definition);
      }),
    );
    expect(results.map((r) => r !== null)).toEqual(sagas.map((s) => s !== stale));
    for (const from of sagas) {
      const loaded = (await store.load(from.id))!;
      expect(loaded.version).toBe(2);
      expect(loaded.state.steps.a.output).toBe(from === stale ? 1 : 7);
      const [step] = await db.query<{ status: string; due: boolean }>(
        `SELECT status, due_at IS NOT NULL AS due FROM saga_step WHERE saga_id = $1 AND name = 'b'`,
        [from.id],
      );
      expect(step).toEqual({ status: 'SCHEDULED', due: true });
    }
    // The stale transition wrote no history either: the events are exactly those of its first commit.
    const events = await db.query<{ seq: number }>(`SELECT seq FROM saga_event WHERE saga_id = $1 ORDER BY seq`, [
      stale.id,
    ]);
    expect(events.map((e) => e.seq)).toEqual(Array.from({ length: first.state.eventCount }, (_, i) => i + 1));
  });

  it('loads of the moment go in one statement: each caller gets its own saga, an unknown id null', async () => {
    const sagas = await Promise.all(
      Array.from({ length: 8 }, (_, i) => started(`0190f2c4-0000-7000-8000-0000000002${String(i).padStart(2, '0')}`)),
    );
    // Watch the statements the store sends through its pool (the hot path's prepared statements go there).
    const pool = (dataSource.driver as unknown as { master: { query: (...args: unknown[]) => unknown } }).master;
    const sent: string[] = [];
    // While set, a load statement waits for it before it goes: it is still running, as far as the store knows.
    let hold: Promise<void> | null = null;
    const query = pool.query;
    pool.query = function (this: unknown, ...args: unknown[]) {
      const config = args[0] as { name?: string };
      if (config?.name) sent.push(config.name);
      if (hold && config?.name === 'saga_load') return hold.then(() => query.apply(this, args));
      return query.apply(this, args);
    };
    try {
      const unknown = '0190f2c4-0000-7000-8000-0000000002ff';
      // Spelled as PostgreSQL also reads a uuid: upper case, without hyphens.
      const shouted = sagas[3].id.toUpperCase().replace(/-/g, '');
      const loaded = await Promise.all([
        ...sagas.map((s) => store.load(s.id)),
        store.load(unknown),
        store.load(shouted),
      ]);
      expect(sent).toEqual(['saga_load']);
      expect(loaded.slice(0, 8)).toEqual(sagas);
      expect(loaded[8]).toBeNull();
      expect(loaded[9]).toEqual(sagas[3]);

      // A load asked for after a commit ended sees it, even while an earlier load's statement is still running:
      // it does not join that statement, it goes in the next.
      const from = sagas[0];
      const r = transition(definition, from.state, { type: 'StepSucceeded', step: 'a', attempt: 1, output: 5 });
      let release: () => void = () => undefined;
      hold = new Promise((resolve) => (release = resolve));
      const before = store.load(from.id);
      const committed = await store.commit(from, r.state, r.history, r.commands, definition);
      const after = store.load(from.id);
      await new Promise((resolve) => setImmediate(resolve));
      expect(sent.filter((name) => name === 'saga_load')).toHaveLength(2);
      hold = null;
      release();
      expect(await before).not.toBeNull();
      expect(await after).toEqual(committed);
      expect(sent.filter((name) => name === 'saga_load')).toHaveLength(3);
    } finally {
      pool.query = query;
    }
  });

  it('serializes many racing writers: every lost round re-reads and retries, none overwrites another', async () => {
    let snapshot = await started('0190f2c4-0000-7000-8000-000000000003');
    snapshot = (await store.commit(
      snapshot,
      ...(() => {
        const r = transition(definition, snapshot.state, { type: 'StepSucceeded', step: 'a', attempt: 1, output: 1 });
        return [r.state, r.history, r.commands] as const;
      })(),
      definition,
    ))!;
    // b and c report at the same time from two "agents"; each retries on a lost compare-and-set.
    const report = async (step: 'b' | 'c', output: number) => {
      let from = snapshot;
      for (let round = 0; round < 10; round++) {
        const r = transition(definition, from.state, { type: 'StepSucceeded', step, attempt: 1, output });
        if (r.ignored) return 'ignored';
        if (await store.commit(from, r.state, r.history, r.commands, definition)) return 'committed';
        from = (await store.load(from.id))!;
      }
      return 'gave up';
    };
    expect(await Promise.all([report('b', 2), report('c', 3)])).toEqual(['committed', 'committed']);
    const final = (await store.load(snapshot.id))!;
    expect(final.state.status).toBe('COMPLETED');
    expect(final.state.output).toEqual({ a: 1, b: 2, c: 3 });
    const state: SagaState = final.state;
    expect(Object.values(state.steps).map((s) => s.status)).toEqual(['SUCCEEDED', 'SUCCEEDED', 'SUCCEEDED']);
  });
});
