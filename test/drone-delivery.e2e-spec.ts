import type { DroneDeliveryParticipants } from '@demo/sagas';
import { startTestEngine, type TestEngine } from './support/test-engine';
import { droneInput } from './support/drone-input';

/**
 * The reference scenario end to end: REST in, BullMQ jobs, agent, PostgreSQL checkpoints, REST out; the demo
 * services over the real @nestjs/microservices TCP transport and HTTP (in this process; demo-services.e2e-spec.ts
 * runs them as separate processes).
 */
describe('drone-delivery saga (e2e)', () => {
  let engine: TestEngine;

  beforeAll(async () => {
    engine = await startTestEngine({ demo: true });
  });
  afterAll(() => engine?.close());

  const input = droneInput;

  async function run(body: Record<string, unknown>, end: string[]) {
    const res = await engine.as('operator').post('/v1/sagas').send({ type: 'drone-delivery', input: body });
    expect(res.status).toBe(201);
    return engine.waitForStatus(res.body.id, end);
  }

  // The participants' PostgreSQL ledger, through GET /v1/demo/ledger: what they applied, in order.
  const ledger = (sagaId: string) => engine.ledger(sagaId);
  const effects = async (sagaId: string) => (await ledger(sagaId)).map((e) => `${e.service}.${e.operation}`);

  it('completes, with each effect applied once', async () => {
    const saga = await run(input(), ['COMPLETED', 'COMPENSATED', 'FAILED']);
    expect(saga.status).toBe('COMPLETED');
    expect(saga.steps.map((s: any) => [s.name, s.status])).toEqual([
      ['verify-account', 'SUCCEEDED'],
      ['create-delivery', 'SUCCEEDED'],
      ['register-package', 'SUCCEEDED'],
      ['schedule-drone', 'SUCCEEDED'],
      ['book-ground-transport', 'SKIPPED'],
      ['await-delivery', 'SUCCEEDED'],
      ['charge-account', 'SUCCEEDED'],
      ['notify-customer', 'SUCCEEDED'],
    ]);
    expect(saga.output.scheduleDrone.droneId).toMatch(/^drn_/);
    // The drone reported DeliveryCompleted after its flight.
    expect(saga.output.awaitDelivery).toMatchObject({ by: 'drone', droneId: saga.output.scheduleDrone.droneId });
    expect(saga.completedAt).not.toBeNull();
    expect(await effects(saga.id)).toEqual([
      'account.verify',
      'delivery.create',
      'package.register',
      'drone.schedule',
      'account.charge',
      'notification.notify',
    ]);
    expect((await ledger(saga.id)).every((e) => e.count === 1 && e.requests === 1)).toBe(true);

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
    expect((await ledger(saga.id)).filter((e) => e.operation === 'register')).toEqual([
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
    expect(await effects(saga.id)).toEqual([
      'account.verify',
      'delivery.create',
      'package.register',
      'drone.schedule',
      'drone.release',
      'package.delete',
      'delivery.cancel',
    ]);
    expect((await ledger(saga.id)).every((e) => e.count === 1)).toBe(true);
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
    // The carrier (over HTTP) reported the delivery.
    expect(saga.output.awaitDelivery).toMatchObject({
      by: 'transport',
      bookingId: saga.output.bookGroundTransport.bookingId,
    });
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
    expect(await effects(saga.id)).toEqual(['account.verify', 'delivery.create', 'package.delete', 'delivery.cancel']);
  });

  it('ends COMPENSATED at once when the account is unknown, with nothing to undo', async () => {
    const saga = await run(input({ accountId: 'nobody' }), ['COMPENSATED', 'COMPLETED', 'FAILED']);
    expect(saga.status).toBe('COMPENSATED');
    expect(saga.error).toMatchObject({ step: 'verify-account', code: 'ACCOUNT_UNKNOWN' });
    expect(await effects(saga.id)).toEqual([]);
  });

  describe('the demo participants (PostgreSQL, schema demo), called through the invokers', () => {
    const sagaId = '0190f2c4-0000-7000-8000-00000000d3d0';
    let p: DroneDeliveryParticipants;
    beforeAll(() => {
      p = engine.droneDelivery!;
    });
    const demo = { list: (id: string) => engine.ledger(id) };
    const call = <T>(key: string, payload: T, attempt = 1) => ({ sagaId, idempotencyKey: key, attempt, payload });

    it('apply an operation once per key: repeats, even concurrent ones, get the first answer', async () => {
      const key = `${sagaId}:create-delivery`;
      const answers = await Promise.all(
        Array.from({ length: 8 }, (_, i) => p.delivery.create(call(key, { ...input(), accountId: 'acc-1' }, i + 1))),
      );
      expect(new Set(answers.map((a) => a.deliveryId)).size).toBe(1);
      const [entry] = (await demo.list(sagaId)).filter((e) => e.idempotencyKey === key);
      expect(entry).toMatchObject({ service: 'delivery', operation: 'create', count: 1, requests: 8 });
      const held = await engine.db.query(`SELECT status FROM demo.resource WHERE created_by = $1`, [key]);
      expect(held).toEqual([{ status: 'ACTIVE' }]);
    });

    it('refuse an action that arrives after its undo (a zombie attempt), and refund only what was charged', async () => {
      const key = `${sagaId}:charge-account`;
      const before = await p.account.verify(call(`${sagaId}:verify`, { accountId: 'acc-undo' }));
      // The undo comes first (the action's outcome was unknown): nothing was charged, so nothing is refunded.
      await p.account.refund(call(`${key}:undo`, { accountId: 'acc-undo', chargeId: null, amountCents: 500 }));
      await expect(p.account.charge(call(key, { accountId: 'acc-undo', amountCents: 500 }))).rejects.toMatchObject({
        code: 'ALREADY_UNDONE',
      });
      const [account] = await engine.db.query<{ balance_cents: string }>(
        `SELECT balance_cents FROM demo.account WHERE account_id = 'acc-undo'`,
      );
      expect(Number(account.balance_cents)).toBe(before.balanceCents);
      expect((await demo.list(sagaId)).find((e) => e.idempotencyKey === key)).toBeUndefined();
    });

    it('serve their ledger at GET /v1/demo/ledger on their own port (no longer the engine’s)', async () => {
      expect((await engine.as('viewer').get('/v1/demo/ledger')).status).toBe(404);
      const res = await fetch(`${engine.demoUrl}/v1/demo/ledger?sagaId=${sagaId}`);
      expect(res.status).toBe(200);
      expect(((await res.json()) as unknown[])[0]).toEqual({
        service: 'delivery',
        operation: 'create',
        sagaId,
        idempotencyKey: `${sagaId}:create-delivery`,
        count: 1,
        requests: 8,
        at: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
      });
      expect((await fetch(`${engine.demoUrl}/v1/demo/ledger?sagaId=${'x'.repeat(101)}`)).status).toBe(400);
    });
  });
});
