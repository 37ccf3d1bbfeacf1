import { execFile } from 'node:child_process';
import { join, resolve } from 'node:path';
import request from 'supertest';
import { defineSaga } from '@saga-engine/sdk';
import { SagaApiError, SagaClient } from '@saga-engine/client';
import { KEYS, TEST_API_KEYS, startTestEngine, type TestEngine } from './support/test-engine';
import { waitFor } from './support/wait-for';

/**
 * Issue 19 item 2: business keys and search attributes. A saga type declares its business key (an input field) and
 * typed attributes set from the input at start and from a step's output when it succeeds; the list API filters on
 * them (equality, ranges, keyset pages), refuses bad filters naming the parameter, and a business key is unique per
 * type among the sagas that are not over.
 */
interface OrderInput {
  orderNumber?: unknown;
  tier?: unknown;
  amountCents?: unknown;
  express?: unknown;
  placedAt?: unknown;
}

const order = defineSaga<OrderInput>('search-order', {
  version: 1,
  businessKey: 'orderNumber',
  searchAttributes: {
    tier: { type: 'keyword', from: 'input.tier' },
    amount: { type: 'number', from: 'input.amountCents' },
    express: { type: 'boolean', from: 'input.express' },
    placedAt: { type: 'datetime', from: 'input.placedAt' },
    trackingId: { type: 'keyword', from: 'steps.ship.trackingId' },
    weightKg: { type: 'number', from: 'steps.ship.weightKg' },
  },
})
  .step('ship', {
    run: (ctx) => ({
      trackingId: `TRK-${String(ctx.input.orderNumber)}`,
      weightKg: Number(ctx.input.amountCents) / 100,
    }),
  })
  .waitFor('approve', { signal: 'Approve', timeout: '1h' })
  .build();

// Another type with the same kind of key: keys are unique per type, and a scoped API key sees only its type.
const refund = defineSaga<{ orderNumber: string }>('search-refund', { version: 1, businessKey: 'orderNumber' })
  .waitFor('approve', { signal: 'Approve', timeout: '1h' })
  .build();

// A courier booking that keeps failing (retried every hour): an operator skips it with the booking made by hand.
const booking = defineSaga<{ orderNumber: string }>('search-booking', {
  version: 1,
  businessKey: 'orderNumber',
  searchAttributes: { courier: { type: 'keyword', from: 'steps.bookCourier.courier' } },
})
  .step('book-courier', {
    run: (): { courier: string } => {
      throw new Error('courier API down');
    },
    retry: { maximumAttempts: 0, initialInterval: '1h', jitter: 0 },
  })
  .build();

const SCOPED_VIEWER = 'search-refund-viewer-key-0123456789abcdef';
const TIERS = ['gold', 'silver', 'bronze'];
const SEEDED = 300;

function seeded(n: number) {
  return {
    orderNumber: `ORD-${n}`,
    tier: TIERS[n % 3],
    amountCents: n * 10,
    express: n % 4 === 0,
    placedAt: new Date(Date.UTC(2026, 10, 1 + (n % 30), 12)).toISOString(),
  };
}

