import { type INestApplication, Injectable, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { Client } from 'pg';
import { SagaClient } from '@saga-engine/client';
import { SagaModule } from '@saga-engine/nestjs';
import { NonRetryableError, defineSaga } from '@saga-engine/sdk';
import { SagaTestEnvironment, createTestDatabase, type TestDatabase } from '@saga-engine/testing';

/**
 * `@saga-engine/testing`'s integration mode: `createTestDatabase()` gives a test file a fresh PostgreSQL database,
 * and the test boots its own Nest app on it with the real `SagaModule` (agent, API and supervisor, step jobs on
 * BullMQ's PostgreSQL backend: nothing else to run). The saga's step reaches an app provider through `deps`; the
 * test starts it with the injected `SagaClient` and waits with `client.waitFor`. The same saga in
 * `SagaTestEnvironment` writes the same history as the real engine does.
 */

@Injectable()
class Inventory {
  readonly calls: string[] = [];

  async reserve(sku: string, key: string): Promise<{ reservationId: string }> {
    this.calls.push(`reserve ${sku} ${key}`);
    return { reservationId: `r-${sku}` };
  }

  async release(reservationId: string | undefined, key: string): Promise<void> {
    this.calls.push(`release ${reservationId} ${key}`);
  }
}

@Module({ providers: [Inventory], exports: [Inventory] })
class InventoryModule {}

const restockSaga = defineSaga<{ sku: string }, { inventory: typeof Inventory }>('restock', {
  version: 1,
  deps: { inventory: Inventory },
})
  .step('reserve', {
    run: (ctx, { inventory }) => inventory.reserve(ctx.input.sku, ctx.key),
    compensate: (ctx, { inventory }) => inventory.release(ctx.output?.reservationId, ctx.undoKey),
  })
  .step('confirm', {
    run: (ctx) => {
      if (ctx.input.sku === 'recalled') throw new NonRetryableError('the product was recalled', { code: 'RECALLED' });
      return { confirmed: ctx.steps.reserve.reservationId };
    },
  })
  .build();

const API_KEY = 'testing-integration-key-0123456789abcdef';

describe('@saga-engine/testing: createTestDatabase with a real SagaModule (e2e)', () => {
  let db: TestDatabase;
  let app: INestApplication;
  let client: SagaClient;
  let inventory: Inventory;

  beforeAll(async () => {
    db = await createTestDatabase();

    @Module({
      imports: [
        InventoryModule,
        SagaModule.forRoot({
          databaseUrl: db.url,
          databasePoolSize: 5,
          api: { keys: [{ name: 'integration', key: API_KEY, role: 'admin' }], dashboard: false },
          roles: ['agent', 'api', 'supervisor'],
          sagas: [restockSaga],
        }),
      ],
    })
    class AppModule {}

    app = await NestFactory.create(AppModule, { bodyParser: false, logger: ['error'] });
    await app.init();
    client = app.get(SagaClient);
    inventory = app.get(Inventory);
  });

  afterAll(async () => {
    await app?.close();
    await db?.drop();
  });

  /** The history the engine committed, as `type step#attempt`. */
  async function committedHistory(sagaId: string): Promise<string[]> {
    const pg = new Client({ connectionString: db.url });
    await pg.connect();
    try {
      const { rows } = await pg.query<{ type: string; step: string | null; attempt: number | null }>(
        'SELECT type, step, attempt FROM saga_event WHERE saga_id = $1 ORDER BY seq',
        [sagaId],
      );
      return rows.map(
        (r) => `${r.type}${r.step === null ? '' : ` ${r.step}`}${r.attempt === null ? '' : `#${r.attempt}`}`,
      );
    } finally {
      await pg.end();
    }
  }

  /** The same saga in SagaTestEnvironment, with the same kind of provider. */
  async function inTheKit(sku: string): Promise<string[]> {
    const result = await new SagaTestEnvironment()
      .start(restockSaga, { sku }, { deps: { inventory: new Inventory() } })
      .result();
    return result.history.map(
      (h) => `${h.type}${h.step === null ? '' : ` ${h.step}`}${h.attempt === null ? '' : `#${h.attempt}`}`,
    );
  }

  it('gives a fresh database of its own on the test server', () => {
    expect(db.server).toBe('given');
    expect(db.name).toMatch(/^saga_test_[a-z0-9]+_[0-9a-f]{8}$/);
    expect(new URL(db.url).pathname).toBe(`/${db.name}`);
  });

  it("runs a saga through the app's SagaModule: its step calls the app's provider through deps", async () => {
    const started = await client.start(restockSaga, { sku: 'sku-1' });
    const done = await client.waitFor(started, { timeout: '30s' });

    expect(done.status).toBe('COMPLETED');
    expect(done.output).toEqual({ reserve: { reservationId: 'r-sku-1' }, confirm: { confirmed: 'r-sku-1' } });
    expect(inventory.calls).toContain(`reserve sku-1 ${started.id}:reserve`);
    expect(await committedHistory(started.id)).toEqual(await inTheKit('sku-1'));
  });

  it('compensates on the real engine as in the kit, with the same idempotency keys', async () => {
    const started = await client.start(restockSaga, { sku: 'recalled' });
    const done = await client.waitFor(started, { timeout: '30s' });

    expect(done.status).toBe('COMPENSATED');
    expect(done.error).toMatchObject({ step: 'confirm', code: 'RECALLED', transient: false });
    expect(inventory.calls).toEqual(
      expect.arrayContaining([
        `reserve recalled ${started.id}:reserve`,
        `release r-recalled ${started.id}:reserve:undo`,
      ]),
    );
    expect(await committedHistory(started.id)).toEqual(await inTheKit('recalled'));
  });
});

describe('@saga-engine/testing: createTestDatabase without a database URL (e2e)', () => {
  const saved = { TEST_DATABASE_URL: process.env.TEST_DATABASE_URL, DATABASE_URL: process.env.DATABASE_URL };
  beforeAll(() => {
    delete process.env.TEST_DATABASE_URL;
    delete process.env.DATABASE_URL;
  });
  afterAll(() => {
    for (const [name, value] of Object.entries(saved)) if (value !== undefined) process.env[name] = value;
  });

  async function currentDatabase(url: string): Promise<string> {
    const pg = new Client({ connectionString: url, connectionTimeoutMillis: 5_000 });
    await pg.connect();
    try {
      const { rows } = await pg.query<{ db: string }>('SELECT current_database() AS db');
      return rows[0].db;
    } finally {
      await pg.end();
    }
  }

  it('starts an embedded PostgreSQL once, shares it, and stops it when its last database is dropped', async () => {
    const [first, second] = await Promise.all([createTestDatabase(), createTestDatabase({ prefix: 'other' })]);
    try {
      expect([first.server, second.server]).toEqual(['embedded', 'embedded']);
      expect(new URL(first.url).port).toBe(new URL(second.url).port);
      expect(await currentDatabase(first.url)).toBe(first.name);
      expect(await currentDatabase(second.url)).toBe(second.name);
      expect(second.name).toMatch(/^other_/);

      await first.drop();
      await first.drop(); // idempotent
      expect(await currentDatabase(second.url)).toBe(second.name);
    } finally {
      await first.drop();
      await second.drop();
    }
    await expect(currentDatabase(second.url)).rejects.toThrow(/ECONNREFUSED/);
  });
});
