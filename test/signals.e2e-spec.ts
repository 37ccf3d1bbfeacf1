import { defineSaga } from '@saga-engine/sdk';
import { startTestEngine, type TestEngine } from './support/test-engine';
import { waitFor } from './support/wait-for';

const UNKNOWN_ID = '00000000-0000-4000-8000-000000000000';

/** Effects of the sagas' steps, by idempotency key, counted: proves each ran (and was undone) once. */
const effects = new Map<string, number>();
const apply = (key: string) => effects.set(key, (effects.get(key) ?? 0) + 1);

const approval = (name: string, timeout: '30s' | '1s') =>
  defineSaga(name, { version: 1, defaults: { retry: { maximumAttempts: 2, initialInterval: '50ms' } } })
    .step('reserve', {
      run: (ctx) => {
        apply(ctx.key);
        return { reservation: ctx.key };
      },
      compensate: (ctx) => {
        apply(ctx.undoKey);
      },
    })
    .waitFor<'await-approval', { by: string }>('await-approval', { signal: 'Approved', timeout })
    .step('finish', { run: (ctx) => ({ approvedBy: ctx.steps.awaitApproval.by }) })
    .build();

/** Holds the `early` saga's first step until the test lets it go: the signal comes while it runs. */
let releaseGate: () => void = () => undefined;
const gate = () => new Promise<void>((resolve) => (releaseGate = resolve));
let gateOpen: Promise<void> = Promise.resolve();

const early = defineSaga('signal-early', { version: 1 })
  .step('slow', { run: async () => void (await gateOpen) })
  .waitFor<'await-approval', { by: string }>('await-approval', { signal: 'Approved', timeout: '30s' })
  .step('finish', { run: (ctx) => ({ approvedBy: ctx.steps.awaitApproval.by }) })
  .build();

