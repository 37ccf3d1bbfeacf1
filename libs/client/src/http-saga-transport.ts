import type {
  AgentView,
  BulkDryRunView,
  BulkJobView,
  ItemPage,
  SagaEventPage,
  SagaPage,
  SagaTypeView,
  SagaView,
} from './saga-view';
import { SagaApiError, createSagaApiError, SagaNotFoundError } from './errors';
import type {
  BulkActionRequest,
  SagaEventsQuery,
  SagaItemsQuery,
  SagaListQuery,
  SagaTransport,
  StartLater,
  TransportCallOptions,
} from './saga-transport';

/** How `SagaClient` (or `HttpSagaTransport`) reaches an engine over its REST API. */
export interface HttpSagaClientOptions {
  /** The engine's base URL (`https://sagas.internal`, or with a path prefix: `https://gw/sagas`). */
  url: string;
  /** An API key (`SAGA_API_KEYS`), sent as `Authorization: Bearer <key>`. Starting needs the `operator` role. */
  apiKey: string;
  /** The `fetch` to use (a proxy agent, instrumentation). Default: the global one. */
  fetch?: typeof fetch;
  /**
   * How long one request may take, body included, before it fails with `UNAVAILABLE`. Default 10 000 ms. A start
   * that timed out may still have started the saga: pass a `key` so that trying again is safe.
   */
  timeoutMs?: number;
}

export const DEFAULT_REQUEST_TIMEOUT_MS = 10_000;

// What the API accepts in a header; also keeps the key out of fetch's "invalid header value" errors, which quote it.
const API_KEY_PATTERN = /^[\x21-\x7e]+$/;

/** `SagaTransport` over the REST API (`/v1/sagas`), with global `fetch`. */
export class HttpSagaTransport implements SagaTransport {
  readonly #base: string;
  readonly #origin: string;
  // Private (#) so that the key shows in no console.log, util.inspect or JSON.stringify of the client.
  readonly #authorization: string;
  readonly #fetch: typeof fetch;
  readonly #timeoutMs: number;

  constructor(options: HttpSagaClientOptions) {
    let url: URL;
    try {
      url = new URL(options.url);
    } catch {
      throw new TypeError('url must be an absolute http(s) URL, such as https://sagas.internal');
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new TypeError(`url must be an absolute http(s) URL (got protocol ${JSON.stringify(url.protocol)})`);
    }
    if (url.search || url.hash) {
      throw new TypeError('url must be the base URL of the engine, without a query or fragment');
    }
    if (url.username || url.password) {
      throw new TypeError('url must not carry credentials: pass the API key as apiKey');
    }
    if (typeof options.apiKey !== 'string' || !API_KEY_PATTERN.test(options.apiKey)) {
      // Never the value: a near-miss key is still a secret.
      throw new TypeError('apiKey must be a non-empty string of printable ASCII characters without spaces');
    }
    const timeoutMs = options.timeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
    if (typeof timeoutMs !== 'number' || !Number.isFinite(timeoutMs) || timeoutMs <= 0) {
      throw new RangeError(`timeoutMs must be a number of milliseconds > 0 (got ${String(timeoutMs)})`);
    }
    this.#base = url.href.replace(/\/+$/, '');
    this.#origin = url.origin;
    this.#authorization = `Bearer ${options.apiKey}`;
    this.#fetch = options.fetch ?? fetch;
    this.#timeoutMs = timeoutMs;
  }

  async start(
    type: string,
    input: Record<string, unknown>,
    idempotencyKey: string | null,
    later?: StartLater,
  ): Promise<{ saga: SagaView; created: boolean }> {
    const body = { type, input, ...(idempotencyKey === null ? {} : { idempotencyKey }), ...later };
    const { status, json } = await this.request('POST', '/v1/sagas', body);
    return { saga: json as SagaView, created: status === 201 };
  }

  async get(id: string, options?: TransportCallOptions): Promise<SagaView | null> {
    try {
      return (await this.request('GET', `/v1/sagas/${seg(id, 'id')}`, undefined, options?.signal)).json as SagaView;
    } catch (err) {
      if (err instanceof SagaNotFoundError) return null;
      throw err;
    }
  }

  async signal(id: string, name: string, payload: Record<string, unknown> | undefined): Promise<void> {
    await this.request(
      'POST',
      `/v1/sagas/${seg(id, 'id')}/signals/${seg(name, 'name')}`,
      payload === undefined ? {} : { payload },
    );
  }

