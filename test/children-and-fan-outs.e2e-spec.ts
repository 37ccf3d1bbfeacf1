import { Pool } from 'pg';
import { IsInt, IsString, Min } from 'class-validator';
import { NonRetryableError, defineSaga } from '@saga-engine/sdk';
import { SagaScheduler } from '../libs/nestjs/src/scheduler/saga-scheduler';
import { CHILD_CHECK_MS } from '../libs/nestjs/src/store/saga-store';
import { startTestEngine, type TestEngine } from './support/test-engine';
import { waitFor } from './support/wait-for';

/**
 * The ledger of the participants of these sagas: a PostgreSQL table in the test's database. Every call that takes
 * effect (an action, an undo) inserts one row keyed by its idempotency key, without deduplication: a key seen twice
 * would be an effect applied twice. So the table proves each effect and each undo happened once, and which.
 */
let pool: Pool;
const record = async (key: string, kind: 'do' | 'undo', saga: string) => {
  await pool.query(`INSERT INTO ledger (key, kind, saga) VALUES ($1, $2, $3)`, [key, kind, saga]);
};
const rowsOf = async (saga: string) =>
  (await pool.query<{ key: string; kind: string }>(`SELECT key, kind FROM ledger WHERE saga = $1`, [saga])).rows;

class ParcelInput {
  @IsString()
  parcelId!: string;

  @IsInt()
  @Min(0)
  weightKg!: number;
}

// A child: books a drone and a slot, then fails for good when the parcel is too heavy (weightKg > 20).
const deliverParcel = defineSaga('deliver-parcel', { version: 1, input: ParcelInput })
  .step('book-drone', {
    run: async (ctx) => {
      await record(ctx.key, 'do', ctx.sagaId);
      return { droneId: `drone-${ctx.input.parcelId}` };
    },
    compensate: (ctx) => record(ctx.undoKey, 'undo', ctx.sagaId),
  })
  .step('book-slot', {
    run: async (ctx) => {
      if (ctx.input.weightKg > 20) throw new NonRetryableError('too heavy to fly', { code: 'TOO_HEAVY' });
      await record(ctx.key, 'do', ctx.sagaId);
      return { slot: 'A1' };
    },
    compensate: (ctx) => record(ctx.undoKey, 'undo', ctx.sagaId),
  })
  .build();

// A child that waits (for a signal that does not come soon): something for a cancel to reach.
const slowParcel = defineSaga('slow-parcel', { version: 1, input: ParcelInput })
  .step('reserve', {
    run: (ctx) => record(ctx.key, 'do', ctx.sagaId),
    compensate: (ctx) => record(ctx.undoKey, 'undo', ctx.sagaId),
  })
  .waitFor('await-pickup', { signal: 'PickedUp', timeout: '1h' })
  .build();

interface OrderInput {
  parcelId: string;
  weightKg: number;
  /** The parent's last step fails for good (after its child completed). */
  declineCharge?: boolean;
}

const parcelOrder = defineSaga<OrderInput>('parcel-order', { version: 1 })
  .step('reserve-stock', {
    run: (ctx) => record(ctx.key, 'do', ctx.sagaId),
    compensate: (ctx) => record(ctx.undoKey, 'undo', ctx.sagaId),
  })
  .child('deliver', {
    saga: deliverParcel,
    input: (ctx) => ({ parcelId: ctx.input.parcelId, weightKg: ctx.input.weightKg }),
  })
  .step('charge', {
    run: (ctx) => {
      if (ctx.input.declineCharge) throw new NonRetryableError('card declined', { code: 'DECLINED' });
      return { charged: ctx.steps.deliver.bookDrone.droneId };
    },
  })
  .build();

const slowOrder = defineSaga('slow-order', { version: 1 })
  .step('reserve-stock', {
    run: (ctx) => record(ctx.key, 'do', ctx.sagaId),
    compensate: (ctx) => record(ctx.undoKey, 'undo', ctx.sagaId),
  })
  .child('deliver', { saga: slowParcel, input: () => ({ parcelId: 'p-slow', weightKg: 1 }) })
  .build();