describe('signals: wait steps end to end (e2e)', () => {
  let engine: TestEngine;

  beforeAll(async () => {
    engine = await startTestEngine({
      sagas: [approval('signal-approval', '30s'), approval('signal-expiry', '1s'), early],
      env: { SUPERVISOR_INTERVAL_MS: '100' },
    });
  });
  afterAll(async () => {
    await engine?.close();
  });

  const start = async (type: string): Promise<string> => {
    const res = await engine.as('operator').post('/v1/sagas').send({ type, input: {} });
    expect(res.status).toBe(201);
    return res.body.id;
  };
  const get = async (id: string) => (await engine.as('viewer').get(`/v1/sagas/${id}`)).body;
  const stepsOf = (saga: any): Record<string, any> => Object.fromEntries(saga.steps.map((s: any) => [s.name, s]));
  const waiting = (id: string) =>
    waitFor(async () => stepsOf(await get(id))['await-approval'].status === 'WAITING', {
      what: `saga ${id} to wait for its signal`,
    });
  const signal = (id: string, name: string, body: unknown = {}) =>
    engine
      .as('operator')
      .post(`/v1/sagas/${id}/signals/${name}`)
      .send(body as object);

  it('a saga that waits gets its signal and completes, with the payload as the step’s output', async () => {
    const id = await start('signal-approval');
    await waiting(id);
    // Nothing ran for the wait step: no job, no attempt beyond the wait itself.
    expect(stepsOf(await get(id))['finish'].status).toBe('PENDING');

    expect((await engine.as('viewer').post(`/v1/sagas/${id}/signals/Approved`).send({})).status).toBe(403);
    const bad = await signal(id, 'Approved', { payload: [1, 2] });
    expect(bad.status).toBe(400);
    expect(bad.body).toMatchObject({ code: 'INPUT_INVALID', message: 'payload must be a JSON object' });
    expect((await signal(id, 'Approved', { payload: {}, extra: true })).status).toBe(400);
    expect((await signal(id, 'bad name!')).status).toBe(400);
    const other = await signal(id, 'Rejected');
    expect(other.status).toBe(409);
    expect(other.body).toMatchObject({ code: 'NOT_WAITING', message: 'nothing waits for signal "Rejected"' });

    const res = await signal(id, 'Approved', { payload: { by: 'ops' } });
    expect(res.status).toBe(202);
    expect(res.body.id).toBe(id);

    const done = await engine.waitForStatus(id, ['COMPLETED', 'COMPENSATED', 'FAILED']);
    expect(done.status).toBe('COMPLETED');
    const steps = stepsOf(done);
    expect(steps['await-approval']).toMatchObject({ status: 'SUCCEEDED', output: { by: 'ops' } });
    expect(steps['finish']).toMatchObject({ status: 'SUCCEEDED', output: { approvedBy: 'ops' } });
    expect(done.output).toEqual({
      reserve: { reservation: `${id}:reserve` },
      awaitApproval: { by: 'ops' },
      finish: { approvedBy: 'ops' },
    });

    const events = (await engine.as('viewer').get(`/v1/sagas/${id}/events`)).body.items as any[];
    expect(events.map((e) => e.type)).toContain('StepWaiting');
    const received = events.find((e) => e.type === 'SignalReceived');
    expect(received).toMatchObject({ step: 'await-approval', data: { signal: 'Approved', by: expect.any(String) } });
    expect(received.data.by).toBe('key operator (operator)');

    // Delivered once: a second one finds nothing waiting.
    expect((await signal(id, 'Approved', { payload: { by: 'again' } })).status).toBe(409);
    expect(effects.get(`${id}:reserve`)).toBe(1);
    expect(effects.get(`${id}:reserve:undo`)).toBeUndefined();
  });

  it('a signal that never comes times out, and the saga compensates', async () => {
    const id = await start('signal-expiry');
    await waiting(id);
    const ended = await engine.waitForStatus(id, ['COMPENSATED', 'COMPLETED', 'FAILED'], 15_000);
    expect(ended.status).toBe('COMPENSATED');
    expect(ended.error).toMatchObject({ step: 'await-approval', code: 'SIGNAL_TIMEOUT', transient: false });
    const steps = stepsOf(ended);
    expect(steps['await-approval']).toMatchObject({
      status: 'FAILED',
      error: { code: 'SIGNAL_TIMEOUT', retryable: false },
      compensation: null,
    });
    expect(steps['reserve']).toMatchObject({ status: 'COMPENSATED', compensation: { status: 'SUCCEEDED' } });
    expect(steps['finish'].status).toBe('PENDING');
    expect(effects.get(`${id}:reserve`)).toBe(1);
    expect(effects.get(`${id}:reserve:undo`)).toBe(1);

    const late = await signal(id, 'Approved', { payload: { by: 'late' } });
    expect(late.status).toBe(409);
    expect(late.body).toMatchObject({ code: 'NOT_WAITING', message: 'saga is COMPENSATED' });
  });

  it('a signal to a saga that does not wait answers 409, to one that does not exist 404', async () => {
    const id = await start('signal-approval');
    await waiting(id);
    await signal(id, 'Approved', { payload: { by: 'ops' } });
    await engine.waitForStatus(id, ['COMPLETED']);
    const res = await signal(id, 'Approved');
    expect(res.status).toBe(409);
    expect(res.body.code).toBe('NOT_WAITING');

    const missing = await signal(UNKNOWN_ID, 'Approved');
    expect(missing.status).toBe(404);
    expect(missing.body.code).toBe('SAGA_NOT_FOUND');
    expect((await signal('not-a-uuid', 'Approved')).status).toBe(400);
  });

  it('a signal that comes before its wait step started is buffered, and the wait consumes it as it starts', async () => {
    gateOpen = gate();
    const id = await start('signal-early');
    await waitFor(async () => stepsOf(await get(id))['slow'].status !== 'PENDING', { what: 'slow to be dispatched' });
    const res = await signal(id, 'Approved', { payload: { by: 'the drone' } });
    expect(res.status).toBe(202);
    expect(stepsOf(res.body)['await-approval'].status).toBe('PENDING');
    // The first one is kept; a second one while it is buffered is refused.
    const again = await signal(id, 'Approved', { payload: { by: 'twice' } });
    expect(again.status).toBe(409);
    expect(again.body).toMatchObject({ code: 'NOT_WAITING', message: 'signal "Approved" is already buffered' });
    // A signal no step of this saga will ever wait for: still 409.
    expect((await signal(id, 'Rejected')).status).toBe(409);

    releaseGate();
    const done = await engine.waitForStatus(id, ['COMPLETED', 'COMPENSATED', 'FAILED']);
    expect(done.status).toBe('COMPLETED');
    expect(stepsOf(done)['await-approval']).toMatchObject({ status: 'SUCCEEDED', output: { by: 'the drone' } });
    expect(stepsOf(done)['finish'].output).toEqual({ approvedBy: 'the drone' });
    const events = (await engine.as('viewer').get(`/v1/sagas/${id}/events`)).body.items as any[];
    const types = events.map((e) => e.type);
    expect(types).toContain('SignalBuffered');
    expect(types).not.toContain('StepWaiting');
    expect(events.find((e) => e.type === 'SignalReceived')).toMatchObject({
      step: 'await-approval',
      data: { signal: 'Approved', buffered: true },
    });
  });
});
