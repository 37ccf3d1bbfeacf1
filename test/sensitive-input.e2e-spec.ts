import 'reflect-metadata';
import { context, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { Type } from 'class-transformer';
import { IsBoolean, IsInt, IsObject, IsOptional, IsString, ValidateNested } from 'class-validator';
import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { Redis } from 'ioredis';
import type { Response } from 'supertest';
import { NonRetryableError, RetryableError, defineSaga } from '@saga-engine/sdk';
import { requestHash } from '../libs/nestjs/src/scheduler/request-hash';
import { startTestEngine, type TestEngine } from './support/test-engine';
import { droneInput } from './support/drone-input';
import { TEST_REDIS_URL } from './support/urls';

/**
 * Issue 6, "a sentinel secret that never appears in plain text in PostgreSQL, Redis, logs or any API response":
 * sagas whose sensitive fields hold unique sentinel strings run to COMPLETED and to COMPENSATED (a step that echoes
 * the secret into its output and its error message, too); then every table of every schema of the test database,
 * every Redis key under the test prefix (during the run and after), every log line, every span attribute and every
 * API response body of the test is searched for the sentinels. And the step did get the plain values.
 */
class PaymentInput {
  @IsString()
  cardNumber!: string;

  @IsString()
  holder!: string;
}

class CustomerInput {
  @IsString()
  email!: string;
}

class CheckoutInput {
  @IsInt()
  amountCents!: number;

  @IsObject()
  @ValidateNested()
  @Type(() => PaymentInput)
  payment!: PaymentInput;

  @IsObject()
  @ValidateNested()
  @Type(() => CustomerInput)
  customer!: CustomerInput;

  @IsOptional()
  @IsBoolean()
  decline?: boolean;
}

/** What the steps received, in plain text (the positive half of the test). */
const received: { step: string; card: string; email: string }[] = [];
let releaseReserve: () => void = () => undefined;
let reserveGate: Promise<void> = Promise.resolve();
// Set for the happy saga: its first attempt asks for a retry, so that the second runs as a BullMQ job (the agent
// runs an attempt that is due at once in-process, with no job; a delayed retry always goes through the queue).
let retryFirstReserve = false;

const checkout = defineSaga('sentinel-checkout', {
  version: 1,
  input: CheckoutInput,
  sensitive: ['payment.cardNumber', 'customer.email'],
})
  .step('reserve', {
    run: async (ctx) => {
      if (retryFirstReserve && ctx.attempt === 1) throw new RetryableError('try again shortly', { retryAfter: '50ms' });
      received.push({ step: 'reserve', card: ctx.input.payment.cardNumber, email: ctx.input.customer.email });
      await reserveGate;
      // A careless step echoes the secret into its output: the engine must not store it.
      return { note: `reserved for card ${ctx.input.payment.cardNumber}`, holder: ctx.input.payment.holder };
    },
    compensate: (ctx) => {
      received.push({ step: 'undo reserve', card: ctx.input.payment.cardNumber, email: ctx.input.customer.email });
    },
  })
  .step('charge', {
    run: (ctx) => {
      received.push({ step: 'charge', card: ctx.input.payment.cardNumber, email: ctx.input.customer.email });
      if (ctx.input.decline) {
        // ... and into an error message.
        throw new NonRetryableError(`card ${ctx.input.payment.cardNumber} of ${ctx.input.customer.email} declined`);
      }
      return { charged: ctx.input.amountCents };
    },
  })
  .build();

// A fan-out whose items echo the secret (stored scrubbed), then the checkout as a child (its input sealed with the
// child's own sensitive paths and id).
const batch = defineSaga('sentinel-batch', {
  version: 1,
  input: CheckoutInput,
  sensitive: ['payment.cardNumber', 'customer.email'],
})
  .forEach('split', {
    items: (ctx) => [1, 2, 3].map((n) => ({ n, note: `part ${n} of card ${ctx.input.payment.cardNumber}` })),
    run: (ctx) => {
      received.push({
        step: `split ${ctx.index}`,
        card: ctx.input.payment.cardNumber,
        email: ctx.input.customer.email,
      });
      return { n: ctx.item.n };
    },
  })
  .child('pay', {
    saga: checkout,
    input: (ctx) => ({ amountCents: 300, payment: ctx.input.payment, customer: ctx.input.customer }),
  })
  .build();

const hex = (n: number) => randomBytes(n).toString('hex');
const CARD = `SNTLCARD${hex(8)}`;
const EMAIL = `sntl-${hex(6)}@example.com`;
const CARD_2 = `SNTLCARD${hex(8)}`;
const PHONE = `+4479${String(Math.floor(Math.random() * 1e9)).padStart(9, '0')}`;
const SENTINELS = [CARD, EMAIL, CARD_2, PHONE];

const checkoutInput = (card: string, extra: Record<string, unknown> = {}) => ({
  amountCents: 1200,
  payment: { cardNumber: card, holder: 'Ada Lovelace' },
  customer: { email: EMAIL },
  ...extra,
});

describe('sensitive input fields: a sentinel secret never stored, logged or answered in plain text (e2e)', () => {
  const logLines: string[] = [];
  const logs = new Writable({
    write(chunk: Buffer, _enc, done) {
      logLines.push(chunk.toString());
      done();
    },
  });
  const responses: { what: string; body: string }[] = [];
  const redisSnapshots: string[] = [];
  let happyId = '';
  const exporter = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
  let engine: TestEngine;

  const keep = (what: string, res: Response): Response => {
    responses.push({ what, body: res.text ?? JSON.stringify(res.body) });
    return res;
  };

  beforeAll(async () => {
    context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
    trace.setGlobalTracerProvider(provider);
    engine = await startTestEngine({
      demo: true,
      sagas: [checkout, batch],
      queue: 'redis',
      logs,
      env: { LOG_LEVEL: 'verbose', SUPERVISOR_INTERVAL_MS: '200' },
    });
  });
  afterAll(async () => {
    await engine?.close();
    await provider.shutdown();
    trace.disable();
    context.disable();
  });

  async function start(type: string, input: Record<string, unknown>, idempotencyKey?: string) {
    const res = keep(
      `POST ${type}`,
      await engine
        .as('operator')
        .post('/v1/sagas')
        .send({ type, input, ...(idempotencyKey ? { idempotencyKey } : {}) }),
    );
    return res;
  }

  async function finish(id: string) {
    const saga = await engine.waitForStatus(id, ['COMPLETED', 'COMPENSATED', 'FAILED', 'CANCELLED']);
    keep(`GET ${id}`, await engine.as('viewer').get(`/v1/sagas/${id}`));
    keep(`events ${id}`, await engine.as('viewer').get(`/v1/sagas/${id}/events`));
    return saga;
  }

  it('runs the sagas: the steps get the plain values, the API shows [REDACTED]', async () => {
    // Happy path, with Redis looked at while the first step's second attempt is running (its job is in flight).
    reserveGate = new Promise((resolve) => (releaseReserve = resolve));
    retryFirstReserve = true;
    const happy = await start('sentinel-checkout', checkoutInput(CARD), 'sentinel-key-1');
    expect(happy.status).toBe(201);
    happyId = happy.body.id;
    await waitUntil(() => received.some((r) => r.step === 'reserve'));
    redisSnapshots.push(await dumpRedis(engine.prefix));
    retryFirstReserve = false;
    releaseReserve();
    expect(happy.body.input).toEqual({
      amountCents: 1200,
      payment: { cardNumber: '[REDACTED]', holder: 'Ada Lovelace' },
      customer: { email: '[REDACTED]' },
    });
    const done = await finish(happy.body.id);
    expect(done.status).toBe('COMPLETED');
    expect(done.input.payment.cardNumber).toBe('[REDACTED]');
    const reserve = done.steps.find((s: { name: string }) => s.name === 'reserve');
    expect(reserve.output).toEqual({ note: 'reserved for card [REDACTED]', holder: 'Ada Lovelace' });

    // The same idempotency key and input: 200, the same saga, still redacted.
    const replay = await start('sentinel-checkout', checkoutInput(CARD), 'sentinel-key-1');
    expect(replay.status).toBe(200);
    expect(replay.body.id).toBe(happy.body.id);
    expect(replay.body.input.payment.cardNumber).toBe('[REDACTED]');
    // The same key with another secret: 409, and the message names neither.
    const conflict = await start('sentinel-checkout', checkoutInput(CARD_2), 'sentinel-key-1');
    expect(conflict.status).toBe(409);

    // Compensated: the second step declines with the secret in its error message.
    const declined = await start('sentinel-checkout', checkoutInput(CARD_2, { decline: true }));
    expect(declined.status).toBe(201);
    const compensated = await finish(declined.body.id);
    expect(compensated.status).toBe('COMPENSATED');
    const charge = compensated.steps.find((s: { name: string }) => s.name === 'charge');
    expect(charge.error.message).toBe('card [REDACTED] of [REDACTED] declined');

    // Invalid input around a secret: a 400 that does not echo it.
    const invalid = await start('sentinel-checkout', checkoutInput(CARD, { amountCents: 'twelve' }));
    expect(invalid.status).toBe(400);
    expect(invalid.body.message).toContain('input.amountCents');

    // The demo saga's sensitive contactPhone, through to notify-customer.
    const drone = await start('drone-delivery', droneInput({ contactPhone: PHONE }));
    expect(drone.status).toBe(201);
    expect(drone.body.input.contactPhone).toBe('[REDACTED]');
    expect((await finish(drone.body.id)).status).toBe('COMPLETED');

    // A fan-out whose items echo the secret, and a child that gets it: scrubbed in the items, sealed in the child.
    const split = await start('sentinel-batch', checkoutInput(CARD));
    expect(split.status).toBe(201);
    const composed = await finish(split.body.id);
    expect(composed.status).toBe('COMPLETED');
    const items = keep(
      `items ${split.body.id}`,
      await engine.as('viewer').get(`/v1/sagas/${split.body.id}/steps/split/items`),
    );
    expect(items.body.items.map((i: { item: unknown }) => i.item)).toEqual([
      { n: 1, note: 'part 1 of card [REDACTED]' },
      { n: 2, note: 'part 2 of card [REDACTED]' },
      { n: 3, note: 'part 3 of card [REDACTED]' },
    ]);
    const child = await finish(composed.children[0].id);
    expect(child.input.payment.cardNumber).toBe('[REDACTED]');
    expect(received).toEqual(expect.arrayContaining([{ step: 'split 2', card: CARD, email: EMAIL }]));

    // The steps did receive the plain values (so the searches below can fail).
    expect(received).toEqual(
      expect.arrayContaining([
        { step: 'reserve', card: CARD, email: EMAIL },
        { step: 'charge', card: CARD, email: EMAIL },
        { step: 'charge', card: CARD_2, email: EMAIL },
        { step: 'undo reserve', card: CARD_2, email: EMAIL },
      ]),
    );

    keep('list', await engine.as('viewer').get('/v1/sagas?limit=100'));
    keep('audit', await engine.as('admin').get('/v1/audit'));
    const types = keep('saga-types', await engine.as('viewer').get('/v1/saga-types'));
    const listed = (types.body.items ?? types.body).find((t: { name: string }) => t.name === 'sentinel-checkout');
    expect(listed.sensitive).toEqual(['payment.cardNumber', 'customer.email']);
  });

  it('PostgreSQL holds the fields sealed: no sentinel in any table of any schema, and the envelopes are there', async () => {
    const dump = await dumpDatabase(engine);
    expect(dump.length).toBeGreaterThan(1000);
    expect(dump).toContain('reserved for card [REDACTED]');
    const [row] = await engine.db.query<{ input: any }>(
      `SELECT input FROM saga_instance WHERE type = 'sentinel-checkout' ORDER BY created_at LIMIT 1`,
    );
    expect(row.input.payment.cardNumber.$enc).toMatch(/^v1:[0-9a-f]{8}:[A-Za-z0-9+/]+=*$/);
    expect(row.input.payment.holder).toBe('Ada Lovelace');
    for (const sentinel of SENTINELS) expect(findIn(dump, sentinel)).toBeNull();
    // The idempotency digest is keyed (HMAC), not the plain SHA-256 a dictionary could reverse.
    const plainDigest = requestHash('sentinel-checkout', checkoutInput(CARD));
    expect(dump).not.toContain(plainDigest);
  });

  it('Redis never sees them (during the run and after)', async () => {
    redisSnapshots.push(await dumpRedis(engine.prefix));
    // The first snapshot was taken with the saga's job in flight: the search looked where the job data is.
    expect(redisSnapshots[0]).toContain(happyId);
    for (const snapshot of redisSnapshots)
      for (const sentinel of SENTINELS) expect(findIn(snapshot, sentinel)).toBeNull();
  });

  it('no log line, span attribute or API response carries them', () => {
    const logText = logLines.join('');
    expect(logText.length).toBeGreaterThan(0);
    const spans = JSON.stringify(
      exporter.getFinishedSpans().map((s) => ({ name: s.name, attributes: s.attributes, events: s.events })),
    );
    expect(spans).toContain('sentinel-checkout');
    expect(responses.length).toBeGreaterThanOrEqual(12);
    for (const sentinel of SENTINELS) {
      expect(findIn(logText, sentinel)).toBeNull();
      expect(findIn(spans, sentinel)).toBeNull();
      for (const { what, body } of responses)
        expect({ what, found: findIn(body, sentinel) }).toEqual({ what, found: null });
    }
  });
});

/** Where `needle` occurs, with some context (for a readable failure), or null. */
function findIn(haystack: string, needle: string): string | null {
  const at = haystack.indexOf(needle);
  return at < 0 ? null : haystack.slice(Math.max(0, at - 120), at + needle.length + 40);
}

/** Every row of every table of every schema of the test database, as JSON text. */
async function dumpDatabase(engine: TestEngine): Promise<string> {
  const tables = await engine.db.query<{ schema: string; name: string }>(
    `SELECT table_schema AS schema, table_name AS name FROM information_schema.tables
      WHERE table_type = 'BASE TABLE' AND table_schema NOT IN ('pg_catalog', 'information_schema')`,
  );
  expect(tables.map((t) => t.name)).toEqual(expect.arrayContaining(['saga_instance', 'saga_event', 'saga_step']));
  const parts: string[] = [];
  for (const { schema, name } of tables) {
    const rows = await engine.db.query<{ row: string }>(
      `SELECT row_to_json(t)::text AS row FROM "${schema.replace(/"/g, '""')}"."${name.replace(/"/g, '""')}" t`,
    );
    parts.push(`-- ${schema}.${name}\n${rows.map((r) => r.row).join('\n')}`);
  }
  return parts.join('\n');
}

/** Every key under the prefix with its value, whatever its type, plus its DUMP serialization. */
async function dumpRedis(prefix: string): Promise<string> {
  const redis = new Redis(TEST_REDIS_URL, { maxRetriesPerRequest: 1 });
  const parts: string[] = [];
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
      for (const key of keys) {
        const type = await redis.type(key);
        let value: unknown;
        if (type === 'string') value = await redis.get(key);
        else if (type === 'hash') value = await redis.hgetall(key);
        else if (type === 'list') value = await redis.lrange(key, 0, -1);
        else if (type === 'set') value = await redis.smembers(key);
        else if (type === 'zset') value = await redis.zrange(key, '0', '-1', 'WITHSCORES');
        else if (type === 'stream') value = await redis.xrange(key, '-', '+');
        const dumped = await redis.dumpBuffer(key);
        parts.push(`${key} ${type} ${JSON.stringify(value)} ${dumped?.toString('latin1') ?? ''}`);
      }
      cursor = next;
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
  return parts.join('\n');
}

async function waitUntil(check: () => boolean, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
