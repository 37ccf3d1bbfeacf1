import { readdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { inspect } from 'node:util';
import {
  SagaApiError,
  SagaClient,
  SagaConflictError,
  SagaNotFoundError,
  SagaWaitTimeoutError,
  type SagaTransport,
  type SagaView,
} from './';
import { FakeEngine } from './testing/fake-engine';

/** The rejection of `promise`, failing the test if it resolves. */
async function rejection(promise: Promise<unknown>): Promise<any> {
  return promise.then(
    (value) => {
      throw new Error(`expected a rejection, got ${JSON.stringify(value)}`);
    },
    (err: unknown) => err,
  );
}

describe('SagaClient over HTTP', () => {
  let engine: FakeEngine;
  let client: SagaClient;

  beforeEach(async () => {
    engine = await FakeEngine.start();
    client = new SagaClient({ url: engine.url, apiKey: engine.apiKey });
  });
  afterEach(() => engine.close());

  describe('start', () => {
    it('starts a saga: 201 is created; type, input and key in the body, the key as a bearer header', async () => {
      const saga = await client.start('order', { orderId: 'o-1' }, { key: 'order-o-1' });

      expect(saga).toMatchObject({ type: 'order', status: 'RUNNING', input: { orderId: 'o-1' }, created: true });
      expect(engine.requests).toHaveLength(1);
      const [req] = engine.requests;
      expect(req).toMatchObject({ method: 'POST', path: '/v1/sagas' });
      expect(req.body).toEqual({ type: 'order', input: { orderId: 'o-1' }, idempotencyKey: 'order-o-1' });
      expect(req.headers.authorization).toBe(`Bearer ${engine.apiKey}`);
      expect(req.headers['content-type']).toBe('application/json');
    });

    it('sends no idempotencyKey without a key', async () => {
      await client.start('order', { orderId: 'o-1' });
      expect(engine.requests[0].body).toEqual({ type: 'order', input: { orderId: 'o-1' } });
    });

    it('replays a key: 200 is not created, and it is the same saga', async () => {
      const first = await client.start('order', { orderId: 'o-1' }, { key: 'k-1' });
      const again = await client.start('order', { orderId: 'o-1' }, { key: 'k-1' });

      expect(again.created).toBe(false);
      expect(again.id).toBe(first.id);
    });

    it('refuses a replayed key with another input: SagaConflictError IDEMPOTENCY_CONFLICT', async () => {
      const first = await client.start('order', { orderId: 'o-1' }, { key: 'k-1' });
      const err = await rejection(client.start('order', { orderId: 'o-2' }, { key: 'k-1' }));

      expect(err).toBeInstanceOf(SagaConflictError);
      expect(err).toBeInstanceOf(SagaApiError);
      expect(err).toMatchObject({ name: 'SagaConflictError', status: 409, code: 'IDEMPOTENCY_CONFLICT' });
      expect(err.message).toBe(`idempotencyKey was already used to start saga ${first.id} with another type or input`);
    });

    it("passes a 400's message through as it is", async () => {
      const invalid = await rejection(client.start('order', { orderId: 42 }));
      expect(invalid).toMatchObject({
        name: 'SagaApiError',
        status: 400,
        code: 'INPUT_INVALID',
        message: 'orderId must be a string',
      });
      expect(invalid).not.toBeInstanceOf(SagaNotFoundError);
      expect(invalid).not.toBeInstanceOf(SagaConflictError);

      const unknown = await rejection(client.start('no-such-saga', {}));
      expect(unknown).toMatchObject({
        status: 400,
        code: 'SAGA_TYPE_UNKNOWN',
        message: 'type is not a registered saga type (GET /v1/saga-types lists them)',
      });
    });
  });

  describe('get', () => {
    it('returns the view', async () => {
      const id = engine.add({ status: 'COMPENSATING' });
      const saga = await client.get(id);
      expect(saga).toMatchObject({ id, type: 'order', status: 'COMPENSATING', output: null, steps: [] });
      expect(engine.requests.map((r) => `${r.method} ${r.path}`)).toEqual([`GET /v1/sagas/${id}`]);
    });

    it('throws SagaNotFoundError for a 404', async () => {
      const id = '00000000-0000-4000-8000-000000000000';
      const err = await rejection(client.get(id));

      expect(err).toBeInstanceOf(SagaNotFoundError);
      expect(err).toMatchObject({ name: 'SagaNotFoundError', status: 404, code: 'SAGA_NOT_FOUND' });
      expect(err.message).toBe(`saga ${id} not found`);
    });

    it('encodes the id: it cannot reach another route', async () => {
      const err = await rejection(client.get('x/cancel'));
      expect(err).toMatchObject({ status: 400, code: 'INPUT_INVALID', message: 'id must be a UUID' });
      expect(engine.requests[0].path).toBe('/v1/sagas/x%2Fcancel');

      const dots = await rejection(client.get('..'));
      expect(dots).toMatchObject({ status: 400, code: 'INPUT_INVALID', message: 'id must not be empty, "." or ".."' });
      expect(engine.requests).toHaveLength(1);
    });

    it('sends its requests through the fetch it is given', async () => {
      const seen: string[] = [];
      const traced = new SagaClient({
        url: engine.url,
        apiKey: engine.apiKey,
        fetch: (input, init) => {
          seen.push(`${init?.method} ${input instanceof Request ? input.url : input.toString()}`);
          return fetch(input, init);
        },
      });
      const id = engine.add();

      expect((await traced.get(id)).id).toBe(id);
      expect(seen).toEqual([`GET ${engine.url}/v1/sagas/${id}`]);
    });

    it('reaches an engine mounted under a path prefix', async () => {
      engine.prefix = '/gw/sagas';
      const id = engine.add();
      const prefixed = new SagaClient({ url: `${engine.url}/gw/sagas/`, apiKey: engine.apiKey });

      expect((await prefixed.get(id)).id).toBe(id);
      expect(engine.requests[0].path).toBe(`/gw/sagas/v1/sagas/${id}`);
    });
  });

  describe('waitFor', () => {
    it('polls until the saga is COMPLETED, and returns it', async () => {
      const started = await client.start('order', { orderId: 'o-1' });
      engine.script(started.id, ['RUNNING', 'RUNNING', 'COMPLETED']);

      const done = await client.waitFor(started, { timeout: '5s' });

      expect(done).toMatchObject({ id: started.id, status: 'COMPLETED', output: { done: true } });
      expect(engine.polls(started.id)).toBe(3);
    });

    it('stops at FAILED by default (an operator must act), and waits past it when `until` leaves it out', async () => {
      const id = engine.add();
      engine.script(id, ['RUNNING', 'FAILED']);
      expect((await client.waitFor(id, { timeout: '5s' })).status).toBe('FAILED');
      expect(engine.polls(id)).toBe(2);

      const retried = engine.add();
      engine.script(retried, ['FAILED', 'COMPENSATING', 'COMPENSATED']);
      expect((await client.waitFor(retried, { timeout: '5s', until: ['COMPENSATED'] })).status).toBe('COMPENSATED');
      expect(engine.polls(retried)).toBe(3);
    });

    it('waits for the statuses of `until`, and returns a final status it did not list (it cannot change)', async () => {
      const id = engine.add();
      engine.script(id, ['RUNNING', 'COMPENSATING', 'COMPENSATED']);
      expect((await client.waitFor(id, { timeout: '5s', until: ['COMPENSATING'] })).status).toBe('COMPENSATING');

      const compensated = engine.add();
      engine.script(compensated, ['RUNNING', 'COMPENSATED']);
      expect((await client.waitFor(compensated, { timeout: '5s', until: ['COMPLETED'] })).status).toBe('COMPENSATED');
    });

    it('times out with SagaWaitTimeoutError carrying the last view, polling less and less often', async () => {
      const id = engine.add();
      const startedAt = Date.now();

      const err = await rejection(client.waitFor(id, { timeout: 700 }));

      const elapsed = Date.now() - startedAt;
      expect(err).toBeInstanceOf(SagaWaitTimeoutError);
      expect(err).toMatchObject({ name: 'SagaWaitTimeoutError', code: 'WAIT_TIMEOUT', sagaId: id, timeoutMs: 700 });
      expect(err.view).toMatchObject({ id, status: 'RUNNING' });
      expect(err.message).toBe(
        `saga ${id} did not reach COMPLETED or COMPENSATED or CANCELLED or FAILED within 700 ms (last status: RUNNING)`,
      );
      expect(elapsed).toBeGreaterThanOrEqual(690);
      expect(elapsed).toBeLessThan(1_500);
      // Backing off from 50 ms: polls at about 0, 50, 150, 350 ms (every 50 ms would be 14 polls).
      expect(engine.polls(id)).toBeGreaterThanOrEqual(3);
      expect(engine.polls(id)).toBeLessThanOrEqual(5);
    });

    it('keeps to its timeout when the engine hangs, whatever the per-request timeout', async () => {
      engine.stall = true;
      const id = engine.add();
      const startedAt = Date.now();

      const err = await rejection(client.waitFor(id, { timeout: '300ms' }));

      expect(Date.now() - startedAt).toBeLessThan(2_000);
      expect(err).toBeInstanceOf(SagaWaitTimeoutError);
      expect(err.view).toBeNull();
      expect(err.cause).toMatchObject({ status: 0, code: 'UNAVAILABLE' });
    });

    it('polls through a proxy 503 or a 429, and ends at once on any other error', async () => {
      const id = engine.add();
      engine.script(id, ['COMPLETED']);
      engine.answerNext.push({ status: 503, body: '<html>Service Unavailable</html>' });
      engine.answerNext.push({
        status: 429,
        contentType: 'application/json',
        body: JSON.stringify({
          statusCode: 429,
          error: 'Too Many Requests',
          message: 'slow down',
          code: 'RATE_LIMITED',
        }),
      });
      expect((await client.waitFor(id, { timeout: '5s' })).status).toBe('COMPLETED');
      expect(engine.requests).toHaveLength(3);

      const missing = '00000000-0000-4000-8000-000000000000';
      await expect(client.waitFor(missing, { timeout: '5s' })).rejects.toBeInstanceOf(SagaNotFoundError);
      expect(engine.polls(missing)).toBe(1);
    });

    it('refuses a timeout that is not a positive duration', async () => {
      await expect(client.waitFor('x', { timeout: 0 })).rejects.toThrow('timeout must be > 0 (got 0)');
      // `${number}s` admits "5 s" (TypeScript reads " 5" as a number); parseDuration does not.
      await expect(client.waitFor('x', { timeout: '5 s' })).rejects.toThrow(
        'timeout must be a duration such as 500, "500ms", "2s", "5m", "1h" or "2d" (got "5 s")',
      );
      expect(engine.requests).toHaveLength(0);
    });
  });

  describe('signal', () => {
    it('posts the payload to the signal route', async () => {
      const id = engine.add({ waitingFor: 'DeliveryCompleted' });
      await client.signal(id, 'DeliveryCompleted', { droneId: 'drn_1' });

      expect(engine.requests[0]).toMatchObject({
        method: 'POST',
        path: `/v1/sagas/${id}/signals/DeliveryCompleted`,
        body: { payload: { droneId: 'drn_1' } },
      });
    });

    it('posts an empty body without a payload', async () => {
      const id = engine.add({ waitingFor: 'approved' });
      await client.signal(id, 'approved');
      expect(engine.requests[0].body).toEqual({});
    });

    it('throws SagaConflictError NOT_WAITING when no step waits for it', async () => {
      const id = engine.add();
      const err = await rejection(client.signal(id, 'approved'));
      expect(err).toBeInstanceOf(SagaConflictError);
      expect(err).toMatchObject({ status: 409, code: 'NOT_WAITING', message: 'no step waits for signal "approved"' });
    });
  });

  describe('operator actions', () => {
    it('cancels with a reason, and returns the view', async () => {
      const id = engine.add();
      const saga = await client.cancel(id, { reason: 'customer asked' });

      expect(saga).toMatchObject({ id, status: 'COMPENSATING' });
      expect(engine.requests[0]).toMatchObject({
        method: 'POST',
        path: `/v1/sagas/${id}/cancel`,
        body: { reason: 'customer asked' },
      });
    });

    it('throws SagaConflictError INVALID_STATE for a cancel the engine refuses', async () => {
      const id = engine.add({ status: 'COMPLETED' });
      const err = await rejection(client.cancel(id, { reason: 'too late' }));
      expect(err).toBeInstanceOf(SagaConflictError);
      expect(err).toMatchObject({ status: 409, code: 'INVALID_STATE', message: 'saga is COMPLETED' });
    });

    it('retries a FAILED saga', async () => {
      const id = engine.add({ status: 'FAILED' });
      expect((await client.retry(id, { reason: 'the ledger is back' })).status).toBe('COMPENSATING');
      expect(engine.requests[0]).toMatchObject({
        path: `/v1/sagas/${id}/retry`,
        body: { reason: 'the ledger is back' },
      });
    });

    it('re-runs from a step and skips a step with an output, on their routes', async () => {
      const step = { name: 'ship', status: 'FAILED' as const, attempts: 1, startedAt: null, finishedAt: null };
      const view = { ...step, output: null, error: null, compensation: null };
      const id = engine.add({ status: 'FAILED', steps: [view] });
      expect((await client.retryFrom(id, 'ship', { reason: 'carrier fixed' })).status).toBe('RUNNING');
      expect(engine.requests[0]).toMatchObject({
        method: 'POST',
        path: `/v1/sagas/${id}/steps/ship/retry`,
        body: { reason: 'carrier fixed' },
      });
      expect((await client.skip(id, 'ship', { reason: 'by hand', output: [1, { t: 'T-1' }] })).status).toBe('RUNNING');
      expect(engine.requests[1]).toMatchObject({
        method: 'POST',
        path: `/v1/sagas/${id}/steps/ship/skip`,
        body: { reason: 'by hand', output: [1, { t: 'T-1' }] },
      });
      // null is an output too: it is sent, not dropped.
      await client.skip(id, 'ship', { reason: 'nothing to record', output: null });
      expect(engine.requests[2].body).toEqual({ reason: 'nothing to record', output: null });
      const missing = await rejection(client.retryFrom(id, 'nope', { reason: 'x' }));
      expect(missing).toMatchObject({ status: 404, code: 'STEP_NOT_FOUND' });
    });

    it('resolves a step, and a STEP_NOT_FOUND is an API error but not a SagaNotFoundError', async () => {
      const step = {
        name: 'charge-account',
        status: 'COMPENSATION_FAILED' as const,
        attempts: 1,
        startedAt: null,
        finishedAt: null,
        output: null,
        error: null,
        compensation: { status: 'FAILED' as const, attempts: 3, startedAt: null, finishedAt: null, error: null },
      };
      const id = engine.add({ status: 'FAILED', steps: [step] });

      const saga = await client.resolve(id, 'charge-account', { reason: 'refunded by hand' });
      expect(saga.steps[0].compensation?.status).toBe('RESOLVED');
      expect(engine.requests[0]).toMatchObject({
        path: `/v1/sagas/${id}/steps/charge-account/resolve`,
        body: { reason: 'refunded by hand' },
      });

      const err = await rejection(client.resolve(id, 'no-such-step', { reason: 'x' }));
      expect(err).toMatchObject({ name: 'SagaApiError', status: 404, code: 'STEP_NOT_FOUND' });
      expect(err).not.toBeInstanceOf(SagaNotFoundError);
    });
  });

  describe('list', () => {
    it('sends the filters as the API wants them, and returns a page of summaries', async () => {
      const failed = engine.add({ status: 'FAILED', createdAt: '2026-01-02T00:00:00.000Z' });
      engine.add({ status: 'RUNNING', createdAt: '2026-01-03T00:00:00.000Z' });
      engine.add({ type: 'refund', status: 'FAILED', createdAt: '2026-01-02T12:00:00.000Z' });

      const page = await client.list({
        type: 'order',
        status: ['FAILED', 'COMPENSATED'],
        createdAfter: new Date('2026-01-01T00:00:00Z'),
        createdBefore: '2026-01-05T00:00:00Z',
        limit: 10,
      });

      expect(page).toEqual({
        items: [
          {
            id: failed,
            type: 'order',
            version: 1,
            status: 'FAILED',
            error: null,
            createdAt: '2026-01-02T00:00:00.000Z',
            updatedAt: '2026-01-02T00:00:00.000Z',
            completedAt: null,
          },
        ],
        nextCursor: null,
      });
      expect(engine.requests[0]).toMatchObject({
        method: 'GET',
        path:
          '/v1/sagas?type=order&status=FAILED&status=COMPENSATED&createdAfter=2026-01-01T00%3A00%3A00.000Z' +
          '&createdBefore=2026-01-05T00%3A00%3A00Z&limit=10',
        body: undefined,
      });
    });

    it('takes one status as well as several, and asks for the default page without parameters', async () => {
      engine.add({ status: 'FAILED' });
      expect((await client.list({ status: 'FAILED' })).items).toHaveLength(1);
      await client.list();
      expect(engine.requests.map((r) => r.path)).toEqual(['/v1/sagas?status=FAILED', '/v1/sagas']);
    });

    it('pages with nextCursor, newest first', async () => {
      const ids = [1, 2, 3].map((day) => engine.add({ createdAt: `2026-01-0${day}T00:00:00.000Z` }));

      const first = await client.list({ limit: 2 });
      expect(first.items.map((s) => s.id)).toEqual([ids[2], ids[1]]);
      expect(first.nextCursor).toEqual(expect.any(String));
      const second = await client.list({ limit: 2, cursor: first.nextCursor! });
      expect(second).toMatchObject({ items: [{ id: ids[0] }], nextCursor: null });
    });

    it("passes the API's 400 through, naming the parameter", async () => {
      const err = await rejection(client.list({ limit: 500 }));
      expect(err).toMatchObject({
        name: 'SagaApiError',
        status: 400,
        code: 'INPUT_INVALID',
        message: 'limit must be an integer between 1 and 200',
      });
    });
  });

  describe('listAll', () => {
    it('yields every saga of every page, following the cursors', async () => {
      const ids = Array.from({ length: 5 }, (_, i) => engine.add({ createdAt: `2026-01-0${i + 1}T00:00:00.000Z` }));
      engine.add({ type: 'refund' });

      const seen: string[] = [];
      for await (const saga of client.listAll({ type: 'order', limit: 2 })) seen.push(saga.id);

      expect(seen).toEqual([...ids].reverse());
      expect(engine.requests).toHaveLength(3);
      expect(engine.requests[1].path).toMatch(/^\/v1\/sagas\?type=order&limit=2&cursor=[0-9a-f-]+$/);
    });

    it('fetches no further page once the caller stops', async () => {
      for (let i = 0; i < 5; i++) engine.add();
      for await (const saga of client.listAll({ limit: 2 })) {
        expect(saga.type).toBe('order');
        break;
      }
      expect(engine.requests).toHaveLength(1);
    });
  });

  describe('events', () => {
    it('returns a page of the history, from afterSeq', async () => {
      const id = engine.add();
      engine.event(id, 'StepScheduled', 'reserve-stock');
      engine.event(id, 'StepSucceeded', 'reserve-stock', { output: { ok: true } });

      const all = await client.events(id);
      expect(all.items.map((e) => `${e.seq} ${e.type} ${e.step}`)).toEqual([
        '1 SagaStarted null',
        '2 StepScheduled reserve-stock',
        '3 StepSucceeded reserve-stock',
      ]);
      expect(all.items[2]).toMatchObject({ attempt: 1, data: { output: { ok: true } }, at: expect.any(String) });
      expect(all.nextAfterSeq).toBeNull();

      const later = await client.events(id, { afterSeq: 1, limit: 1 });
      expect(later).toEqual({ items: [expect.objectContaining({ seq: 2 })], nextAfterSeq: 2 });
      expect(engine.requests.map((r) => r.path)).toEqual([
        `/v1/sagas/${id}/events`,
        `/v1/sagas/${id}/events?afterSeq=1&limit=1`,
      ]);
    });

    it('throws SagaNotFoundError for a saga that does not exist', async () => {
      const err = await rejection(client.events('00000000-0000-4000-8000-000000000000'));
      expect(err).toBeInstanceOf(SagaNotFoundError);
      expect(err).toMatchObject({ status: 404, code: 'SAGA_NOT_FOUND' });
    });
  });

  describe('fan-out items and item histories', () => {
    it("pages a fan-out's items by status and index, and reads one item's history", async () => {
      const id = engine.add();
      const item = (index: number, status: 'SUCCEEDED' | 'FAILED') => ({
        index,
        key: String(index),
        item: { parcel: `p-${index}` },
        status,
        attempts: 1,
        startedAt: null,
        finishedAt: null,
        output: null,
        error: null,
        compensation: null,
      });
      engine.items.set(`${id}/ship`, [item(0, 'SUCCEEDED'), item(1, 'FAILED'), item(2, 'SUCCEEDED')]);

      const first = await client.items(id, 'ship', { limit: 2 });
      expect(first).toMatchObject({ total: 3, counts: { SUCCEEDED: 2, FAILED: 1 }, nextAfterIndex: 1 });
      expect(first.items.map((i) => i.index)).toEqual([0, 1]);
      const failed = await client.items(id, 'ship', { status: 'FAILED' });
      expect(failed.items.map((i) => i.index)).toEqual([1]);
      await client.items(id, 'ship', { status: ['FAILED', 'COMPENSATION_FAILED'], afterIndex: 0 });
      await client.events(id, { step: 'ship', item: 1 });
      expect(engine.requests.map((r) => r.path)).toEqual([
        `/v1/sagas/${id}/steps/ship/items?limit=2`,
        `/v1/sagas/${id}/steps/ship/items?status=FAILED`,
        `/v1/sagas/${id}/steps/ship/items?status=FAILED&status=COMPENSATION_FAILED&afterIndex=0`,
        `/v1/sagas/${id}/events?step=ship&item=1`,
      ]);
    });
  });

  describe('saga types and agents', () => {
    it('reads GET /v1/saga-types and GET /v1/agents', async () => {
      engine.sagaTypes = [
        {
          name: 'order',
          version: 2,
          versions: [1, 2],
          description: null,
          input: 'OrderInput',
          inputSchema: { type: 'object' },
          sensitive: [],
          stages: [{ index: 0, group: null, steps: ['reserve-stock'] }],
          steps: [],
          agents: 1,
        },
      ];
      const agent = {
        id: 'order-7f9c:4242:1a2b',
        host: 'order-7f9c',
        pid: 4242,
        sagaTypes: ['order@2'],
        startedAt: '2026-01-01T00:00:00.000Z',
        seenAt: '2026-01-01T00:00:05.000Z',
      };
      engine.agents = [agent];

      expect(await client.sagaTypes()).toEqual(engine.sagaTypes);
      expect(await client.agents()).toEqual([agent]);
      expect(engine.requests.map((r) => `${r.method} ${r.path}`)).toEqual(['GET /v1/saga-types', 'GET /v1/agents']);
    });
  });

  describe('failures without an API answer', () => {
    it('turns a request that gets no answer in time into UNAVAILABLE (status 0) with its cause', async () => {
      engine.stall = true;
      const impatient = new SagaClient({ url: engine.url, apiKey: engine.apiKey, timeoutMs: 100 });
      const startedAt = Date.now();

      const err = await rejection(impatient.start('order', { orderId: 'o-1' }));

      expect(Date.now() - startedAt).toBeLessThan(2_000);
      expect(err).toBeInstanceOf(SagaApiError);
      expect(err).toMatchObject({ name: 'SagaApiError', status: 0, code: 'UNAVAILABLE' });
      expect(err.message).toBe(`POST /v1/sagas: no answer within 100 ms from ${engine.url}`);
      expect(err.cause).toMatchObject({ name: 'TimeoutError' });
      expect(engine.requests).toHaveLength(1);
    });

    it('turns a refused connection into UNAVAILABLE with its cause', async () => {
      const closed = createServer();
      await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
      const { port } = closed.address() as AddressInfo;
      await new Promise((resolve) => closed.close(resolve));
      const nowhere = new SagaClient({ url: `http://127.0.0.1:${port}`, apiKey: engine.apiKey });

      const err = await rejection(nowhere.get('00000000-0000-4000-8000-000000000000'));

      expect(err).toMatchObject({ status: 0, code: 'UNAVAILABLE' });
      expect(err.message).toMatch(/ECONNREFUSED/);
      // fetch's TypeError, from Node's realm (not Jest's: no instanceof), with the socket's error as its cause.
      expect(err.cause).toMatchObject({ message: 'fetch failed', cause: { code: 'ECONNREFUSED' } });
    });

    it("does not echo a proxy's error page", async () => {
      engine.answerNext.push({ status: 502, body: '<html><h1>502 Bad Gateway</h1></html>' });
      const err = await rejection(client.get(engine.add()));
      expect(err).toMatchObject({ status: 502, code: 'UNEXPECTED_RESPONSE' });
      expect(err.message).toMatch(/^GET \/v1\/sagas\/[0-9a-f-]+: answered 502 without the API's error body$/);
    });

    it('does not follow a redirect', async () => {
      engine.answerNext.push({ status: 301, body: '' });
      const err = await rejection(client.get(engine.add()));
      expect(err).toMatchObject({ status: 301, code: 'UNEXPECTED_RESPONSE' });
      expect(engine.requests).toHaveLength(1);
    });
  });

  describe('the API key', () => {
    const key = 'secret-key-that-must-not-leak-4711';

    it('is in no error, whatever the failure', async () => {
      const wrong = new SagaClient({ url: engine.url, apiKey: key });
      const refused = await rejection(wrong.get(engine.add()));
      expect(refused).toMatchObject({ status: 401, code: 'AUTH_REQUIRED', message: 'unknown API key' });
      expect(engine.requests[0].headers.authorization).toBe(`Bearer ${key}`);

      engine.stall = true;
      const timedOut = await rejection(new SagaClient({ url: engine.url, apiKey: key, timeoutMs: 50 }).get('x'));
      const waited = await rejection(wrong.waitFor(engine.add(), { timeout: 100 }));

      for (const err of [refused, timedOut, waited]) {
        expect(inspect(err, { depth: 10 })).not.toContain(key);
        expect(String(err.cause)).not.toContain(key);
      }
    });

    it('is not shown when the client is logged or serialized', () => {
      const client = new SagaClient({ url: engine.url, apiKey: key });
      expect(inspect(client, { depth: 10, showHidden: true })).not.toContain(key);
      expect(JSON.stringify(client)).not.toContain(key);
    });

    it('is checked at construction, without quoting it', () => {
      const build = (apiKey: string) => () => new SagaClient({ url: engine.url, apiKey });
      const message = 'apiKey must be a non-empty string of printable ASCII characters without spaces';
      expect(build(`${key}\n`)).toThrow(message);
      expect(build('')).toThrow(message);
      expect(() => new SagaClient({ url: 'sagas.internal', apiKey: key })).toThrow(
        'url must be an absolute http(s) URL, such as https://sagas.internal',
      );
      expect(() => new SagaClient({ url: `http://user:${key}@127.0.0.1`, apiKey: key })).toThrow(
        'url must not carry credentials: pass the API key as apiKey',
      );
    });
  });
});

describe('SagaClient over another transport', () => {
  it('needs nothing of HTTP: start, get and waitFor run on any SagaTransport', async () => {
    const view = (status: SagaView['status']): SagaView => ({
      id: 'saga-1',
      type: 'order',
      version: 1,
      status,
      input: {},
      output: null,
      error: null,
      createdAt: '2026-01-01T00:00:00.000Z',
      updatedAt: '2026-01-01T00:00:00.000Z',
      completedAt: null,
      steps: [],
    });
    const statuses: SagaView['status'][] = ['RUNNING', 'CANCELLED'];
    const calls: string[] = [];
    const transport: SagaTransport = {
      start: async (type, input, key) => {
        calls.push(`start ${type} ${JSON.stringify(input)} ${key}`);
        return { saga: view('RUNNING'), created: true };
      },
      get: async (id) => (id === 'saga-1' ? view(statuses.shift() ?? 'CANCELLED') : null),
      signal: async () => undefined,
      cancel: async () => view('COMPENSATING'),
      retry: async () => view('RUNNING'),
      resolve: async () => view('COMPENSATING'),
    };
    const client = new SagaClient(transport);

    const started = await client.start('order', { orderId: 'o-1' });
    expect(started).toMatchObject({ id: 'saga-1', created: true });
    expect(calls).toEqual(['start order {"orderId":"o-1"} null']);
    expect((await client.waitFor(started, { timeout: '1s' })).status).toBe('CANCELLED');
    await expect(client.get('saga-2')).rejects.toMatchObject({ name: 'SagaNotFoundError', code: 'SAGA_NOT_FOUND' });
  });

  it('says which method a transport without the reads across sagas lacks', async () => {
    const transport: SagaTransport = {
      start: async () => ({ saga: {} as SagaView, created: true }),
      get: async () => null,
      signal: async () => undefined,
      cancel: async () => ({}) as SagaView,
      retry: async () => ({}) as SagaView,
      resolve: async () => ({}) as SagaView,
    };
    const client = new SagaClient(transport);
    const message = (method: string) =>
      `this SagaClient's transport does not implement ${method}() (HttpSagaTransport does)`;

    await expect(client.list()).rejects.toThrow(new TypeError(message('list')));
    await expect(client.listAll().next()).rejects.toThrow(new TypeError(message('list')));
    await expect(client.events('saga-1')).rejects.toThrow(new TypeError(message('events')));
    await expect(client.sagaTypes()).rejects.toThrow(new TypeError(message('sagaTypes')));
    await expect(client.agents()).rejects.toThrow(new TypeError(message('agents')));
  });
});

describe('package boundaries', () => {
  it('keeps @nestjs out of the main entry point: only src/nestjs imports it', () => {
    const offenders: string[] = [];
    const walk = (dir: string) => {
      for (const entry of readdirSync(dir, { withFileTypes: true })) {
        const path = join(dir, entry.name);
        if (entry.isDirectory()) {
          if (entry.name !== 'nestjs') walk(path);
        } else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.spec.ts')) {
          if (/from '@nestjs\//.test(readFileSync(path, 'utf8'))) offenders.push(path);
        }
      }
    };
    walk(__dirname);
    expect(offenders).toEqual([]);
  });
});
