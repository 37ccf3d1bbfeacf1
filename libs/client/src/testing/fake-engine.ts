import { randomUUID } from 'node:crypto';
import { createServer, STATUS_CODES, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { AgentView, ItemView, SagaEventView, SagaStatus, SagaTypeView, SagaView, StepView } from '../saga-view';

/*
 * A stand-in for the engine's REST API on a real `node:http` server (127.0.0.1, ephemeral port), for the client's
 * unit tests: the routes, status codes, error bodies and messages of `libs/nestjs/src/api/sagas/*.controller.ts`,
 * over an in-memory map of sagas that a test steers (`script`, `stall`, `answerNext`). No mock of fetch: the
 * client's requests cross a real socket.
 */

export interface RecordedRequest {
  method: string;
  /** Path and query as received (`/v1/sagas/<id>/cancel`). */
  path: string;
  headers: IncomingHttpHeaders;
  /** The parsed JSON body, or undefined when there was none. */
  body: unknown;
}

interface FakeSaga {
  view: SagaView<unknown, unknown>;
  /** Statuses the next GETs return, one per GET; the last one stays. */
  script: SagaStatus[];
  /** Its output once a GET makes it COMPLETED. */
  output: unknown;
  /** The signal its waiting step waits for, if any. */
  waitingFor: string | null;
  idempotencyKey: string | null;
  requestHash: string;
  /** Its history, `seq` from 1. */
  events: SagaEventView[];
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const FINAL = ['COMPLETED', 'COMPENSATED', 'CANCELLED'];

class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export class FakeEngine {
  readonly apiKey = 'fake-engine-key-7f3a9c';
  readonly requests: RecordedRequest[] = [];
  /** When true, requests are received and recorded but never answered. */
  stall = false;
  /** Raw answers for the next requests, in order, before any routing (a proxy's 502, a 503). */
  readonly answerNext: { status: number; body: string; contentType?: string }[] = [];
  /** Path prefix the engine is mounted under (`/gw`), as behind a gateway. */
  prefix = '';
  /** What `GET /v1/saga-types` answers. */
  sagaTypes: SagaTypeView[] = [];
  /** What `GET /v1/agents` answers (as `items`). */
  agents: AgentView[] = [];
  /** What `GET /v1/sagas/{id}/steps/{step}/items` pages through, by `<id>/<step>`. */
  items = new Map<string, ItemView[]>();
  private readonly sagas = new Map<string, FakeSaga>();

  private constructor(
    private readonly server: Server,
    readonly url: string,
  ) {}

  static async start(): Promise<FakeEngine> {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    const engine = new FakeEngine(server, `http://127.0.0.1:${port}`);
    server.on('request', (req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let body: unknown;
        try {
          body = text === '' ? undefined : JSON.parse(text);
        } catch {
          body = { $invalid: text };
        }
        const recorded = { method: req.method ?? '', path: req.url ?? '', headers: req.headers, body };
        engine.requests.push(recorded);
        engine.answer(recorded, res);
      });
    });
    return engine;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
  }

  /** Puts a saga in the store (RUNNING unless said otherwise) and returns its id. */
  add(
    options: { type?: string; status?: SagaStatus; waitingFor?: string; steps?: StepView[]; createdAt?: string } = {},
  ): string {
    const id = randomUUID();
    const now = options.createdAt ?? new Date().toISOString();
    const status = options.status ?? 'RUNNING';
    this.sagas.set(id, {
      view: {
        id,
        type: options.type ?? 'order',
        version: 1,
        status,
        input: {},
        output: null,
        error: null,
        createdAt: now,
        updatedAt: now,
        completedAt: FINAL.includes(status) ? now : null,
        steps: options.steps ?? [],
      },
      script: [],
      output: { done: true },
      waitingFor: options.waitingFor ?? null,
      idempotencyKey: null,
      requestHash: '',
      events: [{ seq: 1, type: 'SagaStarted', step: null, attempt: null, at: now, data: null }],
    });
    return id;
  }

  /** Appends an event to the saga's history and returns its `seq`. */
  event(id: string, type: string, step: string | null = null, data: Record<string, unknown> | null = null): number {
    const saga = this.saga(id);
    const seq = saga.events.length + 1;
    saga.events.push({ seq, type, step, attempt: step === null ? null : 1, at: new Date().toISOString(), data });
    return seq;
  }

  /** The statuses the saga's next GETs return, one each; the last one stays. `output` is its output if COMPLETED. */
  script(id: string, statuses: SagaStatus[], output?: unknown): void {
    const saga = this.saga(id);
    saga.script.push(...statuses);
    if (output !== undefined) saga.output = output;
  }

  /** The GETs of one saga received so far. */
  polls(id: string): number {
    return this.requests.filter((r) => r.method === 'GET' && r.path === `${this.prefix}/v1/sagas/${id}`).length;
  }

  private saga(id: string): FakeSaga {
    const saga = this.sagas.get(id);
    if (!saga) throw new Error(`no saga ${id} in the fake engine`);
    return saga;
  }

  private answer(req: RecordedRequest, res: ServerResponse): void {
    if (this.stall) return;
    const raw = this.answerNext.shift();
    if (raw) {
      res.writeHead(raw.status, { 'content-type': raw.contentType ?? 'text/html' }).end(raw.body);
      return;
    }
    try {
      const { status, body } = this.route(req);
      send(res, status, body);
    } catch (err) {
      if (!(err instanceof HttpError)) throw err;
      send(res, err.status, {
        statusCode: err.status,
        error: STATUS_CODES[err.status],
        message: err.message,
        code: err.code,
      });
    }
  }

  private route(req: RecordedRequest): { status: number; body: unknown } {
    const header = req.headers.authorization;
    if (!header?.startsWith('Bearer '))
      throw new HttpError(401, 'AUTH_REQUIRED', 'missing API key: send "Authorization: Bearer <key>"');
    if (header !== `Bearer ${this.apiKey}`) throw new HttpError(401, 'AUTH_REQUIRED', 'unknown API key');
    if (!req.path.startsWith(`${this.prefix}/`))
      throw new HttpError(404, 'NOT_FOUND', `Cannot ${req.method} ${req.path}`);
    const url = new URL(req.path.slice(this.prefix.length), 'http://fake');
    const parts = url.pathname.split('/').slice(1).map(decodeURIComponent);
    if (req.method === 'POST' && req.headers['content-type'] !== 'application/json') {
      throw new HttpError(415, 'UNSUPPORTED_MEDIA_TYPE', 'request body must be application/json');
    }
    const body = (req.body ?? {}) as Record<string, unknown>;
    const [v1, sagas, id, action, name, last] = parts;
    if (req.method === 'GET' && v1 === 'v1' && parts.length === 2) {
      if (sagas === 'saga-types') return { status: 200, body: this.sagaTypes };
      if (sagas === 'agents') return { status: 200, body: { items: this.agents } };
    }
    if (v1 !== 'v1' || sagas !== 'sagas') throw new HttpError(404, 'NOT_FOUND', `Cannot ${req.method} ${req.path}`);
    if (req.method === 'POST' && parts.length === 2) return this.start(body);
    if (req.method === 'GET' && parts.length === 2) return this.list(url.searchParams);
    if (!UUID.test(id ?? '')) throw new HttpError(400, 'INPUT_INVALID', 'id must be a UUID');
    const saga = this.sagas.get(id);
    const found = () => {
      if (!saga) throw new HttpError(404, 'SAGA_NOT_FOUND', `saga ${id} not found`);
      return saga;
    };
    if (req.method === 'GET' && parts.length === 3) {
      const s = found();
      const next = s.script.length > 1 ? s.script.shift() : s.script[0];
      if (next) s.view = { ...s.view, status: next, output: next === 'COMPLETED' ? s.output : null };
      return { status: 200, body: s.view };
    }
    if (req.method === 'GET' && action === 'events' && parts.length === 4) {
      const s = found();
      const afterSeq = intParam(url.searchParams, 'afterSeq', 0, Number.MAX_SAFE_INTEGER, 'an integer >= 0') ?? 0;
      const limit = intParam(url.searchParams, 'limit', 1, 1000, 'an integer between 1 and 1000') ?? 1000;
      const items = s.events.filter((e) => e.seq > afterSeq).slice(0, limit);
      return {
        status: 200,
        body: { items, nextAfterSeq: items.length === limit ? items[items.length - 1].seq : null },
      };
    }
    if (req.method === 'GET' && action === 'steps' && last === 'items' && parts.length === 6) {
      found();
      const all = this.items.get(`${id}/${name}`) ?? [];
      const statuses = url.searchParams.getAll('status');
      const afterIndex =
        intParam(url.searchParams, 'afterIndex', -1, Number.MAX_SAFE_INTEGER, 'an integer >= -1') ?? -1;
      const limit = intParam(url.searchParams, 'limit', 1, 500, 'an integer between 1 and 500') ?? 100;
      const page = all
        .filter((i) => i.index > afterIndex && (statuses.length === 0 || statuses.includes(i.status)))
        .slice(0, limit);
      const counts: Record<string, number> = {};
      for (const i of all) counts[i.status] = (counts[i.status] ?? 0) + 1;
      return {
        status: 200,
        body: {
          total: all.length,
          counts,
          items: page,
          nextAfterIndex: page.length === limit ? page[page.length - 1].index : null,
        },
      };
    }
    if (req.method !== 'POST') throw new HttpError(404, 'NOT_FOUND', `Cannot ${req.method} ${req.path}`);
    if (action === 'signals' && parts.length === 5) {
      const s = found();
      if (s.waitingFor !== name) throw new HttpError(409, 'NOT_WAITING', `no step waits for signal "${name}"`);
      s.waitingFor = null;
      return { status: 202, body: s.view };
    }
    const reason = typeof body.reason === 'string' ? body.reason.trim() : undefined;
    if (reason === undefined)
      throw new HttpError(400, 'INPUT_INVALID', 'reason must be a string of 1 to 500 characters');
    if (reason === '') throw new HttpError(400, 'INPUT_INVALID', 'reason must not be empty');
    if (action === 'cancel' && parts.length === 4) {
      const s = found();
      if (s.view.status !== 'RUNNING') throw new HttpError(409, 'INVALID_STATE', `saga is ${s.view.status}`);
      s.view = { ...s.view, status: 'COMPENSATING' };
      return { status: 202, body: s.view };
    }
    if (action === 'retry' && parts.length === 4) {
      const s = found();
      if (s.view.status !== 'FAILED') throw new HttpError(409, 'INVALID_STATE', `saga is ${s.view.status}`);
      s.view = { ...s.view, status: 'COMPENSATING' };
      return { status: 202, body: s.view };
    }
    if (action === 'steps' && (last === 'retry' || last === 'skip') && parts.length === 6) {
      const s = found();
      if (!s.view.steps.some((st) => st.name === name)) {
        throw new HttpError(404, 'STEP_NOT_FOUND', `saga ${id} (${s.view.type} v1) has no step "${name}"`);
      }
      if (last === 'skip' && !Object.hasOwn(body, 'output')) {
        throw new HttpError(400, 'INPUT_INVALID', 'output is required');
      }
      const allowed = last === 'retry' ? ['FAILED', 'COMPLETED'] : ['FAILED', 'RUNNING'];
      if (!allowed.includes(s.view.status)) throw new HttpError(409, 'INVALID_STATE', `saga is ${s.view.status}`);
      s.view = { ...s.view, status: 'RUNNING' };
      return { status: 202, body: s.view };
    }
    if (action === 'steps' && last === 'resolve' && parts.length === 6) {
      const s = found();
      const step = s.view.steps.find((st) => st.name === name);
      if (!step) {
        throw new HttpError(404, 'STEP_NOT_FOUND', `saga ${id} (${s.view.type} v1) has no step "${name}"`);
      }
      if (step.compensation?.status !== 'FAILED') {
        throw new HttpError(409, 'INVALID_STATE', `compensation of step ${name} is not FAILED`);
      }
      step.compensation = { ...step.compensation, status: 'RESOLVED' };
      return { status: 202, body: s.view };
    }
    throw new HttpError(404, 'NOT_FOUND', `Cannot ${req.method} ${req.path}`);
  }

  /** `GET /v1/sagas`: newest first, filtered; the cursor is the last id of the page (the engine's is signed). */
  private list(query: URLSearchParams): { status: number; body: unknown } {
    const type = query.get('type');
    const statuses = query.getAll('status');
    const after = query.get('createdAfter');
    const before = query.get('createdBefore');
    const limit = intParam(query, 'limit', 1, 200, 'an integer between 1 and 200') ?? 50;
    const cursor = query.get('cursor');
    const businessKey = query.get('businessKey');
    // Equality on the attributes a scripted view carries (the fake has no declarations to check ranges against).
    const attributes = [...query.entries()].filter(([name]) => name.startsWith('attr.'));
    if (attributes.some(([name]) => name.split('.').length !== 2)) {
      throw new HttpError(400, 'INPUT_INVALID', 'the fake engine filters attributes by equality only (attr.<name>)');
    }
    let items = [...this.sagas.values()]
      .map((s) => s.view)
      .sort((a, b) => b.createdAt.localeCompare(a.createdAt) || b.id.localeCompare(a.id))
      .filter(
        (v) =>
          (businessKey === null || v.businessKey === businessKey) &&
          attributes.every(([name, value]) => String(v.attributes?.[name.slice(5)]) === value) &&
          (type === null || v.type === type) &&
          (statuses.length === 0 || statuses.includes(v.status)) &&
          (after === null || v.createdAt > after) &&
          (before === null || v.createdAt < before),
      );
    if (cursor !== null) {
      const at = items.findIndex((v) => v.id === cursor);
      if (at < 0) throw new HttpError(400, 'INPUT_INVALID', 'cursor is invalid');
      items = items.slice(at + 1);
    }
    const page = items.slice(0, limit);
    const summaries = page.map(({ input: _input, output: _output, steps: _steps, ...summary }) => summary);
    const nextCursor = items.length > limit ? page[page.length - 1].id : null;
    return { status: 200, body: { items: summaries, nextCursor } };
  }

  /** `POST /v1/sagas`: the registered type `order` wants `{ orderId: string }`. */
  private start(body: Record<string, unknown>): { status: number; body: unknown } {
    const { type, input, idempotencyKey } = body;
    if (type !== 'order') {
      throw new HttpError(
        400,
        'SAGA_TYPE_UNKNOWN',
        'type is not a registered saga type (GET /v1/saga-types lists them)',
      );
    }
    if (typeof input !== 'object' || input === null || Array.isArray(input)) {
      throw new HttpError(400, 'INPUT_INVALID', 'input must be a JSON object');
    }
    if (typeof (input as { orderId?: unknown }).orderId !== 'string') {
      throw new HttpError(400, 'INPUT_INVALID', 'orderId must be a string');
    }
    const hash = JSON.stringify([type, input]);
    if (typeof idempotencyKey === 'string') {
      const prior = [...this.sagas.values()].find((s) => s.idempotencyKey === idempotencyKey);
      if (prior && prior.requestHash !== hash) {
        throw new HttpError(
          409,
          'IDEMPOTENCY_CONFLICT',
          `idempotencyKey was already used to start saga ${prior.view.id} with another type or input`,
        );
      }
      if (prior) return { status: 200, body: prior.view };
    }
    const id = this.add({ type });
    const saga = this.saga(id);
    saga.view = { ...saga.view, input };
    saga.idempotencyKey = typeof idempotencyKey === 'string' ? idempotencyKey : null;
    saga.requestHash = hash;
    return { status: 201, body: saga.view };
  }
}

/** An integer query parameter in [min, max], or undefined when absent; a 400 naming it otherwise. */
function intParam(query: URLSearchParams, name: string, min: number, max: number, what: string): number | undefined {
  const text = query.get(name);
  if (text === null) return undefined;
  const value = Number(text);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new HttpError(400, 'INPUT_INVALID', `${name} must be ${what}`);
  }
  return value;
}

function send(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8' }).end(JSON.stringify(body));
}
