import { startTestEngine, type TestEngine } from './support/test-engine';

/**
 * The composition demo end to end (sagas/parcel-order.saga.ts): an order's parcels booked with the delivery service
 * by a fan-out, the first one flown by a drone delivery started as a child saga; against the demo services, whose
 * PostgreSQL ledger shows every effect and undo.
 */
describe('parcel-order demo: a fan-out and a child saga (e2e)', () => {
  let engine: TestEngine;

  beforeAll(async () => {
    engine = await startTestEngine({ demo: true });
  });
  afterAll(() => engine?.close());

  const order = (parcels: Record<string, unknown>[]) => ({
    accountId: 'acc-42',
    pickup: { lat: 52.52, lng: 13.405 },
    expressPriceCents: 2500,
    parcels,
  });
  const parcel = (id: string, extra: Record<string, unknown> = {}) => ({
    parcelId: id,
    dropoff: { lat: 52.5, lng: 13.45 },
    weightKg: 2,
    ...extra,
  });
  const start = async (input: Record<string, unknown>) => {
    const res = await engine.as('operator').post('/v1/sagas').send({ type: 'parcel-order', input });
    expect(res.status).toBe(201);
    return res.body.id as string;
  };
  const effects = async (sagaId: string) =>
    (await engine.ledger(sagaId)).map((e) => `${e.service}.${e.operation} ${e.idempotencyKey.slice(sagaId.length)}`);

  it('books every parcel, flies the first one as a child drone delivery, and notifies', async () => {
    const parcels = ['p1', 'p2', 'p3', 'p4', 'p5', 'p6'].map((id) => parcel(id, id === 'p3' ? { fault: 'flaky' } : {}));
    const id = await start(order(parcels));
    const done = await engine.waitForStatus(id, ['COMPLETED', 'COMPENSATED', 'FAILED'], 30_000);
    expect(done.status).toBe('COMPLETED');
    const steps = Object.fromEntries(done.steps.map((s: any) => [s.name, s]));
    expect(steps['book-parcels'].items).toEqual({ total: 6, counts: { SUCCEEDED: 6 } });
    expect(done.output.bookParcels.map((b: any) => b.parcelId)).toEqual(['p1', 'p2', 'p3', 'p4', 'p5', 'p6']);
    const child = steps['fly-express'].child;
    expect(child).toMatchObject({ type: 'drone-delivery', status: 'COMPLETED' });
    expect(done.output.flyExpress.chargeAccount.chargeId).toEqual(expect.any(String));

    const ledger = await effects(id);
    expect(ledger.filter((e) => e.startsWith('delivery.create')).sort()).toEqual(
      ['p1', 'p2', 'p3', 'p4', 'p5', 'p6'].map((p) => `delivery.create :book-parcels:${p}`),
    );
    expect((await engine.ledger(id)).every((e) => e.count === 1)).toBe(true);
    // The child's own effects, under its own id: the whole drone delivery, charge included.
    expect(await effects(child.id)).toEqual(
      expect.arrayContaining([
        'account.verify :verify-account',
        'drone.schedule :schedule-drone',
        'account.charge :charge-account',
      ]),
    );
    // The flaky parcel took two attempts, the others one.
    const page = await engine.as('viewer').get(`/v1/sagas/${id}/steps/book-parcels/items`);
    expect(page.body.items.map((i: any) => [i.key, i.attempts])).toEqual([
      ['p1', 1],
      ['p2', 1],
      ['p3', 2],
      ['p4', 1],
      ['p5', 1],
      ['p6', 1],
    ]);
  });

  it('a refused parcel cancels the bookings already made; no drone flies', async () => {
    const parcels = Array.from({ length: 12 }, (_, i) => parcel(`q${i}`, i === 9 ? { fault: 'refuse' } : {}));
    const id = await start(order(parcels));
    const done = await engine.waitForStatus(id, ['COMPLETED', 'COMPENSATED', 'FAILED'], 30_000);
    expect(done.status).toBe('COMPENSATED');
    expect(done.error).toMatchObject({ step: 'book-parcels', code: 'PARCEL_REFUSED' });
    expect(done.children).toEqual([]);
    const ledger = await engine.ledger(id);
    const created = ledger.filter((e) => e.operation === 'create').map((e) => e.idempotencyKey);
    const cancelled = ledger.filter((e) => e.operation === 'cancel').map((e) => e.idempotencyKey.replace(/:undo$/, ''));
    expect(created.length).toBeGreaterThanOrEqual(9);
    expect(cancelled.sort()).toEqual(created.sort());
    expect(ledger.every((e) => e.count === 1)).toBe(true);
  });
});