describe('business keys and search attributes (e2e)', () => {
  let engine: TestEngine;
  const ids = new Map<number, string>();

  beforeAll(async () => {
    engine = await startTestEngine({
      sagas: [order, refund, booking],
      env: { SAGA_API_KEYS: `${TEST_API_KEYS},refunds:${SCOPED_VIEWER}:viewer:search-refund` },
    });
    for (let from = 0; from < SEEDED; from += 25) {
      await Promise.all(
        Array.from({ length: Math.min(25, SEEDED - from) }, async (_, k) => {
          const n = from + k;
          const res = await engine
            .as('operator')
            .post('/v1/sagas')
            .send({ type: 'search-order', input: seeded(n) });
          expect(res.status).toBe(201);
          ids.set(n, res.body.id);
        }),
      );
    }
    // Every saga shipped: the step's output set its attributes in the commit of its success.
    await waitFor(
      async () => {
        const [row] = await engine.db.query<{ n: string }>(
          `SELECT count(*) AS n FROM saga_instance WHERE search_attributes ? 'trackingId'`,
        );
        return Number(row.n) === SEEDED || undefined;
      },
      { timeoutMs: 60_000, what: 'every seeded saga to ship' },
    );
  }, 120_000);
  afterAll(() => engine?.close());

  const list = (query: string, key: string = KEYS.viewer) =>
    request(engine.app.getHttpServer()).get(`/v1/sagas?${query}`).set('Authorization', `Bearer ${key}`);

  /** Every saga id of a filter, following the cursors with small pages. */
  async function all(query: string): Promise<string[]> {
    const found: string[] = [];
    let cursor: string | null = null;
    do {
      const res = await list(`${query}&limit=37${cursor ? `&cursor=${cursor}` : ''}`);
      expect(res.status).toBe(200);
      found.push(...res.body.items.map((i: { id: string }) => i.id));
      cursor = res.body.nextCursor;
    } while (cursor);
    expect(new Set(found).size).toBe(found.length);
    return found;
  }

  const expected = (pick: (n: number) => boolean) =>
    [...ids.entries()]
      .filter(([n]) => pick(n))
      .map(([, id]) => id)
      .sort();

  it('stores the business key and the attributes of the input at start, and of a step output when it succeeds', async () => {
    const saga = (await engine.as('viewer').get(`/v1/sagas/${ids.get(7)}`)).body;
    expect(saga.businessKey).toBe('ORD-7');
    expect(saga.attributes).toEqual({
      tier: 'silver',
      amount: 70,
      express: false,
      placedAt: '2026-11-08T12:00:00.000Z',
      trackingId: 'TRK-ORD-7',
      weightKg: 0.7,
    });
    const [row] = await engine.db.query<{ business_key: string; search_attributes: unknown }>(
      `SELECT business_key, search_attributes FROM saga_instance WHERE id = $1`,
      [ids.get(7)],
    );
    // Stored with the type, which the index is searched by and the API does not show.
    expect(row).toEqual({ business_key: 'ORD-7', search_attributes: { ...saga.attributes, $type: 'search-order' } });
    // The summary in a list carries them too.
    const page = await list('businessKey=ORD-7');
    expect(page.body.items).toEqual([expect.objectContaining({ id: ids.get(7), businessKey: 'ORD-7' })]);
    expect(page.body.items[0].attributes.tier).toBe('silver');
    // A datetime given with an offset is stored in UTC.
    const offset = await engine
      .as('operator')
      .post('/v1/sagas')
      .send({ type: 'search-order', input: { orderNumber: 'ORD-offset', placedAt: '2026-12-01T10:00:00+01:00' } });
    expect(offset.status).toBe(201);
    expect(offset.body.attributes.placedAt).toBe('2026-12-01T09:00:00.000Z');
    // Its step's output has no number where weightKg is read: the attribute is cleared, the saga goes on.
    const shipped = await waitFor(
      async () => {
        const view = (await engine.as('viewer').get(`/v1/sagas/${offset.body.id}`)).body;
        return view.attributes.trackingId ? view : undefined;
      },
      { timeoutMs: 10_000, what: 'the offset saga to ship' },
    );
    expect(shipped.attributes).toEqual({
      placedAt: '2026-12-01T09:00:00.000Z',
      trackingId: 'TRK-ORD-offset',
      weightKg: null,
    });
  });

  it('filters by business key, by attributes (equality and ranges), and pages with the keyset cursor', async () => {
    expect((await all('businessKey=ORD-123')).sort()).toEqual([ids.get(123)]);
    expect(await all('businessKey=ORD-nope')).toEqual([]);
    expect((await all('type=search-order&attr.tier=gold')).sort()).toEqual(expected((n) => n % 3 === 0));
    expect((await all('type=search-order&attr.tier=gold&attr.express=true')).sort()).toEqual(
      expected((n) => n % 3 === 0 && n % 4 === 0),
    );
    expect((await all('type=search-order&attr.amount=420')).sort()).toEqual([ids.get(42)]);
    expect((await all('type=search-order&attr.amount.gte=1000&attr.amount.lt=1500')).sort()).toEqual(
      expected((n) => n >= 100 && n < 150),
    );
    expect((await all('type=search-order&attr.weightKg.gt=25&attr.tier=bronze')).sort()).toEqual(
      expected((n) => n > 250 && n % 3 === 2),
    );
    expect((await all('type=search-order&attr.placedAt=2026-11-05T12:00:00Z')).sort()).toEqual(
      expected((n) => n % 30 === 4),
    );
    expect(
      (await all('type=search-order&attr.placedAt.gte=2026-11-29&attr.placedAt.lte=2026-11-30T23:59Z')).sort(),
    ).toEqual(expected((n) => n % 30 >= 28));
    // An attribute set by a step's output.
    expect((await all('type=search-order&attr.trackingId=TRK-ORD-299')).sort()).toEqual([ids.get(299)]);
    // With the other filters: status, and business key.
    expect((await all('type=search-order&status=RUNNING&attr.tier=silver&businessKey=ORD-4')).sort()).toEqual([
      ids.get(4),
    ]);
    expect(await all('type=search-order&status=COMPLETED&attr.tier=silver')).toEqual([]);
    // Newest first, as every list.
    const page = (await list('type=search-order&attr.tier=gold&limit=200')).body.items;
    const times = page.map((i: { createdAt: string }) => i.createdAt);
    expect([...times].sort().reverse()).toEqual(times);
  });

  it('refuses a bad filter with a 400 naming the parameter', async () => {
    const cases: [string, RegExp][] = [
      ['type=search-order&attr.colour=red', /attr\.colour: saga type search-order has no search attribute colour/],
      ['attr.tier=gold', /attr\.tier needs type/],
      ['type=search-order&attr.amount=lots', /attr\.amount must be a decimal number/],
      ['type=search-order&attr.express=yes', /attr\.express must be true or false/],
      ['type=search-order&attr.placedAt.gte=yesterday', /attr\.placedAt\.gte must be a date/],
      ['type=search-order&attr.tier.gt=a', /attr\.tier\.gt: tier is a keyword; only number and datetime/],
      ['type=search-order&attr.amount.between=1', /attr\.amount\.between: the operator must be gt, gte, lt or lte/],
      ['type=search-order&attr.tier=gold&attr.tier=silver', /attr\.tier must be given once/],
      ['type=search-order&attr.=x', /attr\. is not a filter/],
      [`businessKey=${'k'.repeat(201)}`, /businessKey must be at most 200 characters/],
      ['businessKey=a&businessKey=b', /businessKey must be given once/],
      ['colour=red', /property colour should not exist/],
    ];
    for (const [query, message] of cases) {
      const res = await list(query);
      expect({ query, status: res.status, code: res.body.code }).toEqual({ query, status: 400, code: 'INPUT_INVALID' });
      expect(res.body.message).toMatch(message);
    }
    // A start whose input has a value of the wrong type for an attribute or the key: refused, naming the field.
    const bad = await engine
      .as('operator')
      .post('/v1/sagas')
      .send({ type: 'search-order', input: { orderNumber: 'ORD-bad', amountCents: 'many' } });
    expect(bad.status).toBe(400);
    expect(bad.body.message).toContain('input.amountCents sets search attribute amount');
    const badKey = await engine
      .as('operator')
      .post('/v1/sagas')
      .send({ type: 'search-order', input: { orderNumber: { nested: true } } });
    expect(badKey.status).toBe(400);
    expect(badKey.body.message).toContain('input.orderNumber is the business key');
  });

  it('keeps a business key unique per type while its saga is not over', async () => {
    const holder = ids.get(1)!;
    const again = await engine
      .as('operator')
      .post('/v1/sagas')
      .send({ type: 'search-order', input: seeded(1) });
    expect(again.status).toBe(409);
    expect(again.body.code).toBe('BUSINESS_KEY_CONFLICT');
    expect(again.body.message).toContain(holder);
    // Nothing was written for the refused start.
    const [count] = await engine.db.query<{ n: string }>(
      `SELECT count(*) AS n FROM saga_instance WHERE business_key = 'ORD-1'`,
    );
    expect(Number(count.n)).toBe(1);

    // An idempotency key still answers its own saga: a replay is 200, not a key conflict.
    const first = await engine
      .as('operator')
      .post('/v1/sagas')
      .send({ type: 'search-order', input: { orderNumber: 'ORD-idem' }, idempotencyKey: 'search-idem-1' });
    expect(first.status).toBe(201);
    const replay = await engine
      .as('operator')
      .post('/v1/sagas')
      .send({ type: 'search-order', input: { orderNumber: 'ORD-idem' }, idempotencyKey: 'search-idem-1' });
    expect({ status: replay.status, id: replay.body.id }).toEqual({ status: 200, id: first.body.id });
    const otherKey = await engine
      .as('operator')
      .post('/v1/sagas')
      .send({ type: 'search-order', input: { orderNumber: 'ORD-idem' }, idempotencyKey: 'search-idem-2' });
    expect(otherKey.status).toBe(409);
    expect(otherKey.body.code).toBe('BUSINESS_KEY_CONFLICT');

    // Concurrent starts with one key: exactly one wins.
    const racing = await Promise.all(
      Array.from({ length: 8 }, () =>
        engine
          .as('operator')
          .post('/v1/sagas')
          .send({ type: 'search-order', input: { orderNumber: 'ORD-race' } }),
      ),
    );
    expect(racing.map((r) => r.status).sort()).toEqual([201, 409, 409, 409, 409, 409, 409, 409]);

    // Another type may use the same key.
    const refundStart = await engine
      .as('operator')
      .post('/v1/sagas')
      .send({ type: 'search-refund', input: { orderNumber: 'ORD-1' } });
    expect(refundStart.status).toBe(201);
    expect((await all('businessKey=ORD-1')).sort()).toEqual([holder, refundStart.body.id].sort());

    // Once the holder is over, the key is free again; both sagas stay findable by it.
    const signal = await engine.as('operator').post(`/v1/sagas/${holder}/signals/Approve`).send({});
    expect(signal.status).toBeLessThan(300);
    await engine.waitForStatus(holder, ['COMPLETED']);
    const reused = await engine
      .as('operator')
      .post('/v1/sagas')
      .send({ type: 'search-order', input: seeded(1) });
    expect(reused.status).toBe(201);
    expect((await all('type=search-order&businessKey=ORD-1')).sort()).toEqual([holder, reused.body.id].sort());
    expect((await all('type=search-order&businessKey=ORD-1&status=COMPLETED')).sort()).toEqual([holder]);
  });

  it("sets a step's attributes from the output of an operator's skip, in the skip's commit", async () => {
    const started = await engine
      .as('operator')
      .post('/v1/sagas')
      .send({ type: 'search-booking', input: { orderNumber: 'ORD-skip' } });
    expect(started.status).toBe(201);
    const id: string = started.body.id;
    await waitFor(
      async () => {
        const view = (await engine.as('viewer').get(`/v1/sagas/${id}`)).body;
        return view.steps[0].status === 'RETRYING' || undefined;
      },
      { timeoutMs: 10_000, what: 'the booking to wait for its retry' },
    );
    expect((await list('type=search-booking&attr.courier=by-hand')).body.items).toEqual([]);
    const skip = await engine
      .as('admin')
      .post(`/v1/sagas/${id}/steps/book-courier/skip`)
      .send({ reason: 'booked by phone', output: { courier: 'by-hand' } });
    expect(skip.status).toBeLessThan(300);
    expect(skip.body.attributes).toEqual({ courier: 'by-hand' });
    await engine.waitForStatus(id, ['COMPLETED']);
    expect((await all('type=search-booking&attr.courier=by-hand')).sort()).toEqual([id]);
  });

  it('applies the saga-type scoping of API keys to searches by business key', async () => {
    const scoped = await all('businessKey=ORD-1').then(() => list('businessKey=ORD-1', SCOPED_VIEWER));
    expect(scoped.status).toBe(200);
    expect(scoped.body.items.map((i: { type: string }) => i.type)).toEqual(['search-refund']);
    // Attributes of a type the key may not see: the same empty answer as for a type that has none.
    const hidden = await list('type=search-order&attr.tier=gold', SCOPED_VIEWER);
    expect(hidden.status).toBe(200);
    expect(hidden.body.items).toEqual([]);
  });

  it('filters through the typed client (business key, equality, ranges, listAll)', async () => {
    const client = new SagaClient({ url: engine.url, apiKey: KEYS.viewer });
    const byKey = await client.list({ businessKey: 'ORD-42' });
    expect(byKey.items.map((i) => i.id)).toEqual([ids.get(42)]);
    expect(byKey.items[0].attributes?.tier).toBe('gold');
    const found: string[] = [];
    for await (const saga of client.listAll({
      type: 'search-order',
      limit: 20,
      attributes: {
        tier: 'bronze',
        amount: { gte: 500, lt: 1100 },
        placedAt: { lt: new Date('2026-11-20T00:00:00Z') },
      },
    })) {
      found.push(saga.id);
    }
    expect(found.sort()).toEqual(expected((n) => n % 3 === 2 && n >= 50 && n < 110 && n % 30 < 19));
    await expect(client.list({ type: 'search-order', attributes: { colour: 'red' } })).rejects.toThrow(SagaApiError);
    await expect(client.list({ type: 'search-order', attributes: { colour: 'red' } })).rejects.toThrow(/attr\.colour/);
  });

  it('filters in the CLI: saga list --business-key, --attr (the built bin, as a script runs it)', async () => {
    const bin = join(resolve(__dirname, '..'), 'libs', 'cli', 'dist', 'main.js');
    const saga = (args: string[]) =>
      new Promise<{ code: number; stdout: string; stderr: string }>((done) => {
        execFile(
          process.execPath,
          [bin, ...args],
          { env: { PATH: process.env.PATH ?? '', SAGA_URL: engine.url, SAGA_API_KEY: KEYS.viewer }, timeout: 30_000 },
          (error, stdout, stderr) => done({ code: error ? Number(error.code ?? -1) : 0, stdout, stderr }),
        );
      });
    const byKey = await saga(['list', '--business-key', 'ORD-77']);
    expect(byKey.code).toBe(0);
    expect(byKey.stdout).toContain(ids.get(77));
    expect(byKey.stdout).toMatch(/KEY\s/);
    expect(byKey.stdout.trim().split('\n')).toHaveLength(2);
    const byAttr = await saga([
      'list',
      '--type',
      'search-order',
      '--attr',
      'tier=silver',
      '--attr',
      'amount>=2000',
      '--attr',
      'amount<2300',
      '--all',
      '--json',
    ]);
    expect(byAttr.code).toBe(0);
    expect(
      JSON.parse(byAttr.stdout)
        .items.map((i: { id: string }) => i.id)
        .sort(),
    ).toEqual(expected((n) => n % 3 === 1 && n >= 200 && n < 230));
    const unknown = await saga(['list', '--type', 'search-order', '--attr', 'colour=red']);
    expect(unknown.code).not.toBe(0);
    expect(unknown.stderr).toContain('attr.colour: saga type search-order has no search attribute colour');
    const got = await saga(['get', ids.get(77)!]);
    expect(got.stdout).toMatch(/key\s+ORD-77/);
    expect(got.stdout).toMatch(/attrs\s+tier=bronze amount=770/);
  });

  it('lists the declared key and attributes in GET /v1/saga-types/{type}', async () => {
    const res = await engine.as('viewer').get('/v1/saga-types/search-order');
    expect(res.status).toBe(200);
    expect(res.body.businessKey).toBe('orderNumber');
    expect(res.body.searchAttributes).toEqual([
      { name: 'tier', type: 'keyword', step: null, path: 'tier' },
      { name: 'amount', type: 'number', step: null, path: 'amountCents' },
      { name: 'express', type: 'boolean', step: null, path: 'express' },
      { name: 'placedAt', type: 'datetime', step: null, path: 'placedAt' },
      { name: 'trackingId', type: 'keyword', step: 'ship', path: 'trackingId' },
      { name: 'weightKg', type: 'number', step: 'ship', path: 'weightKg' },
    ]);
  });
});
