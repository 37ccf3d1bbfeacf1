import 'reflect-metadata';
import type { INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { SagaClient } from '@saga-engine/client';
import { createTestDatabase, type TestDatabase } from '@saga-engine/testing';
import { DataSource } from 'typeorm';
import { AppModule } from '../src/app.module';

/** Example keys only: generate real ones (openssl rand -base64 32). */
const KEY = 'example-admin-key-0123456789abcdefghijkl';

/**
 * The whole service against a real PostgreSQL (DATABASE_URL when set, else an embedded one): its HTTP API, its
 * tables, and the saga engine running the order saga's steps in this same process.
 */
describe('order service (e2e)', () => {
  let db: TestDatabase;
  let app: INestApplication;
  let url: string;
  let sagas: SagaClient;
  let tables: DataSource;

  beforeAll(async () => {
    db = await createTestDatabase();
    process.env.DATABASE_URL = db.url;
    process.env.SAGA_API_KEYS = `admin:${KEY}:admin`;
    app = await NestFactory.create(AppModule, { bodyParser: false, logger: ['error', 'warn'] });
    app.enableShutdownHooks();
    await app.listen(0, '127.0.0.1');
    url = (await app.getUrl()).replace('[::1]', '127.0.0.1');
    sagas = app.get(SagaClient);
    tables = app.get(DataSource);
  });

  afterAll(async () => {
    await app?.close();
    await db?.drop();
  });

  const place = async (order: Record<string, unknown>) => {
    const res = await fetch(`${url}/orders`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(order),
    });
    expect(res.status).toBe(201);
    return ((await res.json()) as { sagaId: string }).sagaId;
  };
  const pickedUp = async (sagaId: string) => {
    const res = await fetch(`${url}/orders/${sagaId}/picked-up`, { method: 'POST' });
    expect(res.status).toBe(202);
  };
  const order = (orderId: string, extra: Record<string, unknown> = {}) => ({
    orderId,
    customerId: 'cus_42',
    lines: [{ sku: 'BOOK-1', quantity: 2 }],
    totalCents: 4_200,
    country: 'DE',
    ...extra,
  });

  it('completes an order: stock reserved, card charged, parcel picked up, shipped', async () => {
    const sagaId = await place(order('o-1'));
    await pickedUp(sagaId);
    const done = await sagas.waitFor(sagaId, { timeout: '30s' });
    expect(done.status).toBe('COMPLETED');
    const res = await fetch(`${url}/orders/${sagaId}`);
    expect(await res.json()).toMatchObject({ status: 'COMPLETED', tracking: 'TRK-O-1' });
    expect(await tables.query(`SELECT refunded FROM order_payment WHERE "orderId" = 'o-1'`)).toEqual([
      { refunded: false },
    ]);
    expect(await tables.query(`SELECT released FROM order_stock_reservation WHERE "orderId" = 'o-1'`)).toEqual([
      { released: false },
    ]);
  });

  it('places an order once however often the request is repeated', async () => {
    const first = await place(order('o-2'));
    const again = await place(order('o-2'));
    expect(again).toBe(first);
    await pickedUp(first);
    await sagas.waitFor(first, { timeout: '30s' });
  });

  it('compensates an order that cannot ship: the card refunded, the stock released, in that order', async () => {
    const sagaId = await place(order('o-3', { country: 'AQ' }));
    await pickedUp(sagaId);
    const done = await sagas.waitFor(sagaId, { timeout: '30s' });
    expect(done.status).toBe('COMPENSATED');
    expect(done.error).toMatchObject({ step: 'ship', code: 'NOT_SHIPPABLE' });
    expect(done.steps.map((s) => [s.name, s.status])).toEqual([
      ['reserve-stock', 'COMPENSATED'],
      ['charge-card', 'COMPENSATED'],
      ['await-pickup', 'SUCCEEDED'],
      ['ship', 'FAILED'],
    ]);
    expect(await tables.query(`SELECT refunded FROM order_payment WHERE "orderId" = 'o-3'`)).toEqual([
      { refunded: true },
    ]);
    expect(await tables.query(`SELECT released FROM order_stock_reservation WHERE "orderId" = 'o-3'`)).toEqual([
      { released: true },
    ]);
    expect(await tables.query(`SELECT 1 FROM order_shipment WHERE "orderId" = 'o-3'`)).toEqual([]);
  });

  it('releases the stock of an order whose card is declined, without waiting for a pickup', async () => {
    const sagaId = await place(order('o-4', { customerId: 'cus_declined' }));
    const done = await sagas.waitFor(sagaId, { timeout: '30s' });
    expect(done.status).toBe('COMPENSATED');
    expect(done.error).toMatchObject({ step: 'charge-card', code: 'CARD_DECLINED' });
    expect(await tables.query(`SELECT released FROM order_stock_reservation WHERE "orderId" = 'o-4'`)).toEqual([
      { released: true },
    ]);
  });

  it('serves the saga API and dashboard under /sagas, with a key', async () => {
    expect((await fetch(`${url}/sagas/health`)).status).toBe(200);
    expect((await fetch(`${url}/sagas/v1/sagas`)).status).toBe(401);
    const types = await fetch(`${url}/sagas/v1/saga-types`, {
      headers: { authorization: `Bearer ${KEY}` },
    });
    expect(await types.json()).toEqual([expect.objectContaining({ name: 'order', agents: 1 })]);
    expect((await fetch(`${url}/sagas/dashboard/`)).status).toBe(200);
  });
});