// A fan-out of `count` items, at most 20 at a time; item `failAt` fails for good. It counts the items in flight.
let inFlight = 0;
let maxInFlight = 0;
const batch = defineSaga<{ count: number; failAt: number }>('batch-ship', { version: 1 })
  .step('open-batch', {
    run: (ctx) => record(ctx.key, 'do', ctx.sagaId),
    compensate: (ctx) => record(ctx.undoKey, 'undo', ctx.sagaId),
  })
  .forEach('ship', {
    items: (ctx) => Array.from({ length: ctx.input.count }, (_, i) => ({ parcel: `p-${i}` })),
    concurrency: 20,
    retry: { maximumAttempts: 3, initialInterval: '10ms' },
    run: async (ctx) => {
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      try {
        // Items take a little while, so that many are in flight together.
        await new Promise((resolve) => setTimeout(resolve, 5 + (ctx.index % 7) * 3));
        if (ctx.index === ctx.input.failAt) {
          throw new NonRetryableError(`parcel ${ctx.item.parcel} refused`, { code: 'REFUSED' });
        }
        await record(ctx.key, 'do', ctx.sagaId);
        return { shipped: ctx.item.parcel, index: ctx.index };
      } finally {
        inFlight--;
      }
    },
    compensate: (ctx) => record(ctx.undoKey, 'undo', ctx.sagaId),
  })
  .step('close-batch', { run: (ctx) => ({ shipped: ctx.steps.ship.length }) })
  .build();

// Items named by the author; the first attempt of every other item fails transiently.
const keyed = defineSaga<{ skus: string[] }>('keyed-ship', { version: 1 })
  .forEach('label', {
    items: (ctx) => ctx.input.skus,
    itemKey: (sku) => `sku-${sku}`,
    concurrency: 2,
    retry: { maximumAttempts: 3, initialInterval: '10ms' },
    run: async (ctx) => {
      if (ctx.attempt === 1 && ctx.index % 2 === 1) throw new Error('printer warming up');
      await record(ctx.key, 'do', ctx.sagaId);
      return `label-${ctx.item}`;
    },
  })
  .build();

// 10,000 items, 5 at a time, held until the test opens the gate: the list is written at once, counted and paged.
let gate: Promise<void> = Promise.resolve();
let openGate: () => void = () => undefined;
const huge = defineSaga('huge-ship', { version: 1 })
  .forEach('ship', {
    items: () => Array.from({ length: 10_000 }, (_, i) => ({ n: i })),
    concurrency: 5,
    run: async (ctx) => {
      await gate;
      await record(ctx.key, 'do', ctx.sagaId);
      return ctx.item.n;
    },
    compensate: (ctx) => record(ctx.undoKey, 'undo', ctx.sagaId),
  })
  .build();

