import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { toErrorInfo } from '@saga-engine/sdk';
import { http } from './http-invoker';
import { ParticipantPolicies } from './participant-policies';

type Handler = (req: IncomingMessage, body: string, res: ServerResponse) => void;

/** A real HTTP participant on loopback whose answer each test sets. */
class Participant {
  handler: Handler = (_req, _body, res) => res.end();
  readonly seen: { method: string; url: string; key: string | undefined; body: string }[] = [];
  readonly traceparents: (string | undefined)[] = [];
  private readonly server: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString('utf8')));
    req.on('end', () => {
      this.seen.push({
        method: req.method ?? '',
        url: req.url ?? '',
        key: req.headers['idempotency-key'] as string | undefined,
        body,
      });
      this.traceparents.push(req.headers.traceparent as string | undefined);
      this.handler(req, body, res);
    });
  });

  async listen(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/v1/transport/`;
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

const json = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
};

/** What a step records when the call throws. */
async function failure(promise: Promise<unknown>) {
  try {
    await promise;
  } catch (error) {
    return toErrorInfo(error);
  }
  throw new Error('the call did not fail');
}

describe('http invoker (a real server on 127.0.0.1)', () => {
  const participant = new Participant();
  let baseUrl: string;
  let policies: ParticipantPolicies;

  beforeAll(async () => {
    baseUrl = await participant.listen();
  });
  afterAll(() => participant.close());
  beforeEach(() => {
    policies = new ParticipantPolicies({ consecutiveFailures: 2, halfOpenAfterMs: 200 });
    participant.seen.length = 0;
  });

  const transport = () => http({ participant: 'transport', baseUrl, policies });
  const book = (key = 'saga-1:book-ground-transport', signal?: AbortSignal) =>
    transport().call<{ bookingId: string }>({ path: '/bookings', body: { weightKg: 30 }, idempotencyKey: key, signal });

  it('posts JSON with the Idempotency-Key header and returns the JSON answer', async () => {
    participant.handler = (_req, body, res) => json(res, 201, { bookingId: 'b-1', echo: JSON.parse(body) });
    await expect(book()).resolves.toEqual({ bookingId: 'b-1', echo: { weightKg: 30 } });
    expect(participant.seen).toEqual([
      { method: 'POST', url: '/v1/transport/bookings', key: 'saga-1:book-ground-transport', body: '{"weightKg":30}' },
    ]);
  });

  it('sends the W3C traceparent header when given one, and none without a span', async () => {
    participant.handler = (_req, _body, res) => json(res, 200, {});
    participant.traceparents.length = 0;
    const traceparent = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
    await transport().call({ path: '/bookings', body: {}, idempotencyKey: 'k', traceparent });
    await transport().call({ path: '/bookings', body: {}, idempotencyKey: 'k' });
    expect(participant.traceparents).toEqual([traceparent, undefined]);
  });

  it('returns undefined for an empty answer', async () => {
    participant.handler = (_req, _body, res) => {
      res.statusCode = 204;
      res.end();
    };
    await expect(transport().call({ method: 'DELETE', path: '/bookings/b-1', idempotencyKey: 'k' })).resolves.toBe(
      undefined,
    );
  });

  it.each([
    [404, { code: 'BOOKING_UNKNOWN', message: 'no such booking' }, 'BOOKING_UNKNOWN', false],
    [400, { message: 'weightKg too high' }, 'HTTP_400', false],
    [409, 'not json', 'HTTP_409', false],
    [408, {}, 'HTTP_408', true],
    [500, { message: 'boom' }, 'HTTP_500', true],
    [503, { code: 'MAINTENANCE' }, 'MAINTENANCE', true],
  ])('classifies %i %j as %s (retryable: %s)', async (status, body, code, retryable) => {
    participant.handler = (_req, _body, res) => json(res, status, body);
    const error = await failure(book());
    expect(error).toMatchObject({ code, retryable });
    expect(error.message).toContain(`participant "transport": POST /bookings answered ${status}`);
  });

  it('keeps the participant’s message in the error', async () => {
    participant.handler = (_req, _body, res) => json(res, 404, { code: 'BOOKING_UNKNOWN', message: 'no such booking' });
    expect((await failure(book())).message).toBe(
      'participant "transport": POST /bookings answered 404: no such booking',
    );
  });

  it('honours Retry-After on 429 (seconds) and on 503 (an HTTP date)', async () => {
    participant.handler = (_req, _body, res) => json(res, 429, {}, { 'retry-after': '2' });
    expect(await failure(book())).toMatchObject({ code: 'RATE_LIMITED', retryable: true, retryAfterMs: 2000 });
    const at = new Date(Date.now() + 30_000).toUTCString();
    participant.handler = (_req, _body, res) => json(res, 503, {}, { 'retry-after': at });
    const error = await failure(book());
    expect(error).toMatchObject({ code: 'HTTP_503', retryable: true });
    expect(error.retryAfterMs).toBeGreaterThan(25_000);
    expect(error.retryAfterMs).toBeLessThanOrEqual(30_000);
  });

  it('turns an abort of the step’s signal into a transient TIMEOUT', async () => {
    participant.handler = (_req, _body, res) => setTimeout(() => json(res, 200, {}), 2_000).unref();
    const error = await failure(book('k', AbortSignal.timeout(100)));
    expect(error).toMatchObject({ code: 'TIMEOUT', retryable: true });
    expect(error.message).toContain('call aborted');
  });

  it('turns a refused connection into a transient error with the socket’s code', async () => {
    const closed = new Participant();
    const url = await closed.listen();
    await closed.close();
    const error = await failure(
      http({ participant: 'gone', baseUrl: url, policies }).call({ path: '/x', idempotencyKey: 'k' }),
    );
    expect(error).toMatchObject({ code: 'ECONNREFUSED', retryable: true });
  });

  it('opens the circuit after consecutive transient failures, fails fast with CIRCUIT_OPEN, and closes again', async () => {
    participant.handler = (_req, _body, res) => json(res, 503, {});
    expect((await failure(book())).code).toBe('HTTP_503');
    expect(policies.states()).toEqual([{ participant: 'transport', state: 'closed' }]);
    expect((await failure(book())).code).toBe('HTTP_503');
    expect(policies.states()).toEqual([{ participant: 'transport', state: 'open' }]);

    const hits = participant.seen.length;
    const open = await failure(book());
    expect(open).toMatchObject({ code: 'CIRCUIT_OPEN', retryable: true, name: 'RetryableError' });
    expect(open.message).toBe('participant "transport": circuit open, failing fast');
    expect(participant.seen.length).toBe(hits); // nothing was sent

    participant.handler = (_req, _body, res) => json(res, 200, { bookingId: 'b-2' });
    await new Promise((resolve) => setTimeout(resolve, 250)); // halfOpenAfterMs
    await expect(book()).resolves.toEqual({ bookingId: 'b-2' });
    expect(policies.states()).toEqual([{ participant: 'transport', state: 'closed' }]);
  });

  it('does not open the circuit on definite answers nor on rate limits', async () => {
    participant.handler = (_req, _body, res) => json(res, 422, { code: 'TOO_HEAVY' });
    for (let i = 0; i < 3; i++) expect((await failure(book())).code).toBe('TOO_HEAVY');
    participant.handler = (_req, _body, res) => json(res, 429, {});
    for (let i = 0; i < 3; i++) expect((await failure(book())).code).toBe('RATE_LIMITED');
    expect(policies.states()).toEqual([{ participant: 'transport', state: 'closed' }]);
  });

  it('keeps one breaker per participant, shared by its invokers', async () => {
    participant.handler = (_req, _body, res) => json(res, 500, {});
    await failure(book());
    await failure(http({ participant: 'transport', baseUrl, policies }).call({ path: '/y', idempotencyKey: 'k' }));
    await failure(http({ participant: 'other', baseUrl, policies }).call({ path: '/z', idempotencyKey: 'k' }));
    expect(policies.states()).toEqual([
      { participant: 'transport', state: 'open' },
      { participant: 'other', state: 'closed' },
    ]);
  });

  it('limits calls in flight per participant: beyond the limit and queue, BULKHEAD_FULL (transient)', async () => {
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => (release = resolve));
    participant.handler = (_req, _body, res) => void gate.then(() => json(res, 200, { ok: true }));
    const limited = http({
      participant: 'limited',
      baseUrl,
      policies,
      policy: { maxConcurrent: 1, maxQueued: 1 },
    });
    const call = () => limited.call({ path: '/slow', idempotencyKey: 'k' });
    const first = call();
    const queued = call();
    expect(await failure(call())).toMatchObject({ code: 'BULKHEAD_FULL', retryable: true });
    release();
    await expect(first).resolves.toEqual({ ok: true });
    await expect(queued).resolves.toEqual({ ok: true });
  });
});

describe('ParticipantPolicies: who hears of a circuit change', () => {
  it('tells listeners when a breaker is created and on every change, with the time it changed', async () => {
    const policies = new ParticipantPolicies({ consecutiveFailures: 1, halfOpenAfterMs: 50 });
    const changes: { participant: string; state: string; since: Date | null }[] = [];
    const stop = policies.onChange((c) => changes.push(c));
    const policy = policies.for('drone');
    expect(changes).toEqual([{ participant: 'drone', state: 'closed', since: null }]);
    await expect(policy.execute(() => Promise.reject(new Error('down')))).rejects.toThrow('down');
    expect(changes.at(-1)).toEqual({ participant: 'drone', state: 'open', since: expect.any(Date) });
    expect(policies.details()).toEqual([{ participant: 'drone', state: 'open', since: changes.at(-1)!.since }]);
    await new Promise((resolve) => setTimeout(resolve, 80));
    await expect(policy.execute(() => Promise.resolve('up'))).resolves.toBe('up');
    expect(changes.map((c) => c.state)).toEqual(['closed', 'open', 'half-open', 'closed']);
    stop();
    policies.for('other');
    expect(changes).toHaveLength(4);
  });
});
