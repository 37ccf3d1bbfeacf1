import { SagaClient } from '@saga-engine/client';
import { defineSaga } from '@saga-engine/sdk';
import { startTestEngine, type TestEngine } from './support/test-engine';
import { waitFor } from './support/wait-for';

/** Effects of the sagas' steps, by idempotency key, counted: each ran once. */
const effects = new Map<string, number>();
const apply = (key: string) => effects.set(key, (effects.get(key) ?? 0) + 1);

/** Books a slot 1.5 s from now, sleeps 1 s, then until the slot, then runs `finish`. */
const slotSaga = defineSaga('timer-slot', { version: 1 })
  .step('book', {
    run: (ctx) => {
      apply(ctx.key);
      return { slotStart: new Date(Date.now() + 1_500).toISOString() };
    },
    compensate: (ctx) => void apply(ctx.undoKey),
  })
  .sleep('cool-off', '1s')
  .sleep('until-slot', { until: (ctx) => ctx.steps.book.slotStart })
  .step('finish', {
    run: (ctx) => {
      apply(ctx.key);
      return { woke: ctx.steps.untilSlot.wokeAt, due: ctx.steps.untilSlot.dueAt };
    },
  })
  .build();

const napSaga = defineSaga('timer-nap', { version: 1 })
  .step('reserve', { run: (ctx) => void apply(ctx.key), compensate: (ctx) => void apply(ctx.undoKey) })
  .sleep('nap', '1h')
  .step('finish', { run: (ctx) => void apply(ctx.key) })
  .build();

const approvalSaga = defineSaga('timer-approval', { version: 1 })
  .waitFor<'await-approval', { by: string }>('await-approval', {
    signal: 'Approved',
    timeout: '500ms',
    onTimeout: 'continue',
  })
  .step('finish', {
    run: (ctx) => ({ approvedBy: 'timedOut' in ctx.steps.awaitApproval ? null : ctx.steps.awaitApproval.by }),
  })
  .build();

const badUntil = defineSaga('timer-bad-until', { version: 1 })
  .step('book', { run: () => ({ slotStart: 'tomorrow' }) })
  .sleep('until-slot', { until: (ctx) => ctx.steps.book.slotStart })
  .build();