  async cancel(id: string, reason: string): Promise<SagaView> {
    return (await this.request('POST', `/v1/sagas/${seg(id, 'id')}/cancel`, { reason })).json as SagaView;
  }

  async retry(id: string, reason: string): Promise<SagaView> {
    return (await this.request('POST', `/v1/sagas/${seg(id, 'id')}/retry`, { reason })).json as SagaView;
  }

  async resolve(id: string, step: string, reason: string): Promise<SagaView> {
    return (await this.request('POST', `/v1/sagas/${seg(id, 'id')}/steps/${seg(step, 'step')}/resolve`, { reason }))
      .json as SagaView;
  }

  async retryFrom(id: string, step: string, reason: string): Promise<SagaView> {
    return (await this.request('POST', `/v1/sagas/${seg(id, 'id')}/steps/${seg(step, 'step')}/retry`, { reason }))
      .json as SagaView;
  }

  async skip(id: string, step: string, output: unknown, reason: string): Promise<SagaView> {
    const path = `/v1/sagas/${seg(id, 'id')}/steps/${seg(step, 'step')}/skip`;
    return (await this.request('POST', path, { reason, output })).json as SagaView;
  }

  async list(query: SagaListQuery, options?: TransportCallOptions): Promise<SagaPage> {
    const params = new URLSearchParams();
    if (query.type !== undefined) params.set('type', query.type);
    for (const status of query.status ?? []) params.append('status', status);
    if (query.createdAfter !== undefined) params.set('createdAfter', query.createdAfter);
    if (query.createdBefore !== undefined) params.set('createdBefore', query.createdBefore);
    if (query.businessKey !== undefined) params.set('businessKey', query.businessKey);
    for (const [name, value] of query.attributes ?? []) params.append(name, value);
    if (query.limit !== undefined) params.set('limit', String(query.limit));
    if (query.cursor !== undefined) params.set('cursor', query.cursor);
    return (await this.request('GET', `/v1/sagas${search(params)}`, undefined, options?.signal)).json as SagaPage;
  }

  async events(id: string, query: SagaEventsQuery, options?: TransportCallOptions): Promise<SagaEventPage> {
    const params = new URLSearchParams();
    if (query.afterSeq !== undefined) params.set('afterSeq', String(query.afterSeq));
    if (query.limit !== undefined) params.set('limit', String(query.limit));
    if (query.step !== undefined) params.set('step', query.step);
    if (query.item !== undefined) params.set('item', String(query.item));
    const path = `/v1/sagas/${seg(id, 'id')}/events${search(params)}`;
    return (await this.request('GET', path, undefined, options?.signal)).json as SagaEventPage;
  }

  async items(id: string, step: string, query: SagaItemsQuery, options?: TransportCallOptions): Promise<ItemPage> {
    const params = new URLSearchParams();
    for (const status of query.status ?? []) params.append('status', status);
    if (query.afterIndex !== undefined) params.set('afterIndex', String(query.afterIndex));
    if (query.limit !== undefined) params.set('limit', String(query.limit));
    const path = `/v1/sagas/${seg(id, 'id')}/steps/${seg(step, 'step')}/items${search(params)}`;
    return (await this.request('GET', path, undefined, options?.signal)).json as ItemPage;
  }

  async sagaTypes(options?: TransportCallOptions): Promise<SagaTypeView[]> {
    return (await this.request('GET', '/v1/saga-types', undefined, options?.signal)).json as SagaTypeView[];
  }

  async agents(options?: TransportCallOptions): Promise<AgentView[]> {
    const { json } = await this.request('GET', '/v1/agents', undefined, options?.signal);
    return (json as { items: AgentView[] }).items;
  }

  /** One request: the JSON of a 2xx, or a `SagaApiError` for anything else (never with the key in it). */
  async bulk(request: BulkActionRequest): Promise<BulkDryRunView | BulkJobView> {
    return (await this.request('POST', '/v1/bulk-actions', request)).json as BulkDryRunView | BulkJobView;
  }