describe('child sagas and fan-outs (e2e)', () => {
  let engine: TestEngine;

  beforeAll(async () => {
    engine = await startTestEngine({
      sagas: [deliverParcel, slowParcel, parcelOrder, slowOrder, batch, keyed, huge],
      env: { SUPERVISOR_INTERVAL_MS: '200' },
    });
    pool = new Pool({ connectionString: engine.db.url, max: 10 });
    await pool.query(`CREATE TABLE ledger (key text NOT NULL, kind text NOT NULL, saga uuid NOT NULL)`);
  });
  afterAll(async () => {
    await pool?.end();
    await engine?.close();
  });

  const start = async (type: string, input: Record<string, unknown>) => {
    const res = await engine.as('operator').post('/v1/sagas').send({ type, input });
    expect(res.status).toBe(201);
    return res.body.id as string;
  };
  const get = async (id: string) => (await engine.as('viewer').get(`/v1/sagas/${id}`)).body;
  const stepsOf = (saga: any): Record<string, any> => Object.fromEntries(saga.steps.map((s: any) => [s.name, s]));
  const childOf = async (id: string) =>
    waitFor(async () => (await get(id)).children?.[0]?.id as string | undefined, { what: `the child of ${id}` });
  /** Each key of the ledger once, as `kind key` strings, sorted (a key twice would show twice). */
  const ledger = async (saga: string) => (await rowsOf(saga)).map((r) => `${r.kind} ${r.key}`).sort();

  it('a parent and its child link to each other; the child’s output is the step’s output', async () => {
    const id = await start('parcel-order', { parcelId: 'p-1', weightKg: 3 });
    const done = await engine.waitForStatus(id, ['COMPLETED', 'COMPENSATED', 'FAILED']);
    expect(done.status).toBe('COMPLETED');
    const childId = done.children[0].id;
    expect(done.children).toEqual([
      expect.objectContaining({ id: childId, type: 'deliver-parcel', status: 'COMPLETED', step: 'deliver' }),
    ]);
    expect(stepsOf(done).deliver).toMatchObject({
      status: 'SUCCEEDED',
      child: { id: childId, type: 'deliver-parcel', status: 'COMPLETED' },
      output: { bookDrone: { droneId: 'drone-p-1' }, bookSlot: { slot: 'A1' } },
      deadlineAt: null,
    });
    expect(stepsOf(done).charge.output).toEqual({ charged: 'drone-p-1' });
    const child = await get(childId);
    expect(child).toMatchObject({ parentId: id, parentStep: 'deliver', status: 'COMPLETED' });
    // The child's key is derived from the parent's step: a second start of it would find this one.
    const [row] = await engine.db.query<{ idempotency_key: string }>(
      `SELECT idempotency_key FROM saga_instance WHERE id = $1`,
      [childId],
    );
    expect(row.idempotency_key).toBe(`${id}:deliver`);
    const list = await engine.as('viewer').get('/v1/sagas?type=deliver-parcel');
    expect(list.body.items.find((s: any) => s.id === childId).parentId).toBe(id);
    const history = (await engine.as('viewer').get(`/v1/sagas/${id}/events`)).body.items.map((e: any) => e.type);
    expect(history).toEqual(expect.arrayContaining(['ChildStarted', 'ChildEnded']));
  });

  it('a parent whose child compensates compensates itself', async () => {
    const id = await start('parcel-order', { parcelId: 'p-2', weightKg: 30 });
    const done = await engine.waitForStatus(id, ['COMPENSATED', 'FAILED', 'COMPLETED']);
    expect(done.status).toBe('COMPENSATED');
    const childId = done.children[0].id;
    const child = await get(childId);
    expect(child).toMatchObject({ status: 'COMPENSATED', error: { step: 'book-slot', code: 'TOO_HEAVY' } });
    expect(stepsOf(done).deliver).toMatchObject({
      status: 'FAILED',
      error: { code: 'CHILD_COMPENSATED', message: expect.stringContaining('too heavy to fly') },
    });
    expect(done.error).toMatchObject({ step: 'deliver', code: 'CHILD_COMPENSATED' });
    // Each effect once, each undo once: the child's own, then the parent's earlier step.
    expect(await ledger(childId)).toEqual([`do ${childId}:book-drone`, `undo ${childId}:book-drone:undo`]);
    expect(await ledger(id)).toEqual([`do ${id}:reserve-stock`, `undo ${id}:reserve-stock:undo`]);
  });

  it('a parent compensated after its child completed leaves the child COMPENSATED, each effect undone once', async () => {
    const id = await start('parcel-order', { parcelId: 'p-3', weightKg: 3, declineCharge: true });
    const done = await engine.waitForStatus(id, ['COMPENSATED', 'FAILED', 'COMPLETED']);
    expect(done.status).toBe('COMPENSATED');
    expect(stepsOf(done).deliver).toMatchObject({ status: 'COMPENSATED', compensation: { status: 'SUCCEEDED' } });
    const childId = done.children[0].id;
    const child = await get(childId);
    expect(child).toMatchObject({
      status: 'COMPENSATED',
      parentId: id,
      output: null,
      // The cause is recorded: who asked, and why.
      error: {
        code: 'UNDO_REQUESTED',
        message: expect.stringContaining(`its parent saga ${id} (parcel-order) compensates step "deliver"`),
      },
    });
    expect(child.error.message).toContain('card declined');
    expect(stepsOf(child)['book-drone'].status).toBe('COMPENSATED');
    expect(stepsOf(child)['book-slot'].status).toBe('COMPENSATED');
    const childEvents = (await engine.as('viewer').get(`/v1/sagas/${childId}/events`)).body.items;
    expect(childEvents.map((e: any) => e.type)).toEqual(
      expect.arrayContaining(['SagaCompleted', 'UndoRequested', 'SagaCompensating', 'SagaCompensated']),
    );
    expect(childEvents.find((e: any) => e.type === 'UndoRequested').data).toMatchObject({ by: `saga ${id}` });
    expect(await ledger(childId)).toEqual([
      `do ${childId}:book-drone`,
      `do ${childId}:book-slot`,
      `undo ${childId}:book-drone:undo`,
      `undo ${childId}:book-slot:undo`,
    ]);
    expect(await ledger(id)).toEqual([`do ${id}:reserve-stock`, `undo ${id}:reserve-stock:undo`]);
  });

  it("a parent hears of its child's end even when the engine fails to tell it at once: the woken row, swept", async () => {
    // The delivery right after the child's last commit fails (as if the process died there): the child's commit
    // itself woke the parent's step row, so the supervisor's next sweep delivers the end, not CHILD_CHECK_MS later.
    const scheduler = engine.app.get(SagaScheduler);
    const deliver = scheduler.deliverEnd.bind(scheduler);
    let refused = 0;
    const spy = jest.spyOn(scheduler, 'deliverEnd').mockImplementation(async (child, attempt) => {
      if (refused === 0) {
        refused++;
        throw new Error('the process died before it told the parent');
      }
      return deliver(child, attempt);
    });
    try {
      const began = Date.now();
      const id = await start('parcel-order', { parcelId: 'p-9', weightKg: 3 });
      const done = await engine.waitForStatus(id, ['COMPLETED', 'COMPENSATED', 'FAILED']);
      expect(done.status).toBe('COMPLETED');
      expect(refused).toBe(1);
      expect(Date.now() - began).toBeLessThan(CHILD_CHECK_MS / 2);
      const reconciled = await engine.as('viewer').get('/metrics');
      expect(reconciled.text).toMatch(/saga_supervisor_redrives_total\{action="child_reconciled"\} [1-9]/);
    } finally {
      spy.mockRestore();
    }
  });

  it('cancel of the parent reaches its running child, which is cancelled and undone', async () => {
    const id = await start('slow-order', {});
    const childId = await childOf(id);
    await waitFor(async () => stepsOf(await get(childId))['await-pickup'].status === 'WAITING', {
      what: 'the child to wait',
    });
    const cancel = await engine.as('operator').post(`/v1/sagas/${id}/cancel`).send({ reason: 'order withdrawn' });
    expect(cancel.status).toBe(202);
    const done = await engine.waitForStatus(id, ['CANCELLED', 'FAILED']);
    expect(done.status).toBe('CANCELLED');
    expect(stepsOf(done).deliver).toMatchObject({ status: 'FAILED', error: { code: 'CHILD_CANCELLED' } });
    const child = await get(childId);
    expect(child.status).toBe('CANCELLED');
    const cancelled = (await engine.as('viewer').get(`/v1/sagas/${childId}/events`)).body.items.find(
      (e: any) => e.type === 'CancelRequested',
    );
    expect(cancelled.data).toMatchObject({ by: `saga ${id}`, reason: expect.stringContaining('order withdrawn') });
    expect(await ledger(childId)).toEqual([`do ${childId}:reserve`, `undo ${childId}:reserve:undo`]);
    expect(await ledger(id)).toEqual([`do ${id}:reserve-stock`, `undo ${id}:reserve-stock:undo`]);
  });

  it('a fan-out of 200 items, 20 at a time, where item 150 fails for good, undoes exactly the items that succeeded', async () => {
    maxInFlight = 0;
    const id = await start('batch-ship', { count: 200, failAt: 150 });
    const done = await engine.waitForStatus(id, ['COMPENSATED', 'FAILED', 'COMPLETED'], 60_000);
    expect(done.status).toBe('COMPENSATED');
    expect(maxInFlight).toBeLessThanOrEqual(20);
    expect(maxInFlight).toBeGreaterThan(1);
    const ship = stepsOf(done).ship;
    expect(ship).toMatchObject({
      status: 'COMPENSATED',
      error: { code: 'REFUSED', message: expect.stringMatching(/^item 150: /) },
    });
    expect(done.error).toMatchObject({ step: 'ship', code: 'REFUSED' });

    const rows = await rowsOf(id);
    const keys = rows.map((r) => r.key);
    // No key twice: each effect and each undo happened once.
    expect(new Set(keys).size).toBe(keys.length);
    const done_ = new Set(rows.filter((r) => r.kind === 'do' && r.key.startsWith(`${id}:ship:`)).map((r) => r.key));
    const undone = new Set(
      rows.filter((r) => r.kind === 'undo' && r.key.startsWith(`${id}:ship:`)).map((r) => r.key.replace(/:undo$/, '')),
    );
    // Exactly the items that succeeded were undone: the same set.
    expect([...undone].sort()).toEqual([...done_].sort());
    // Every item before 150 had started (20 at a time, in order) and succeeded; 150 took no effect; the items after
    // it that were in flight when it failed finished and were undone too; the rest never ran.
    for (let i = 0; i < 150; i++) expect(done_.has(`${id}:ship:${i}`)).toBe(true);
    expect(done_.has(`${id}:ship:150`)).toBe(false);
    expect(done_.size).toBeLessThan(170);
    // Then the step before the fan-out was undone, once.
    expect(keys.filter((k) => k.startsWith(`${id}:open-batch`)).sort()).toEqual([
      `${id}:open-batch`,
      `${id}:open-batch:undo`,
    ]);

    // The API: counts by item state, and pages of items (never all of them at once).
    expect(ship.items.total).toBe(200);
    expect(ship.items.counts).toEqual({
      COMPENSATED: done_.size,
      FAILED: 1,
      PENDING: 200 - done_.size - 1,
    });
    const page = await engine.as('viewer').get(`/v1/sagas/${id}/steps/ship/items?limit=50`);
    expect(page.status).toBe(200);
    expect(page.body).toMatchObject({ total: 200, nextAfterIndex: 49 });
    expect(page.body.items).toHaveLength(50);
    expect(page.body.items[7]).toMatchObject({
      index: 7,
      key: '7',
      item: { parcel: 'p-7' },
      status: 'COMPENSATED',
      attempts: 1,
      output: { shipped: 'p-7', index: 7 },
      compensation: { status: 'SUCCEEDED', attempts: 1 },
    });
    const failed = await engine.as('viewer').get(`/v1/sagas/${id}/steps/ship/items?status=FAILED`);
    expect(failed.body.items).toEqual([
      expect.objectContaining({ index: 150, status: 'FAILED', error: expect.objectContaining({ code: 'REFUSED' }) }),
    ]);
    expect(failed.body.nextAfterIndex).toBeNull();
    // Each item has its own history.
    const history = await engine.as('viewer').get(`/v1/sagas/${id}/events?step=ship&item=150`);
    expect(history.body.items.map((e: any) => `${e.type}#${e.attempt}`)).toEqual([
      'StepScheduled#1',
      expect.stringMatching(/^Step(Started|Failed)#1$/),
      ...(history.body.items.length === 3 ? ['StepFailed#1'] : []),
    ]);
    expect(history.body.items.every((e: any) => e.item === 150 && e.step === 'ship')).toBe(true);
    const bad = await engine.as('viewer').get(`/v1/sagas/${id}/events?item=3`);
    expect(bad.status).toBe(400);
  });

  it('a fan-out that succeeds collects the outputs in order; item keys and retries are per item', async () => {
    const id = await start('keyed-ship', { skus: ['a', 'b', 'c', 'd', 'e'] });
    const done = await engine.waitForStatus(id, ['COMPLETED', 'COMPENSATED', 'FAILED']);
    expect(done.status).toBe('COMPLETED');
    expect(done.output).toEqual({ label: ['label-a', 'label-b', 'label-c', 'label-d', 'label-e'] });
    expect(await ledger(id)).toEqual(['a', 'b', 'c', 'd', 'e'].map((sku) => `do ${id}:label:sku-${sku}`));
    const page = await engine.as('viewer').get(`/v1/sagas/${id}/steps/label/items`);
    expect(page.body.items.map((i: any) => [i.key, i.attempts])).toEqual([
      ['sku-a', 1],
      ['sku-b', 2],
      ['sku-c', 1],
      ['sku-d', 2],
      ['sku-e', 1],
    ]);
  });

  it('a list of 10,000 items is written at once, counted and paged; a cancel undoes the items done', async () => {
    gate = new Promise((resolve) => (openGate = resolve));
    const id = await start('huge-ship', {});
    const running = await waitFor(
      async () => {
        const saga = await get(id);
        const items = stepsOf(saga).ship.items;
        return items && items.counts.PENDING === 9_995 ? saga : undefined;
      },
      { what: 'the 10,000 items', timeoutMs: 30_000 },
    );
    expect(stepsOf(running).ship.items.total).toBe(10_000);
    const [{ n }] = await engine.db.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM saga_step_item WHERE saga_id = $1`,
      [id],
    );
    expect(n).toBe(10_000);
    const last = await engine.as('viewer').get(`/v1/sagas/${id}/steps/ship/items?afterIndex=9949&limit=100`);
    expect(last.body.items.map((i: any) => i.index)).toEqual(Array.from({ length: 50 }, (_, i) => 9_950 + i));
    expect(last.body.items[0]).toMatchObject({ status: 'PENDING', key: '9950', item: { n: 9_950 }, attempts: 0 });
    expect(last.body.nextAfterIndex).toBeNull();

    const cancel = await engine.as('operator').post(`/v1/sagas/${id}/cancel`).send({ reason: 'too big a batch' });
    expect(cancel.status).toBe(202);
    openGate();
    const done = await engine.waitForStatus(id, ['CANCELLED', 'FAILED'], 30_000);
    expect(done.status).toBe('CANCELLED');
    // The 5 items in flight finished, and were undone; the 9,995 others never ran.
    expect(stepsOf(done).ship.items.counts).toEqual({ COMPENSATED: 5, PENDING: 9_995 });
    const rows = await rowsOf(id);
    expect(rows.filter((r) => r.kind === 'do')).toHaveLength(5);
    expect(
      rows
        .filter((r) => r.kind === 'undo')
        .map((r) => r.key.replace(/:undo$/, ''))
        .sort(),
    ).toEqual(
      rows
        .filter((r) => r.kind === 'do')
        .map((r) => r.key)
        .sort(),
    );
  });

  it('the saga types show child and fan-out steps as data', async () => {
    const res = await engine.as('viewer').get('/v1/saga-types/parcel-order');
    const deliver = res.body.steps.find((s: any) => s.name === 'deliver');
    expect(deliver).toMatchObject({ child: { type: 'deliver-parcel', version: 1 }, fanOut: null, compensation: true });
    const types = await engine.as('viewer').get('/v1/saga-types/batch-ship');
    expect(types.body.steps.find((s: any) => s.name === 'ship')).toMatchObject({
      fanOut: { concurrency: 20, keyed: false },
      child: null,
    });
  });
});
