import { IsString, Matches } from 'class-validator';
import { defineSaga } from '@saga-engine/sdk';
import { CarrierService } from './carrier.service';

export class ShipmentInput {
  @IsString()
  @Matches(/^[a-z0-9-]{1,64}$/, { message: 'shipmentId must be 1-64 lowercase letters, digits or -' })
  shipmentId!: string;

  @IsString()
  @Matches(/^[A-Z]{2}$/, { message: 'country must be a two-letter code' })
  country!: string;
}

/** A shipment: book a carrier, print the label. Its steps run only where this service runs (its agent). */
export const shipmentSaga = defineSaga('shipment', {
  version: 1,
  input: ShipmentInput,
  deps: { carrier: CarrierService },
  defaults: { retry: { maximumAttempts: 5, initialInterval: '200ms' }, timeout: '10s' },
})
  .step('book-carrier', {
    run: ({ key, input }, { carrier }) => carrier.book(key, input.shipmentId, input.country),
    compensate: ({ key }, { carrier }) => carrier.cancel(key),
  })
  .step('print-label', {
    run: ({ key, steps }, { carrier }) => carrier.label(key, steps.bookCarrier.bookingId),
  })
  .build();
