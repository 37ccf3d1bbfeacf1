import { Injectable } from '@nestjs/common';
import { Pool } from 'pg';

/**
 * The shipping service's own participant: it records what it did in its own table (schema `shipping`), once per
 * idempotency key, with the process that did it (so that a test can tell which process ran which step).
 */
@Injectable()
export class CarrierService {
  private readonly pool = new Pool({ connectionString: process.env.DATABASE_URL, max: 2 });
  private ready: Promise<unknown> | null = null;

  private async db(): Promise<Pool> {
    this.ready ??= this.pool.query(`
      CREATE SCHEMA IF NOT EXISTS shipping;
      CREATE TABLE IF NOT EXISTS shipping.effect (key text PRIMARY KEY, what text NOT NULL, pid int NOT NULL)`);
    await this.ready;
    return this.pool;
  }

  private async apply(key: string, what: string): Promise<void> {
    await (
      await this.db()
    ).query(`INSERT INTO shipping.effect (key, what, pid) VALUES ($1, $2, $3) ON CONFLICT (key) DO NOTHING`, [
      key,
      what,
      process.pid,
    ]);
  }

  async book(key: string, shipmentId: string, country: string) {
    await this.apply(key, `book ${shipmentId} to ${country}`);
    return { bookingId: `bk-${shipmentId}` };
  }

  async cancel(key: string) {
    await this.apply(`${key}:undo`, 'cancel');
  }

  async label(key: string, bookingId: string) {
    await this.apply(key, `label ${bookingId}`);
    return { label: `LBL-${bookingId}` };
  }

  async onModuleDestroy(): Promise<void> {
    await this.pool.end();
  }
}
