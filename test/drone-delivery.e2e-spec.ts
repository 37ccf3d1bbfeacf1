import { allSagas } from '@app/sagas';
import { inProcessParticipants } from '../apps/demo-services/src/in-process-participants';
import { startTestEngine, type TestEngine } from './support/test-engine';

/** The reference scenario end to end: REST in, BullMQ jobs, agent, PostgreSQL checkpoints, REST out. */
describe('drone-delivery saga (e2e)', () => {
  const participants = inProcessParticipants();
  let engine: TestEngine;

  beforeAll(async () => {
    engine = await startTestEngine({ sagas: allSagas({ droneDelivery: participants }) });
  });
  afterAll(() => engine?.close());

  const input = (extra: Record<string, unknown> = {}) => ({
    accountId: 'acc-42',
    pickup: { lat: 52.52, lng: 13.405 },
    dropoff: { lat: 52.5, lng: 13.45 },
    weightKg: 2.5,
    priceCents: 1999,
    ...extra,
  });

  async function run(body: Record<string, unknown>, end: string[]) {
    const res = await engine.as('operator').post('/v1/sagas').send({ type: 'drone-delivery', input: body });
    expect(res.status).toBe(201);
    return engine.waitForStatus(res.body.id, end);
  }

  const ledger = (sagaId: string) => participants.ledger.list(sagaId);
  const effects = (sagaId: string) => ledger(sagaId).map((e) => `${e.service}.${e.operation}`);

  it('completes, with each effect applied once', async () => {
    const saga = await run(input(), ['COMPLETED', 'COMPENSATED', 'FAILED']);
    expect(saga.status).toBe('COMPLETED');
    expect(saga.steps.map((s: any) => [s.name, s.status])).toEqual([
      ['verify-account', 'SUCCEEDED'],
      ['create-delivery', 'SUCCEEDED'],
      ['register-package', 'SUCCEEDED'],
      ['schedule-drone', 'SUCCEEDED'],
      ['book-ground-transport', 'SKIPPED'],
      ['charge-account', 'SUCCEEDED'],
      ['notify-customer', 'SUCCEEDED'],
    ]);
    expect(saga.output.scheduleDrone.droneId).toMatch(/^drn_/);
    expect(saga.completedAt).not.toBeNull();
    expect(effects(saga.id)).toEqual([
      'account.verify',
      'delivery.create',
      'package.register',
      'drone.schedule',
      'account.charge',
      'notification.notify',
    ]);
    expect(ledger(saga.id).every((e) => e.count === 1 && e.requests === 1)).toBe(true);

    const events = await engine.as('viewer').get(`/v1/sagas/${saga.id}/events`);
    expect(events.status).toBe(200);
    const seqs = events.body.items.map((e: any) => e.seq);
    expect(seqs).toEqual(seqs.map((_: unknown, i: number) => i + 1));
    expect(events.body.items[0].type).toBe('SagaStarted');
    expect(events.body.items.at(-1).type).toBe('SagaCompleted');
  });

  it('retries a transient fault to success and records every attempt', async () => {
    const saga = await run(input({ faults: { 'register-package': { transient: 2 } } }), [
      'COMPLETED',
      'COMPENSATED',
      'FAILED',
    ]);
    expect(saga.status).toBe('COMPLETED');
    const step = saga.steps.find((s: any) => s.name === 'register-package');
    expect(step).toMatchObject({ status: 'SUCCEEDED', attempts: 3, error: null });
    const events = (await engine.as('viewer').get(`/v1/sagas/${saga.id}/events`)).body.items;
    const failures = events.filter((e: any) => e.type === 'StepFailed' && e.step === 'register-package');
    expect(failures.map((e: any) => e.attempt)).toEqual([1, 2]);
    expect(failures[0].data.error).toMatchObject({ code: 'FAULT_TRANSIENT', retryable: true });
    expect(ledger(saga.id).filter((e) => e.operation === 'register')).toEqual([
      expect.objectContaining({ count: 1, requests: 1 }),
    ]);
  });

  it('compensates in reverse order when charge-account fails for good', async () => {
    const saga = await run(input({ faults: { 'charge-account': { fatal: true } } }), [
      'COMPENSATED',
      'COMPLETED',
      'FAILED',
    ]);
    expect(saga.status).toBe('COMPENSATED');
    expect(saga.error).toMatchObject({ step: 'charge-account', code: 'FAULT_FATAL', transient: false });
    const byName = Object.fromEntries(saga.steps.map((s: any) => [s.name, s]));
    expect(byName['verify-account'].status).toBe('SUCCEEDED');
    expect(byName['charge-account']).toMatchObject({ status: 'FAILED', compensation: null });
    for (const name of ['create-delivery', 'register-package', 'schedule-drone']) {
      expect(byName[name]).toMatchObject({ status: 'COMPENSATED', compensation: { status: 'SUCCEEDED', attempts: 1 } });
    }
    expect(byName['notify-customer'].status).toBe('PENDING');
    // Reverse order of completion, each effect and each undo exactly once.
    expect(effects(saga.id)).toEqual([
      'account.verify',
      'delivery.create',
      'package.register',
      'drone.schedule',
      'drone.release',
      'package.delete',
      'delivery.cancel',
    ]);
    expect(ledger(saga.id).every((e) => e.count === 1)).toBe(true);
    const events = (await engine.as('viewer').get(`/v1/sagas/${saga.id}/events`)).body.items;
    const undone = events.filter((e: any) => e.type === 'CompensationSucceeded').map((e: any) => e.step);
    expect(undone).toEqual(['schedule-drone', 'register-package', 'create-delivery']);
  });

  it('takes the ground-transport branch for a heavy parcel', async () => {
    const saga = await run(input({ weightKg: 35 }), ['COMPLETED', 'COMPENSATED', 'FAILED']);
    expect(saga.status).toBe('COMPLETED');
    const byName = Object.fromEntries(saga.steps.map((s: any) => [s.name, s.status]));
    expect(byName['schedule-drone']).toBe('SKIPPED');
    expect(byName['book-ground-transport']).toBe('SUCCEEDED');
  });

  it("runs the failed step's own undo when its retries run out", async () => {
    const saga = await run(input({ faults: { 'register-package': { transient: 99 } } }), [
      'COMPENSATED',
      'COMPLETED',
      'FAILED',
    ]);
    expect(saga.status).toBe('COMPENSATED');
    const step = saga.steps.find((s: any) => s.name === 'register-package');
    expect(step).toMatchObject({ status: 'COMPENSATED', attempts: 5, compensation: { status: 'SUCCEEDED' } });
    expect(saga.error).toMatchObject({ step: 'register-package', transient: true });
    expect(effects(saga.id)).toEqual(['account.verify', 'delivery.create', 'package.delete', 'delivery.cancel']);
  });

  it('ends COMPENSATED at once when the account is unknown, with nothing to undo', async () => {
    const saga = await run(input({ accountId: 'nobody' }), ['COMPENSATED', 'COMPLETED', 'FAILED']);
    expect(saga.status).toBe('COMPENSATED');
    expect(saga.error).toMatchObject({ step: 'verify-account', code: 'ACCOUNT_UNKNOWN' });
    expect(effects(saga.id)).toEqual([]);
  });
});
