import { Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { NonRetryableError } from '@saga-engine/sdk';
import { Repository } from 'typeorm';
import { Payment, Shipment, StockReservation } from './order.entities';

/**
 * The order service's own business logic, as any Nest service would have it: injected repositories, plain methods.
 * Each method takes the saga step's idempotency key and applies its effect at most once per key.
 */
@Injectable()
export class InventoryService {
  constructor(@InjectRepository(StockReservation) private readonly reservations: Repository<StockReservation>) {}

  async reserve(key: string, orderId: string, lines: { sku: string; quantity: number }[]) {
    if (lines.some((l) => l.sku === 'OUT-OF-STOCK')) {
      throw new NonRetryableError('not enough stock', { code: 'OUT_OF_STOCK' });
    }
    await this.reservations.upsert(
      { key, orderId, lines },
      { conflictPaths: ['key'], skipUpdateIfNoValuesChanged: true },
    );
    return { reservationKey: key };
  }

  async release(reservationKey: string) {
    await this.reservations.update({ key: reservationKey }, { released: true });
  }
}

@Injectable()
export class PaymentsService {
  constructor(@InjectRepository(Payment) private readonly payments: Repository<Payment>) {}

  async charge(key: string, orderId: string, customerId: string, amountCents: number) {
    if (customerId === 'cus_declined') throw new NonRetryableError('card declined', { code: 'CARD_DECLINED' });
    await this.payments.upsert(
      { key, orderId, customerId, amountCents },
      { conflictPaths: ['key'], skipUpdateIfNoValuesChanged: true },
    );
    return { paymentKey: key, amountCents };
  }

  async refund(paymentKey: string) {
    await this.payments.update({ key: paymentKey }, { refunded: true });
  }
}

@Injectable()
export class ShippingService {
  constructor(@InjectRepository(Shipment) private readonly shipments: Repository<Shipment>) {}

  async ship(key: string, orderId: string, country: string) {
    if (country === 'AQ') throw new NonRetryableError('we do not ship to Antarctica', { code: 'NOT_SHIPPABLE' });
    const trackingNumber = `TRK-${orderId.toUpperCase()}`;
    await this.shipments.upsert(
      { key, orderId, trackingNumber },
      { conflictPaths: ['key'], skipUpdateIfNoValuesChanged: true },
    );
    return { trackingNumber };
  }
}
