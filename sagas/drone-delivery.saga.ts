import { defineSaga, type RetryPolicy, type StepContext } from '@saga-engine/sdk';
import { DroneDeliveryInput } from './drone-delivery.input';
import { type Call, DELIVERY_COMPLETED, DroneDeliveryParticipants } from './drone-delivery.participants';

/**
 * The reference scenario (API.md): schedule a drone delivery across the account, delivery, package, drone and
 * transport services, charge the customer, tell them. Anything that fails for good before the charge is undone.
 *
 * Policies are short so that a demo or a test sees every outcome within seconds: at most 5 attempts, at most
 * 1 s apart. Compensations are more patient (20 attempts, about 18 s): an undo must get through, and the five
 * transient failures that exhausted a step also opened its participant's circuit breaker, so its undo waits for
 * the breaker to let a trial call through (PARTICIPANT_HALF_OPEN_MS).
 */
const quick: RetryPolicy = {
  maximumAttempts: 5,
  initialInterval: '100ms',
  backoffCoefficient: 2,
  maximumInterval: '1s',
};
const patient: RetryPolicy = { ...quick, maximumAttempts: 20 };

/** The call a participant receives: the step's idempotency key, its fault knobs, its abort signal. */
const call = <T>(ctx: StepContext<DroneDeliveryInput, unknown>, payload: T, undo = false): Call<T> => ({
  sagaId: ctx.sagaId,
  idempotencyKey: undo ? ctx.undoKey : ctx.key,
  attempt: ctx.attempt,
  fault: ctx.input.faults?.[ctx.step],
  signal: ctx.signal,
  ...(ctx.traceparent ? { traceparent: ctx.traceparent } : {}),
  payload,
});
/** The same, for the drone and the carrier: they also get the `await-delivery` knobs (when they report). */
const flight = <T>(ctx: StepContext<DroneDeliveryInput, unknown>, payload: T): Call<T> => {
  const report = ctx.input.faults?.['await-delivery'];
  return { ...call(ctx, payload), ...(report ? { report } : {}) };
};

export const droneDeliverySaga = defineSaga('drone-delivery', {
  version: 1,
  input: DroneDeliveryInput,
  description: 'Schedules a parcel delivery by drone (or by ground transport when heavy), then charge and notify.',
  defaults: { retry: quick, compensationRetry: patient, timeout: '2s', compensationTimeout: '2s' },
  sensitive: ['contactPhone'],
  deps: { p: DroneDeliveryParticipants },
})
  .step('verify-account', {
    description: 'Reads the account; fails for good when it is unknown or closed. Nothing to undo.',
    run: (ctx, { p }) => p.account.verify(call(ctx, { accountId: ctx.input.accountId })),
  })
  .step('create-delivery', {
    run: (ctx, { p }) =>
      p.delivery.create(
        call(ctx, { accountId: ctx.input.accountId, pickup: ctx.input.pickup, dropoff: ctx.input.dropoff }),
      ),
    compensate: (ctx, { p }) => p.delivery.cancel(call(ctx, { deliveryId: ctx.output?.deliveryId ?? null }, true)),
  })
  .step('register-package', {
    run: (ctx, { p }) =>
      p.package.register(call(ctx, { deliveryId: ctx.steps.createDelivery.deliveryId, weightKg: ctx.input.weightKg })),
    compensate: (ctx, { p }) => p.package.delete(call(ctx, { packageId: ctx.output?.packageId ?? null }, true)),
  })
  .parallel('transport', (g) =>
    g
      .step('schedule-drone', {
        when: (c) => c.input.weightKg <= 20,
        whenLabel: 'weightKg <= 20',
        run: (ctx, { p }) =>
          p.drone.schedule(
            flight(ctx, {
              deliveryId: ctx.steps.createDelivery.deliveryId,
              pickup: ctx.input.pickup,
              dropoff: ctx.input.dropoff,
            }),
          ),
        compensate: (ctx, { p }) => p.drone.release(call(ctx, { droneId: ctx.output?.droneId ?? null }, true)),
      })
      .step('book-ground-transport', {
        when: (c) => c.input.weightKg > 20,
        whenLabel: 'weightKg > 20',
        description: 'A third-party carrier for parcels too heavy to fly.',
        run: (ctx, { p }) =>
          p.transport.book(
            flight(ctx, { deliveryId: ctx.steps.createDelivery.deliveryId, weightKg: ctx.input.weightKg }),
          ),
        compensate: (ctx, { p }) => p.transport.cancel(call(ctx, { bookingId: ctx.output?.bookingId ?? null }, true)),
      }),
  )
  .waitFor('await-delivery', {
    signal: DELIVERY_COMPLETED,
    timeout: '5s',
    description:
      'Waits for the drone (or the carrier) to report DeliveryCompleted; without it by the deadline, everything ' +
      'before is undone and nobody is charged.',
  })
  .step('charge-account', {
    description: 'The point of no return: once charged, the delivery goes ahead.',
    pivot: true,
    run: (ctx, { p }) =>
      p.account.charge(call(ctx, { accountId: ctx.input.accountId, amountCents: ctx.input.priceCents })),
    compensate: (ctx, { p }) =>
      p.account.refund(
        call(
          ctx,
          {
            accountId: ctx.input.accountId,
            chargeId: ctx.output?.chargeId ?? null,
            amountCents: ctx.input.priceCents,
          },
          true,
        ),
      ),
  })
  .step('notify-customer', {
    description: 'Retried until it succeeds; never compensated (it comes after the pivot).',
    retry: { maximumAttempts: 0, initialInterval: '100ms', maximumInterval: '1s' },
    run: (ctx, { p }) =>
      p.notification.notify(
        call(ctx, {
          accountId: ctx.input.accountId,
          deliveryId: ctx.steps.createDelivery.deliveryId,
          contactPhone: ctx.input.contactPhone,
          message: ctx.steps.scheduleDrone
            ? `Your parcel flies with drone ${ctx.steps.scheduleDrone.droneId}`
            : 'Your parcel travels by ground transport',
        }),
      ),
  })
  .build();
