import { randomUUID } from 'node:crypto';
import { droneDeliverySaga } from '@demo/sagas';
import { SagaApiError, SagaClient, SagaConflictError, SagaNotFoundError } from '@saga-engine/client';
import { droneInput } from './support/drone-input';
import { KEYS, startTestEngine, type TestEngine } from './support/test-engine';

/**
 * `@saga-engine/client` against the real engine (REST API, scheduler, agent, PostgreSQL, the demo services): the
 * client's view of the API must be the API's.
 */
describe('@saga-engine/client (e2e)', () => {
  let engine: TestEngine;
  let client: SagaClient;
  // Typed by the demo's definition, as a caller that imports the saga's module would be; only its name is sent.
  const droneDelivery = droneDeliverySaga;

  beforeAll(async () => {
    engine = await startTestEngine({ demo: true });
    client = new SagaClient({ url: engine.url, apiKey: KEYS.operator });
  });
  afterAll(() => engine?.close());

  it('starts a drone delivery and waits for it to complete', async () => {
    const started = await client.start(droneDelivery, droneInput(), { key: `client-${randomUUID()}` });
    expect(started).toMatchObject({ type: 'drone-delivery', version: 1, created: true, output: null });
    expect(started.input.accountId).toBe('acc-42');

    const done = await client.waitFor(started, { timeout: '30s' });

    expect(done).toMatchObject({ id: started.id, status: 'COMPLETED', error: null });
    expect(done.completedAt).not.toBeNull();
    // Typed by the definition: schedule-drone is conditional (light parcels), so its output may be absent.
    expect(done.output?.scheduleDrone?.droneId).toMatch(/^drn_/);
    expect(done.steps.find((s) => s.name === 'charge-account')).toMatchObject({ status: 'SUCCEEDED', attempts: 1 });
    expect(await client.get(droneDelivery, started.id)).toEqual(done);
  });

  it('waits for a saga whose charge fails for good until it is COMPENSATED', async () => {
    const started = await client.start('drone-delivery', droneInput({ faults: { 'charge-account': { fatal: true } } }));

    const done = await client.waitFor(started.id, { timeout: '30s' });

    expect(done.status).toBe('COMPENSATED');
    expect(done.error).toMatchObject({ step: 'charge-account', code: 'FAULT_FATAL', transient: false });
    expect(done.output).toBeNull();
    expect(done.steps.find((s) => s.name === 'create-delivery')).toMatchObject({
      status: 'COMPENSATED',
      compensation: { status: 'SUCCEEDED', attempts: 1 },
    });
  });

  it('replays an idempotency key: created false, the same saga; another input is a conflict', async () => {
    const key = `client-${randomUUID()}`;
    const first = await client.start('drone-delivery', droneInput(), { key });
    const again = await client.start('drone-delivery', droneInput(), { key });

    expect(first.created).toBe(true);
    expect(again.created).toBe(false);
    expect(again.id).toBe(first.id);

    const conflict = client.start('drone-delivery', droneInput({ weightKg: 3 }), { key });
    await expect(conflict).rejects.toBeInstanceOf(SagaConflictError);
    await expect(conflict).rejects.toMatchObject({ status: 409, code: 'IDEMPOTENCY_CONFLICT' });
    await client.waitFor(first, { timeout: '30s' });
  });

  it('refuses a signal that nothing waits for, and a cancel of a finished saga, with 409s', async () => {
    const started = await client.start('drone-delivery', droneInput());
    const done = await client.waitFor(started, { timeout: '30s' });
    expect(done.status).toBe('COMPLETED');

    const signal = client.signal(done.id, 'DeliveryCompleted', { by: 'test' });
    await expect(signal).rejects.toBeInstanceOf(SagaConflictError);
    await expect(signal).rejects.toMatchObject({ name: 'SagaConflictError', status: 409, code: 'NOT_WAITING' });

    const cancel = client.cancel(done.id, { reason: 'too late' });
    await expect(cancel).rejects.toBeInstanceOf(SagaConflictError);
    await expect(cancel).rejects.toMatchObject({ status: 409, code: 'INVALID_STATE' });
  });

  it("passes the API's refusals through: 404, 400 naming the field, 403 for a viewer's start", async () => {
    await expect(client.get(randomUUID())).rejects.toBeInstanceOf(SagaNotFoundError);

    const invalid = client.start('drone-delivery', droneInput({ weightKg: 'heavy' }));
    await expect(invalid).rejects.toMatchObject({ status: 400, code: 'INPUT_INVALID', message: /weightKg/ });

    const viewer = new SagaClient({ url: engine.url, apiKey: KEYS.viewer });
    const forbidden = viewer.start('drone-delivery', droneInput());
    await expect(forbidden).rejects.toBeInstanceOf(SagaApiError);
    await expect(forbidden).rejects.toMatchObject({ status: 403, code: 'FORBIDDEN' });
    await expect(forbidden).rejects.not.toThrow(KEYS.viewer);
  });
});