describe('durable timers, waits that continue, delayed starts (e2e)', () => {
  let engine: TestEngine;
  const INTERVAL_MS = 200;

  beforeAll(async () => {
    engine = await startTestEngine({
      sagas: [slotSaga, napSaga, approvalSaga, badUntil],
      env: { SUPERVISOR_INTERVAL_MS: String(INTERVAL_MS) },
    });
  });
  afterAll(async () => {
    await engine?.close();
  });

  const start = async (type: string, extra: Record<string, unknown> = {}) => {
    const res = await engine
      .as('operator')
      .post('/v1/sagas')
      .send({ type, input: {}, ...extra });
    expect(res.status).toBe(201);
    return res.body;
  };
  const get = async (id: string) => (await engine.as('viewer').get(`/v1/sagas/${id}`)).body;
  const stepsOf = (saga: any): Record<string, any> => Object.fromEntries(saga.steps.map((s: any) => [s.name, s]));
  const events = async (id: string) => (await engine.as('viewer').get(`/v1/sagas/${id}/events`)).body.items as any[];

  it('sleeps for a duration and until a computed time, on the database clock, and fires each timer once', async () => {
    const { id } = await start('timer-slot');
    const sleeping = await waitFor(
      async () => {
        const step = stepsOf(await get(id))['cool-off'];
        return step.status === 'SLEEPING' ? step : undefined;
      },
      { what: 'the cool-off to sleep' },
    );
    // The API shows the wake-up time; the timer is the step row's deadline, not a job.
    expect(Date.parse(sleeping.wakeAt)).toBeGreaterThan(Date.now() - 1_000);
    const [row] = await engine.db.query<{ due_at: Date | null; deadline_at: Date }>(
      `SELECT due_at, deadline_at FROM saga_step WHERE saga_id = $1 AND name = 'cool-off'`,
      [id],
    );
    expect(row.due_at).toBeNull();
    expect(row.deadline_at.toISOString()).toBe(sleeping.wakeAt);

    const done = await engine.waitForStatus(id, ['COMPLETED', 'COMPENSATED', 'FAILED']);
    expect(done.status).toBe('COMPLETED');
    const steps = stepsOf(done);
    for (const name of ['cool-off', 'until-slot']) {
      const { wokeAt, dueAt } = steps[name].output;
      // Fired at the first sweep after it was due: never early, at most one interval (plus a margin) late.
      const lateMs = Date.parse(wokeAt) - Date.parse(dueAt);
      expect(lateMs).toBeGreaterThanOrEqual(0);
      expect(lateMs).toBeLessThan(INTERVAL_MS + 500);
    }
    expect(steps['until-slot'].output.dueAt).toBe(new Date(steps.book.output.slotStart).toISOString());
    expect(steps.finish.output).toEqual({
      woke: steps['until-slot'].output.wokeAt,
      due: steps['until-slot'].output.dueAt,
    });
    const types = (await events(id)).map((e) => `${e.type} ${e.step ?? ''}`.trim());
    expect(types.filter((t) => t.startsWith('TimerFired'))).toEqual(['TimerFired cool-off', 'TimerFired until-slot']);
    expect(types).toContain('StepSleeping until-slot');
    expect(effects.get(`${id}:finish`)).toBe(1);
  });

  it("an operator's cancel abandons a timer, and the saga compensates", async () => {
    const { id } = await start('timer-nap');
    await waitFor(async () => stepsOf(await get(id)).nap.status === 'SLEEPING', { what: 'the nap' });
    const res = await engine.as('operator').post(`/v1/sagas/${id}/cancel`).send({ reason: 'not needed' });
    expect(res.status).toBe(202);
    const done = await engine.waitForStatus(id, ['CANCELLED', 'FAILED']);
    expect(done.status).toBe('CANCELLED');
    expect(stepsOf(done).nap).toMatchObject({ status: 'FAILED', error: { code: 'TIMER_ABANDONED' }, wakeAt: null });
    const [row] = await engine.db.query(`SELECT deadline_at FROM saga_step WHERE saga_id = $1 AND name = 'nap'`, [id]);
    expect(row).toEqual({ deadline_at: null });
    expect(effects.get(`${id}:reserve:undo`)).toBe(1);
    expect(effects.get(`${id}:finish`)).toBeUndefined();
  });

  it("a wait with onTimeout 'continue' goes on with { timedOut: true }", async () => {
    const { id } = await start('timer-approval');
    const done = await engine.waitForStatus(id, ['COMPLETED', 'COMPENSATED', 'FAILED']);
    expect(done.status).toBe('COMPLETED');
    expect(stepsOf(done)['await-approval'].output).toEqual({ timedOut: true });
    expect(stepsOf(done).finish.output).toEqual({ approvedBy: null });
    expect((await events(id)).map((e) => e.type)).toContain('WaitTimedOut');
  });

  it('a sleep whose until returns no time fails for good, naming the step', async () => {
    const { id } = await start('timer-bad-until');
    const done = await engine.waitForStatus(id, ['COMPENSATED', 'FAILED']);
    expect(stepsOf(done)['until-slot'].error).toMatchObject({
      code: 'SLEEP_UNTIL_ERROR',
      message: expect.stringContaining('the until of step "until-slot" returned "tomorrow"'),
    });
  });

  it('a delayed start is DELAYED, visible with its start time, and starts on time', async () => {
    const startAt = new Date(Date.now() + 1_000).toISOString();
    const created = await start('timer-approval', { startAt, idempotencyKey: `delayed-${Date.now()}` });
    expect(created).toMatchObject({ status: 'DELAYED', startAt });
    expect(created.steps.every((s: any) => s.status === 'PENDING')).toBe(true);
    const list = await engine.as('viewer').get('/v1/sagas?status=DELAYED');
    expect(list.body.items.map((s: any) => s.id)).toContain(created.id);
    const done = await engine.waitForStatus(created.id, ['COMPLETED', 'FAILED']);
    const history = await events(created.id);
    expect(history.slice(0, 2).map((e) => e.type)).toEqual(['SagaDelayed', 'SagaStarted']);
    const startedLate = Date.parse(history[1].at) - Date.parse(startAt);
    expect(startedLate).toBeGreaterThanOrEqual(0);
    expect(startedLate).toBeLessThan(INTERVAL_MS + 500);
    expect(done.startAt).toBe(startAt);
  });

  it('a delayed start is idempotent with its key, and cancellable before it starts', async () => {
    const body = { type: 'timer-nap', input: {}, startIn: '1h', idempotencyKey: `later-${Date.now()}` };
    const first = await engine.as('operator').post('/v1/sagas').send(body);
    expect(first.status).toBe(201);
    expect(first.body.status).toBe('DELAYED');
    // startIn is counted on the database clock.
    expect(Math.abs(Date.parse(first.body.startAt) - (Date.now() + 3_600_000))).toBeLessThan(10_000);
    const replay = await engine.as('operator').post('/v1/sagas').send(body);
    expect(replay.status).toBe(200);
    expect(replay.body.id).toBe(first.body.id);
    const other = await engine
      .as('operator')
      .post('/v1/sagas')
      .send({ ...body, startIn: '2h' });
    expect(other.status).toBe(409);
    expect(other.body.code).toBe('IDEMPOTENCY_CONFLICT');

    const cancel = await engine.as('operator').post(`/v1/sagas/${first.body.id}/cancel`).send({ reason: 'moved' });
    expect(cancel.status).toBe(202);
    expect(cancel.body.status).toBe('CANCELLED');
    expect((await events(first.body.id)).map((e) => e.type)).toEqual([
      'SagaDelayed',
      'CancelRequested',
      'SagaCancelled',
    ]);
    expect(effects.get(`${first.body.id}:reserve`)).toBeUndefined();
  });

  it('the in-process client starts later too, with the same checks', async () => {
    const client = engine.app.get(SagaClient);
    const later = await client.start('timer-nap', {}, { startAt: new Date(Date.now() + 3_600_000) });
    expect(later).toMatchObject({ status: 'DELAYED', created: true, startAt: expect.any(String) });
    await expect(client.start('timer-nap', {}, { startIn: 'soon' as never })).rejects.toMatchObject({
      status: 400,
      code: 'INPUT_INVALID',
    });
    expect((await client.cancel(later.id, { reason: 'the test is done' })).status).toBe('CANCELLED');
  });

  it.each([
    [{ startAt: 'tomorrow' }, 'startAt must be an ISO-8601 date-time with an offset, such as 2026-12-24T18:00:00Z'],
    [{ startAt: '2026-12-24T18:00:00' }, 'startAt must be an ISO-8601 date-time with an offset'],
    [{ startAt: '2000-01-01T00:00:00Z' }, 'startAt is in the past (more than 60 s ago)'],
    [{ startAt: '2999-01-01T00:00:00Z' }, 'startAt is more than 366 days ahead'],
    [{ startAt: '2026-02-30T10:00:00Z' }, 'startAt'],
    [{ startIn: 'soon' }, 'startIn must be a duration such as "90s", "10m", "2h" or "1d"'],
    [{ startIn: '-5s' }, 'startIn must be a duration'],
    [{ startIn: '400d' }, 'startIn must be a duration'],
    [{ startIn: 1.5 }, 'startIn must be a duration'],
    [{ startIn: { ms: 5 } }, 'startIn must be a duration'],
    [{ startAt: '2030-01-01T00:00:00Z', startIn: '1h' }, 'startAt and startIn are exclusive'],
  ])('refuses a bad start time %p with 400 naming the field', async (extra, message) => {
    const res = await engine
      .as('operator')
      .post('/v1/sagas')
      .send({ type: 'timer-nap', input: {}, ...extra });
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ code: 'INPUT_INVALID', message: expect.stringContaining(message) });
  });
});
