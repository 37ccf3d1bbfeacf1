import 'reflect-metadata';
import { SagaTestEnvironment, fail } from '@saga-engine/testing';
import { orderSaga } from '../src/order.saga';

/**
 * The order saga in a unit test: no database, no queue, no Nest. Its steps get fakes of the service's providers
 * (typed by the saga's `deps`); the test kit's virtual clock skips the retries' backoff and the wait for a pickup,
 * so hours of the saga's time pass in milliseconds.
 */
describe('order saga (test kit)', () => {
  const input = {
    orderId: 'o-1',
    customerId: 'cus_42',
    lines: [{ sku: 'BOOK-1', quantity: 2 }],
    totalCents: 4_200,
    country: 'DE',
  };

  const fakes = () => ({
    inventory: {
      reserve: jest.fn(async (key: string) => ({ reservationKey: key })),
      release: jest.fn(async () => undefined),
    },
    payments: {
      charge: jest.fn(async (key: string, _order: string, _customer: string, amountCents: number) => ({
        paymentKey: key,
        amountCents,
      })),
      refund: jest.fn(async () => undefined),
    },
    shipping: { ship: jest.fn(async () => ({ trackingNumber: 'TRK-1' })) },
  });

  it('rides out a payment provider down for over an hour and a pickup two days later, in well under 2 s', async () => {
    const deps = fakes();
    const env = new SagaTestEnvironment();
    const began = performance.now();
    const run = env.start(orderSaga, input, {
      deps,
      // The provider is down: three attempts fail (10 + 20 + 40 minutes of backoff), the fourth goes through.
      faults: { 'charge-card': fail.times(3, fail.transient('PROVIDER_DOWN')) },
    });
    run.signal('ParcelPickedUp', { by: 'warehouse' }, { at: '2d' });
    const result = await run.result();
    const wallMs = performance.now() - began;

    expect(result.status).toBe('COMPLETED');
    expect(result.output).toEqual({
      reserveStock: { reservationKey: `${run.id}:reserve-stock` },
      chargeCard: { paymentKey: `${run.id}:charge-card`, amountCents: 4_200 },
      awaitPickup: { by: 'warehouse' },
      ship: { trackingNumber: 'TRK-1' },
    });
    expect(result.steps['charge-card'].attempts).toBe(4);
    expect(result.elapsedMs).toBeGreaterThanOrEqual(48 * 3_600_000);
    expect(wallMs).toBeLessThan(2_000);
    // The charge ran once, with the step's idempotency key (the same on every attempt).
    expect(deps.payments.charge).toHaveBeenCalledTimes(1);
    expect(deps.payments.charge).toHaveBeenCalledWith(`${run.id}:charge-card`, 'o-1', 'cus_42', 4_200);
  });

  it('refunds and releases, in that order, when the parcel is not picked up within two days', async () => {
    const deps = fakes();
    const result = await new SagaTestEnvironment().start(orderSaga, input, { deps }).result();
    expect(result.status).toBe('COMPENSATED');
    expect(result.error).toMatchObject({ step: 'await-pickup', code: 'SIGNAL_TIMEOUT' });
    expect(result.elapsedMs).toBe(2 * 24 * 3_600_000);
    expect(result.attempts.filter((a) => a.phase === 'undo').map((a) => a.step)).toEqual([
      'charge-card',
      'reserve-stock',
    ]);
    expect(deps.shipping.ship).not.toHaveBeenCalled();
  });

  it('releases the stock, and charges nothing back, when the card is declined', async () => {
    const deps = fakes();
    const result = await new SagaTestEnvironment()
      .start(orderSaga, input, { deps, faults: { 'charge-card': [fail.definite('CARD_DECLINED')] } })
      .result();
    expect(result.status).toBe('COMPENSATED');
    expect(deps.inventory.release).toHaveBeenCalledTimes(1);
    expect(deps.payments.refund).not.toHaveBeenCalled();
  });
});
