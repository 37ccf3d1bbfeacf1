import { Column, CreateDateColumn, Entity, PrimaryColumn } from 'typeorm';

/**
 * The service's own tables (order_*): what each step did, keyed by the step's idempotency key, so that a
 * step run twice (the engine runs steps at least once) applies its effect once.
 */
@Entity({ name: 'order_stock_reservation' })
export class StockReservation {
  /** The step's idempotency key (`ctx.key`). */
  @PrimaryColumn() key!: string;
  @Column() orderId!: string;
  @Column('jsonb') lines!: { sku: string; quantity: number }[];
  @Column({ default: false }) released!: boolean;
  @CreateDateColumn() at!: Date;
}

@Entity({ name: 'order_payment' })
export class Payment {
  @PrimaryColumn() key!: string;
  @Column() orderId!: string;
  @Column() customerId!: string;
  @Column('int') amountCents!: number;
  @Column({ default: false }) refunded!: boolean;
  @CreateDateColumn() at!: Date;
}

@Entity({ name: 'order_shipment' })
export class Shipment {
  @PrimaryColumn() key!: string;
  @Column() orderId!: string;
  @Column() trackingNumber!: string;
  @CreateDateColumn() at!: Date;
}

export const ORDER_ENTITIES = [StockReservation, Payment, Shipment];