  async bulkJob(id: string, options?: TransportCallOptions): Promise<BulkJobView | null> {
    try {
      const path = `/v1/bulk-actions/${seg(id, 'id')}`;
      return (await this.request('GET', path, undefined, options?.signal)).json as BulkJobView;
    } catch (err) {
      if (err instanceof SagaApiError && err.status === 404 && err.code === 'BULK_JOB_NOT_FOUND') return null;
      throw err;
    }
  }

  async bulkJobs(limit?: number, options?: TransportCallOptions): Promise<BulkJobView[]> {
    const path = `/v1/bulk-actions${limit === undefined ? '' : `?limit=${limit}`}`;
    return ((await this.request('GET', path, undefined, options?.signal)).json as { items: BulkJobView[] }).items;
  }

  async stopBulkJob(id: string, reason: string): Promise<BulkJobView> {
    return (await this.request('POST', `/v1/bulk-actions/${seg(id, 'id')}/cancel`, { reason })).json as BulkJobView;
  }

  private async request(
    method: 'GET' | 'POST',
    path: string,
    body: unknown,
    signal?: AbortSignal,
  ): Promise<{ status: number; json: unknown }> {
    const what = `${method} ${path}`;
    const timeout = AbortSignal.timeout(this.#timeoutMs);
    const headers: Record<string, string> = { accept: 'application/json', authorization: this.#authorization };
    if (body !== undefined) headers['content-type'] = 'application/json';
    let status: number;
    let text: string;
    let location: string | null;
    try {
      const res = await this.#fetch(this.#base + path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: signal ? AbortSignal.any([timeout, signal]) : timeout,
        // A redirect is a misconfigured url: say so, rather than follow it with the key or turn a POST into a GET.
        redirect: 'manual',
      });
      status = res.status;
      location = res.headers.get('location');
      text = await res.text();
    } catch (err) {
      const reason = timeout.aborted
        ? `no answer within ${this.#timeoutMs} ms`
        : signal?.aborted
          ? 'abandoned by the caller'
          : `no answer (${failureOf(err)})`;
      throw new SagaApiError(0, 'UNAVAILABLE', `${what}: ${reason} from ${this.#origin}`, { cause: err });
    }
    let json: unknown;
    try {
      json = text === '' ? undefined : JSON.parse(text);
    } catch {
      json = undefined;
    }
    if (status >= 200 && status < 300) {
      if (json === undefined) {
        throw new SagaApiError(status, 'UNEXPECTED_RESPONSE', `${what}: answered ${status} without a JSON body`);
      }
      return { status, json };
    }
    const error = json as { code?: unknown; message?: unknown } | undefined;
    if (typeof error?.code === 'string' && typeof error.message === 'string') {
      throw createSagaApiError(status, error.code, error.message);
    }
    if (status >= 300 && status < 400) {
      throw new SagaApiError(
        status,
        'UNEXPECTED_RESPONSE',
        `${what}: answered ${status}, a redirect${location ? ` to ${location}` : ''}: point url at the engine itself`,
      );
    }
    // Not the API's error shape: a proxy or load balancer answered. Its body is not ours to echo.
    throw createSagaApiError(status, 'UNEXPECTED_RESPONSE', `${what}: answered ${status} without the API's error body`);
  }
}

/** A path segment: ids, signal and step names are encoded, so none can step out of its route. */
function seg(value: string, field: string): string {
  const text = String(value);
  // URLs resolve "." and ".." segments, which would send the request to another route ("%2e" arrives encoded).
  if (text === '' || text === '.' || text === '..') {
    throw new SagaApiError(400, 'INPUT_INVALID', `${field} must not be empty, "." or ".."`);
  }
  return encodeURIComponent(text);
}

/** `?a=1&b=2`, or nothing when there are no parameters. */
function search(params: URLSearchParams): string {
  const text = params.toString();
  return text === '' ? '' : `?${text}`;
}

/**
 * The cause of a fetch failure in a few words (`connect ECONNREFUSED 127.0.0.1:1`), from undici's `cause` chain.
 * Read by shape: errors from another realm (a vm context, a test runner) fail `instanceof Error`.
 */
function failureOf(err: unknown): string {
  let current: unknown = err;
  let message = 'fetch failed';
  for (let depth = 0; depth < 3 && typeof current === 'object' && current !== null; depth++) {
    const { message: text, cause } = current as { message?: unknown; cause?: unknown };
    if (typeof text === 'string' && text !== '') message = text;
    current = cause;
  }
  return message;
}
