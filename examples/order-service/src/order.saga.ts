import { defineSaga } from '@saga-engine/sdk';
import { OrderInput } from './order.input';
import { InventoryService, PaymentsService, ShippingService } from './services';

/** The warehouse tells the saga a parcel was picked up: `POST /orders/:id/picked-up`. */
export const PARCEL_PICKED_UP = 'ParcelPickedUp';

/**
 * An order: reserve the stock, charge the card, wait for the warehouse to pick the parcel, ship it. Each step calls
 * one of this service's own providers, which the engine injects (`deps`); the saga file itself imports only the
 * SDK, its input class and the providers' classes (as tokens and types).
 *
 * Anything that fails for good before the shipment is undone in reverse order: the card refunded, the stock
 * released. The charge is retried for up to a day with a growing backoff (a payment provider may be down for hours),
 * and the warehouse has two days to pick the parcel.
 */
export const orderSaga = defineSaga('order', {
  version: 1,
  input: OrderInput,
  description: 'Reserve stock, charge the card, wait for pickup, ship.',
  deps: { inventory: InventoryService, payments: PaymentsService, shipping: ShippingService },
  defaults: { retry: { maximumAttempts: 5, initialInterval: '200ms', maximumInterval: '5s' }, timeout: '10s' },
})
  .step('reserve-stock', {
    run: ({ key, input }, { inventory }) => inventory.reserve(key, input.orderId, input.lines),
    compensate: ({ key }, { inventory }) => inventory.release(key),
  })
  .step('charge-card', {
    retry: { maximumAttempts: 12, initialInterval: '10m', backoffCoefficient: 2, maximumInterval: '4h' },
    run: ({ key, input }, { payments }) => payments.charge(key, input.orderId, input.customerId, input.totalCents),
    compensate: ({ key }, { payments }) => payments.refund(key),
  })
  .waitFor<'await-pickup', { by: string }>('await-pickup', { signal: PARCEL_PICKED_UP, timeout: '2d' })
  .step('ship', {
    pivot: true,
    run: ({ key, input }, { shipping }) => shipping.ship(key, input.orderId, input.country),
  })
  .build();
