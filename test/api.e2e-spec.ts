import { KEYS, startTestEngine, type TestEngine } from './support/test-engine';
import { TEST_QUEUE_KIND } from './support/urls';

const valid = {
  accountId: 'acc-1',
  pickup: { lat: 1, lng: 2 },
  dropoff: { lat: 3, lng: 4 },
  weightKg: 1,
  priceCents: 100,
};

describe('REST API (e2e)', () => {
  let engine: TestEngine;

  beforeAll(async () => {
    // No agent: these tests look at what the API accepts and writes, not at sagas running.
    engine = await startTestEngine({ demo: true, agent: false });
  });
  afterAll(() => engine?.close());

  const rowCounts = async () => {
    const [row] = await engine.db.query<{ i: string; s: string; e: string }>(
      `SELECT (SELECT count(*) FROM saga_instance) AS i, (SELECT count(*) FROM saga_step) AS s, (SELECT count(*) FROM saga_event) AS e`,
    );
    return row;
  };

  describe('bad input gets a 4xx that names the field and writes nothing', () => {
    const cases: [string, () => any, number, string, RegExp][] = [
      [
        'unknown type',
        () => ({ type: 'no-such-saga', input: valid }),
        400,
        'SAGA_TYPE_UNKNOWN',
        /type is not a registered saga type/,
      ],
      ['type not a string', () => ({ type: 123, input: valid }), 400, 'INPUT_INVALID', /type must be a string/],
      [
        'type with path characters',
        () => ({ type: '../../etc/passwd', input: valid }),
        400,
        'INPUT_INVALID',
        /type must be a kebab-case/,
      ],
      ['missing type', () => ({ input: valid }), 400, 'INPUT_INVALID', /type must be/],
      [
        'input not an object',
        () => ({ type: 'drone-delivery', input: 'x' }),
        400,
        'INPUT_INVALID',
        /input must be a JSON object/,
      ],
      [
        'unknown top-level field',
        () => ({ type: 'drone-delivery', input: valid, isAdmin: true }),
        400,
        'INPUT_INVALID',
        /property isAdmin should not exist/,
      ],
      [
        'unknown input field',
        () => ({ type: 'drone-delivery', input: { ...valid, extra: 1 } }),
        400,
        'INPUT_INVALID',
        /input\.extra/,
      ],
      [
        'weight above 50',
        () => ({ type: 'drone-delivery', input: { ...valid, weightKg: 51 } }),
        400,
        'INPUT_INVALID',
        /input\.weightKg must not be greater than 50/,
      ],
      [
        'weight zero',
        () => ({ type: 'drone-delivery', input: { ...valid, weightKg: 0 } }),
        400,
        'INPUT_INVALID',
        /input\.weightKg must be greater than 0/,
      ],
      [
        'weight as a string',
        () => ({ type: 'drone-delivery', input: { ...valid, weightKg: '5' } }),
        400,
        'INPUT_INVALID',
        /input\.weightKg must be a number/,
      ],
      [
        'price not an integer',
        () => ({ type: 'drone-delivery', input: { ...valid, priceCents: 1.5 } }),
        400,
        'INPUT_INVALID',
        /input\.priceCents must be an integer/,
      ],
      [
        'nested field missing',
        () => ({ type: 'drone-delivery', input: { ...valid, pickup: { lat: 1 } } }),
        400,
        'INPUT_INVALID',
        /input\.pickup\.lng/,
      ],
      [
        'missing accountId',
        () => ({ type: 'drone-delivery', input: { ...valid, accountId: undefined } }),
        400,
        'INPUT_INVALID',
        /input\.accountId/,
      ],
      [
        'bad fault knob',
        () => ({ type: 'drone-delivery', input: { ...valid, faults: { 'charge-account': { explode: 1 } } } }),
        400,
        'INPUT_INVALID',
        /input\.faults/,
      ],
      [
        'idempotencyKey with spaces',
        () => ({ type: 'drone-delivery', input: valid, idempotencyKey: 'a b' }),
        400,
        'INPUT_INVALID',
        /idempotencyKey must be/,
      ],
      [
        'idempotencyKey too long',
        () => ({ type: 'drone-delivery', input: valid, idempotencyKey: 'k'.repeat(201) }),
        400,
        'INPUT_INVALID',
        /idempotencyKey must be/,
      ],
      ['body is an array', () => [], 400, 'INPUT_INVALID', /type must be/],
      [
        'prototype pollution',
        () => JSON.parse('{"type":"drone-delivery","input":{},"__proto__":{"polluted":1}}'),
        400,
        'INPUT_INVALID',
        /./,
      ],
    ];

    it.each(cases)('%s', async (_name, body, status, code, message) => {
      const before = await rowCounts();
      const res = await engine.as('operator').post('/v1/sagas').send(body());
      expect(res.status).toBe(status);
      expect(res.headers['content-type']).toMatch(/application\/json/);
      expect(res.body).toMatchObject({ statusCode: status, code });
      expect(res.body.message).toMatch(message);
      expect(JSON.stringify(res.body)).not.toMatch(/at .*\.ts:\d+/);
      expect(await rowCounts()).toEqual(before);
      expect(({} as any).polluted).toBeUndefined();
    });

    it('malformed JSON is a 400, not a 500', async () => {
      const res = await engine
        .as('operator')
        .post('/v1/sagas')
        .set('Content-Type', 'application/json')
        .send('{"type":"drone-delivery"');
      expect(res.status).toBe(400);
      expect(res.body.code).toBe('BODY_INVALID');
    });

    it('a body that is not JSON is a 415', async () => {
      const res = await engine.as('operator').post('/v1/sagas').set('Content-Type', 'text/plain').send('{"type":"x"}');
      expect(res.status).toBe(415);
      expect(res.body.code).toBe('UNSUPPORTED_MEDIA_TYPE');
    });

    it('a body over the limit is a 413 with a JSON error', async () => {
      const res = await engine
        .as('operator')
        .post('/v1/sagas')
        .send({ type: 'drone-delivery', input: { ...valid, accountId: 'x'.repeat(1024 * 1024 + 10) } });
      expect(res.status).toBe(413);
      expect(res.body).toMatchObject({ statusCode: 413, code: 'BODY_TOO_LARGE' });
    });

    it.each([
      ['/v1/sagas/not-a-uuid', 400, 'INPUT_INVALID', /id must be a UUID/],
      ['/v1/sagas/not-a-uuid/events', 400, 'INPUT_INVALID', /id must be a UUID/],
      ['/v1/sagas/00000000-0000-4000-8000-000000000000', 404, 'SAGA_NOT_FOUND', /not found/],
      ['/v1/sagas/00000000-0000-4000-8000-000000000000/events', 404, 'SAGA_NOT_FOUND', /not found/],
      ['/v1/sagas?limit=0', 400, 'INPUT_INVALID', /limit must be an integer between 1 and 200/],
      ['/v1/sagas?limit=201', 400, 'INPUT_INVALID', /limit/],
      ['/v1/sagas?limit=abc', 400, 'INPUT_INVALID', /limit/],
      ['/v1/sagas?status=DONE', 400, 'INPUT_INVALID', /status must be one of/],
      ['/v1/sagas?status=RUNNING&status=DONE', 400, 'INPUT_INVALID', /status must be one of/],
      [
        '/v1/sagas?createdAfter=yesterday',
        400,
        'INPUT_INVALID',
        /createdAfter must be a date \(2026-01-31\) or a date-time with an offset/,
      ],
      ['/v1/sagas?cursor=bm9wZQ', 400, 'INPUT_INVALID', /cursor is invalid/],
      ['/v1/sagas?sort=created_at', 400, 'INPUT_INVALID', /property sort should not exist/],
      ['/v1/saga-types/no-such-saga', 404, 'SAGA_TYPE_UNKNOWN', /no saga type/],
      ['/v1/no-such-route', 404, 'NOT_FOUND', /./],
    ])('GET %s -> %i', async (path, status, code, message) => {
      const res = await engine.as('viewer').get(path);
      expect(res.status).toBe(status);
      expect(res.body).toMatchObject({ statusCode: status, code });
      expect(res.body.message).toMatch(message);
    });
  });

  describe('auth', () => {
    it('401 without a key or with an unknown key, everywhere but /health', async () => {
      for (const path of ['/v1/sagas', '/v1/saga-types', '/v1/sagas/00000000-0000-4000-8000-000000000000']) {
        const anonymous = await engine.http().get(path);
        expect(anonymous.status).toBe(401);
        expect(anonymous.body.code).toBe('AUTH_REQUIRED');
        const unknown = await engine.http().get(path).set('Authorization', 'Bearer not-a-key-at-all-0000');
        expect(unknown.status).toBe(401);
      }
      expect((await engine.http().post('/v1/sagas').send({ type: 'drone-delivery', input: valid })).status).toBe(401);
      // Without a key /health says up or down, nothing more; with one, which dependency is which.
      const health = await engine.http().get('/health');
      expect(health.status).toBe(200);
      expect(health.body).toEqual({ status: 'ok' });
      const detailed = await engine.as('viewer').get('/health');
      expect(detailed.body.info).toMatchObject({
        postgres: { status: 'up' },
        queue: { status: 'up', backend: TEST_QUEUE_KIND },
      });
    });

    it('403 when the role is too low: a viewer cannot start a saga', async () => {
      const before = await rowCounts();
      const res = await engine.as('viewer').post('/v1/sagas').send({ type: 'drone-delivery', input: valid });
      expect(res.status).toBe(403);
      expect(res.body.code).toBe('FORBIDDEN');
      expect(await rowCounts()).toEqual(before);
    });

    it('the key is read from the Bearer scheme only', async () => {
      const res = await engine.http().get('/v1/sagas').set('Authorization', KEYS.admin);
      expect(res.status).toBe(401);
    });
  });

  describe('idempotent start', () => {
    it('replays the same instance for the same key and input, 409 for other input', async () => {
      const body = { type: 'drone-delivery', input: valid, idempotencyKey: 'order-1001' };
      const first = await engine.as('operator').post('/v1/sagas').send(body);
      expect(first.status).toBe(201);
      expect(first.body).toMatchObject({ type: 'drone-delivery', version: 1, status: 'RUNNING', input: valid });
      expect(first.body.steps).toHaveLength(8);

      // Same input, keys in another order: the same request.
      const reordered = {
        ...body,
        input: { priceCents: 100, weightKg: 1, dropoff: valid.dropoff, pickup: valid.pickup, accountId: 'acc-1' },
      };
      const replay = await engine.as('operator').post('/v1/sagas').send(reordered);
      expect(replay.status).toBe(200);
      expect(replay.body.id).toBe(first.body.id);

      const before = await rowCounts();
      const conflict = await engine
        .as('operator')
        .post('/v1/sagas')
        .send({ ...body, input: { ...valid, priceCents: 101 } });
      expect(conflict.status).toBe(409);
      expect(conflict.body.code).toBe('IDEMPOTENCY_CONFLICT');
      expect(await rowCounts()).toEqual(before);
    });

    it('takes the key from the Idempotency-Key header too', async () => {
      const a = await engine
        .as('operator')
        .post('/v1/sagas')
        .set('Idempotency-Key', 'hdr-1')
        .send({ type: 'drone-delivery', input: valid });
      const b = await engine
        .as('operator')
        .post('/v1/sagas')
        .set('Idempotency-Key', 'hdr-1')
        .send({ type: 'drone-delivery', input: valid });
      expect([a.status, b.status]).toEqual([201, 200]);
      expect(b.body.id).toBe(a.body.id);
      const clash = await engine
        .as('operator')
        .post('/v1/sagas')
        .set('Idempotency-Key', 'hdr-2')
        .send({ type: 'drone-delivery', input: valid, idempotencyKey: 'other' });
      expect(clash.status).toBe(400);
    });

    it('gives one saga to twenty racing requests with the same key', async () => {
      const body = { type: 'drone-delivery', input: valid, idempotencyKey: 'race-1' };
      const results = await Promise.all(
        Array.from({ length: 20 }, () => engine.as('operator').post('/v1/sagas').send(body)),
      );
      const statuses = results.map((r) => r.status).sort();
      expect(statuses.filter((s) => s === 201)).toHaveLength(1);
      expect(statuses.filter((s) => s === 200)).toHaveLength(19);
      expect(new Set(results.map((r) => r.body.id)).size).toBe(1);
      const [{ n }] = await engine.db.query<{ n: string }>(
        `SELECT count(*) AS n FROM saga_instance WHERE idempotency_key = 'race-1'`,
      );
      expect(n).toBe('1');
    });
    it('answers each of many concurrent keyed starts as alone: one saga per key, 200 for a replay, 409 for a clash', async () => {
      // Keyed starts share a group commit: a key taken earlier in the same statement is skipped, not an error.
      const keys = Array.from({ length: 10 }, (_, i) => `batch-${i}`);
      const requests = [
        ...keys.map((k) => ({ type: 'drone-delivery', input: valid, idempotencyKey: k })),
        ...keys.map((k) => ({ type: 'drone-delivery', input: valid, idempotencyKey: k })),
        { type: 'drone-delivery', input: valid, idempotencyKey: 'batch-clash' },
        { type: 'drone-delivery', input: { ...valid, priceCents: 102 }, idempotencyKey: 'batch-clash' },
      ];
      const results = await Promise.all(requests.map((b) => engine.as('operator').post('/v1/sagas').send(b)));
      keys.forEach((_, i) => {
        const pair = [results[i], results[i + keys.length]];
        expect(pair.map((r) => r.status).sort()).toEqual([200, 201]);
        expect(pair[0].body.id).toBe(pair[1].body.id);
      });
      const clash = results.slice(-2);
      expect(clash.map((r) => r.status).sort()).toEqual([201, 409]);
      expect(clash.find((r) => r.status === 409)!.body.code).toBe('IDEMPOTENCY_CONFLICT');
      const [{ n }] = await engine.db.query<{ n: string }>(
        `SELECT count(*) AS n FROM saga_instance WHERE idempotency_key LIKE 'batch-%'`,
      );
      expect(n).toBe('11');
    });
  });

  describe('listing', () => {
    it('pages newest first with a cursor, and filters by status and time', async () => {
      const ids: string[] = [];
      for (let i = 0; i < 5; i++) {
        const res = await engine.as('operator').post('/v1/sagas').send({ type: 'drone-delivery', input: valid });
        ids.push(res.body.id);
      }
      const seen: string[] = [];
      let cursor: string | null = null;
      do {
        const res: any = await engine.as('viewer').get(`/v1/sagas?limit=2${cursor ? `&cursor=${cursor}` : ''}`);
        expect(res.status).toBe(200);
        expect(res.body.items.length).toBeLessThanOrEqual(2);
        seen.push(...res.body.items.map((s: any) => s.id));
        cursor = res.body.nextCursor;
      } while (cursor);
      expect(new Set(seen).size).toBe(seen.length);
      expect(seen.slice(0, 5)).toEqual([...ids].reverse());

      const running = await engine
        .as('viewer')
        .get('/v1/sagas?status=RUNNING&status=FAILED&type=drone-delivery&limit=200');
      expect(running.body.items.length).toBe(seen.length);
      expect(running.body.items[0]).toEqual({
        id: ids[4],
        type: 'drone-delivery',
        version: 1,
        status: 'RUNNING',
        error: null,
        createdAt: expect.any(String),
        updatedAt: expect.any(String),
        completedAt: null,
        // Set only for a saga started with startAt / startIn.
        startAt: null,
        // Set only for a child saga (started by a parent's child step).
        parentId: null,
        // The drone-delivery type declares no business key and no search attribute.
        businessKey: null,
        attributes: {},
      });
      const none = await engine.as('viewer').get('/v1/sagas?status=COMPLETED');
      expect(none.body).toEqual({ items: [], nextCursor: null });
      const future = await engine
        .as('viewer')
        .get(`/v1/sagas?createdAfter=${new Date(Date.now() + 60_000).toISOString()}`);
      expect(future.body.items).toEqual([]);
    });

    it('describes the registered saga types', async () => {
      const res = await engine.as('viewer').get('/v1/saga-types/drone-delivery');
      expect(res.status).toBe(200);
      expect(res.body.stages.map((s: any) => s.steps)).toEqual([
        ['verify-account'],
        ['create-delivery'],
        ['register-package'],
        ['schedule-drone', 'book-ground-transport'],
        ['await-delivery'],
        ['charge-account'],
        ['notify-customer'],
      ]);
      expect(res.body.steps.find((s: any) => s.name === 'await-delivery')).toMatchObject({
        signal: 'DeliveryCompleted',
        timeoutMs: 5000,
      });
      const charge = res.body.steps.find((s: any) => s.name === 'charge-account');
      expect(charge).toMatchObject({ pivot: true, compensation: true, timeoutMs: 2000, retry: { maximumAttempts: 5 } });
      expect(res.body.steps.find((s: any) => s.name === 'schedule-drone')).toMatchObject({
        conditional: true,
        when: 'weightKg <= 20',
      });
      const all = await engine.as('viewer').get('/v1/saga-types');
      expect(all.body.map((d: any) => d.name)).toEqual(['drone-delivery', 'parcel-order']);
    });
  });

  describe('the answer to a start', () => {
    // Built from the rows the insert wrote, not read back: it must be what a GET right after the commit finds
    // (no agent here, so nothing moves the saga on). Grouped (no key) and alone (a key); at once and DELAYED.
    it.each([
      ['without a key, at once', {}],
      ['with a key, at once', { idempotencyKey: 'answer-1' }],
      ['without a key, delayed', { startIn: '1h' }],
      ['with a key, delayed', { idempotencyKey: 'answer-2', startAt: new Date(Date.now() + 7_200_000).toISOString() }],
    ])('%s: the 201 body is the GET body, timestamps from the database', async (_, extra) => {
      const started = await engine
        .as('operator')
        .post('/v1/sagas')
        .send({ type: 'drone-delivery', input: valid, ...extra });
      expect(started.status).toBe(201);
      const read = await engine.as('viewer').get(`/v1/sagas/${started.body.id}`);
      expect(read.status).toBe(200);
      expect(started.body).toEqual(read.body);
      const [row] = await engine.db.query<{ created_at: Date }>(`SELECT created_at FROM saga_instance WHERE id = $1`, [
        started.body.id,
      ]);
      expect(started.body.createdAt).toBe(row.created_at.toISOString());
      expect(started.body.status).toBe('startIn' in extra || 'startAt' in extra ? 'DELAYED' : 'RUNNING');
      if (!('startIn' in extra || 'startAt' in extra)) {
        expect(started.body.steps[0]).toMatchObject({
          status: 'SCHEDULED',
          attempts: 1,
          startedAt: row.created_at.toISOString(),
        });
      }
    });
  });
});
