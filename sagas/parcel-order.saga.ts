import { NonRetryableError, RetryableError, defineSaga, type RetryPolicy } from '@saga-engine/sdk';
import { droneDeliverySaga } from './drone-delivery.saga';
import { DroneDeliveryParticipants } from './drone-delivery.participants';
import { ParcelOrderInput } from './parcel-order.input';

const quick: RetryPolicy = {
  maximumAttempts: 5,
  initialInterval: '100ms',
  backoffCoefficient: 2,
  maximumInterval: '1s',
};
const patient: RetryPolicy = { ...quick, maximumAttempts: 20 };

/**
 * A multi-parcel order (the demo of composition): verify the account, book a delivery for every parcel with the
 * delivery service (a fan-out: 4 parcels at a time, each its own attempts and idempotency key
 * `<sagaId>:book-parcels:<parcelId>`), then fly the first parcel at once with a drone delivery of its own (a child
 * saga: the whole drone-delivery saga, linked to this step), then tell the customer.
 *
 * - A parcel the delivery service refuses (`fault: 'refuse'`) fails the fan-out for good: the bookings already made
 *   are cancelled, one by one, and the order is COMPENSATED. A `flaky` parcel fails its first attempt and is retried.
 * - The express flight is the order's point of no return, because the drone delivery it starts charges the
 *   customer (its own pivot) and a charge is not undone. If the drone delivery compensates (its own failure), the
 *   flight step fails for good and the bookings are cancelled.
 */
export const parcelOrderSaga = defineSaga('parcel-order', {
  version: 1,
  input: ParcelOrderInput,
  description: 'Books every parcel of an order (a fan-out), then flies the first one with a drone delivery (a child).',
  defaults: { retry: quick, compensationRetry: patient, timeout: '2s', compensationTimeout: '2s' },
  deps: { p: DroneDeliveryParticipants },
})
  .step('verify-account', {
    description: 'Reads the account; fails for good when it is unknown or closed.',
    run: (ctx, { p }) =>
      p.account.verify({
        sagaId: ctx.sagaId,
        idempotencyKey: ctx.key,
        attempt: ctx.attempt,
        signal: ctx.signal,
        payload: { accountId: ctx.input.accountId },
      }),
  })
  .forEach('book-parcels', {
    description: 'One delivery per parcel, 4 at a time; a refused parcel cancels the bookings already made.',
    items: (ctx) => ctx.input.parcels,
    itemKey: (parcel) => parcel.parcelId,
    concurrency: 4,
    run: async (ctx, { p }) => {
      if (ctx.item.fault === 'refuse') {
        throw new NonRetryableError(`parcel ${ctx.item.parcelId} cannot be delivered`, { code: 'PARCEL_REFUSED' });
      }
      if (ctx.item.fault === 'flaky' && ctx.attempt === 1) {
        throw new RetryableError(`the delivery service is busy with parcel ${ctx.item.parcelId}`);
      }
      const { deliveryId } = await p.delivery.create({
        sagaId: ctx.sagaId,
        idempotencyKey: ctx.key,
        attempt: ctx.attempt,
        signal: ctx.signal,
        ...(ctx.item.fault === 'slow' ? { fault: { delayMs: 800 } } : {}),
        payload: { accountId: ctx.input.accountId, pickup: ctx.input.pickup, dropoff: ctx.item.dropoff },
      });
      return { parcelId: ctx.item.parcelId, deliveryId };
    },
    compensate: (ctx, { p }) =>
      p.delivery.cancel({
        sagaId: ctx.sagaId,
        idempotencyKey: ctx.undoKey,
        attempt: ctx.attempt,
        signal: ctx.signal,
        payload: { deliveryId: ctx.output?.deliveryId ?? null },
      }),
  })
  .child('fly-express', {
    description: 'The first parcel flies now, as a drone delivery of its own (which charges the express price).',
    saga: droneDeliverySaga,
    // The child charges the customer past its own pivot, so it cannot be undone once it completed: this step is
    // the order's point of no return.
    pivot: true,
    input: (ctx) => {
      const [first] = ctx.input.parcels;
      return {
        accountId: ctx.input.accountId,
        pickup: ctx.input.pickup,
        dropoff: first.dropoff,
        weightKg: first.weightKg,
        priceCents: ctx.input.expressPriceCents,
        ...(ctx.input.expressFaults ? { faults: ctx.input.expressFaults } : {}),
      };
    },
  })
  .step('notify-customer', {
    description: 'Retried until it succeeds (after the point of no return).',
    retry: { maximumAttempts: 0, initialInterval: '100ms', maximumInterval: '1s' },
    run: (ctx, { p }) =>
      p.notification.notify({
        sagaId: ctx.sagaId,
        idempotencyKey: ctx.key,
        attempt: ctx.attempt,
        signal: ctx.signal,
        payload: {
          accountId: ctx.input.accountId,
          deliveryId: ctx.steps.bookParcels[0].deliveryId,
          message:
            `${ctx.steps.bookParcels.length} parcels booked; the first one flies with ` +
            (ctx.steps.flyExpress.scheduleDrone
              ? `drone ${ctx.steps.flyExpress.scheduleDrone.droneId}`
              : 'ground transport'),
        },
      }),
  })
  .build();
