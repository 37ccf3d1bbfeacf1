import { parseDuration, type Duration, type InputOf, type OutputOf, type SagaDefinition } from '@saga-engine/core';
import { SagaApiError, SagaNotFoundError, SagaWaitTimeoutError, createSagaApiError } from './errors';
import { HttpSagaTransport, type HttpSagaClientOptions } from './http-saga-transport';
import type { BulkActionRequest, SagaTransport } from './saga-transport';
import type {
  BulkDryRunView,
  BulkJobView,
  AgentView,
  ItemPage,
  SagaEventPage,
  SagaPage,
  SagaStatus,
  SagaSummaryView,
  SagaTypeView,
  SagaView,
  StartedSaga,
  StepStatus,
} from './saga-view';

/** Any saga definition, whatever its input and output types. */
export type AnySagaDefinition = SagaDefinition<any, any>;

export interface StartOptions {
  /**
   * Idempotency key (1 to 200 printable ASCII characters, no spaces), e.g. your order id. Starting again with the
   * same key and input returns the saga the first call started (`created: false`) instead of starting another;
   * the same key with another type or input is a `SagaConflictError` (`IDEMPOTENCY_CONFLICT`). Pass one whenever a
   * start may be repeated: a retried request, a redelivered message.
   */
  key?: string;
  /**
   * Start later, at this instant: the saga is DELAYED until then (at most 60 s past, 366 days ahead), and can be
   * cancelled before it starts. Not with `startIn`.
   */
  startAt?: Date | string;
  /** Start later, after this long (`'10m'`, `'2h'`, or milliseconds; 0 to 366 days, database clock). */
  startIn?: Duration;
  /**
   * Start this version of the type rather than the newest (e.g. while a new version is rolled out). It must be
   * registered (`GET /v1/saga-types/{type}/versions/{version}`); a 400 `SAGA_TYPE_UNKNOWN` otherwise.
   */
  version?: number;
}

export interface WaitForOptions {
  /** How long to wait, requests included (`'30s'`, `'5m'`, or milliseconds). Must be > 0. */
  timeout: Duration;
  /**
   * The statuses to wait for. Default: COMPLETED, COMPENSATED, CANCELLED (the final ones) and FAILED (it needs an
   * operator, who may retry it). A saga in a final status that is not listed returns too: it cannot change again.
   */
  until?: readonly SagaStatus[];
}

export interface OperatorActionOptions {
  /** Why, in your words (1 to 500 characters, no line breaks): kept in the audit log and the saga's history. */
  reason: string;
}

/** A skip's reason and the output the skipped step is to have. */
export interface SkipOptions extends OperatorActionOptions {
  /** The step's output as later steps read it: any JSON value (`null` for none), at most 256 KiB. */
  output: unknown;
}

/** Which sagas `list` and `listAll` return. Every field is optional; together they narrow (AND). */
export interface ListSagasOptions {
  /** Only sagas of this type. */
  type?: string;
  /** Only sagas in one of these statuses. */
  status?: SagaStatus | readonly SagaStatus[];
  /** Only sagas created after this instant (a Date, or an ISO-8601 date-time). */
  createdAfter?: Date | string;
  /** Only sagas created before this instant. */
  createdBefore?: Date | string;
  /** Only the sagas with this business key (their type's `businessKey` input field), of every type. */
  businessKey?: string;
  /**
   * Conditions on search attributes, by name (needs `type`: attributes are declared per type, and
   * `GET /v1/saga-types/{type}` lists them): a value is equality (`{ tier: 'gold', express: true }`), an object of
   * bounds a range for number and datetime attributes (`{ amount: { gte: 100, lt: 500 } }`, `{ placedAt: { gte:
   * new Date('2026-12-01') } }`). Every condition must hold. An unknown attribute or a value of the wrong type is a
   * 400 naming it (`attr.tier`).
   */
  attributes?: Readonly<Record<string, AttributeCondition>>;
  /** Sagas per page, 1 to 200. Default 50 (the API's). */
  limit?: number;
  /** `nextCursor` of the previous page (`list` only: `listAll` follows the cursors itself). */
  cursor?: string;
}

/** A search attribute's value as a filter: equality. A Date is sent as ISO-8601. */
export type AttributeValue = string | number | boolean | Date;
/** Equality, or bounds (number and datetime attributes). */
export type AttributeCondition =
  | AttributeValue
  | {
      gt?: number | Date | string;
      gte?: number | Date | string;
      lt?: number | Date | string;
      lte?: number | Date | string;
    };

export interface ListEventsOptions {
  /** Events after this sequence number. Default 0: from the first. */
  afterSeq?: number;
  /** Events per page, 1 to 1000. Default 1000. */
  limit?: number;
  /** Only this step's entries. */
  step?: string;
  /** Only this fan-out item's entries (its index; with `step`): the item's own attempt history. */
  item?: number;
}

/** A page of a fan-out step's items (`SagaClient.items`). */
export interface ListItemsOptions {
  /** Only items in this status, or in any of these. */
  status?: StepStatus | readonly StepStatus[];
  /** Items after this index: the previous page's `nextAfterIndex`. Default: from the first. */
  afterIndex?: number;
  /** Items per page, 1 to 500. Default 100. */
  limit?: number;
}

/** The statuses no saga leaves. */
const FINAL: readonly SagaStatus[] = ['COMPLETED', 'COMPENSATED', 'CANCELLED'];
/** What `waitFor` waits for by default: the final statuses, and FAILED, where the saga waits for a human. */
export const SETTLED_STATUSES: readonly SagaStatus[] = [...FINAL, 'FAILED'];

const FIRST_POLL_DELAY_MS = 50;
const MAX_POLL_DELAY_MS = 1_000;

/**
 * Starts and follows sagas from another service, over the REST API (`{ url, apiKey }`) or any `SagaTransport`.
 *
 * Typed by the saga's definition when you have it (`import { orderSaga } from '...'`): `start(orderSaga, input)`
 * checks `input` against the saga's input class and types the view's `output` by its steps. Only the definition's
 * `name` is sent; the code of its steps stays where it is. By name (`start('order', input)`) it is untyped.
 *
 * Every refusal is a `SagaApiError` with the API's `status` and `code` (`SagaNotFoundError`, `SagaConflictError`);
 * no answer is status 0, `UNAVAILABLE`. Nothing is retried by the client: a start is safe to repeat with a `key`.
 */
export class SagaClient {
  readonly #transport: SagaTransport;

  constructor(options: HttpSagaClientOptions | SagaTransport) {
    this.#transport = isTransport(options) ? options : new HttpSagaTransport(options);
  }

  /**
   * Starts a saga. With a definition, `input` must be its input type, and the view is typed by it.
   *
   * @returns the saga as it is now (RUNNING, usually), with `created`: false when `options.key` was replayed.
   * @throws SagaApiError 400 `SAGA_TYPE_UNKNOWN` or `INPUT_INVALID` (the message names the field);
   *   SagaConflictError `IDEMPOTENCY_CONFLICT`; 401/403 for a missing key or a role below `operator`.
   */
  start<D extends AnySagaDefinition>(
    saga: D,
    input: InputOf<D>,
    options?: StartOptions,
  ): Promise<StartedSaga<OutputOf<D>, InputOf<D>>>;
  start(type: string, input: Record<string, unknown>, options?: StartOptions): Promise<StartedSaga>;
  async start(
    saga: string | AnySagaDefinition,
    input: unknown,
    options: StartOptions = {},
  ): Promise<StartedSaga<unknown, unknown>> {
    const type = typeof saga === 'string' ? saga : saga.name;
    const startAt = options.startAt instanceof Date ? options.startAt.toISOString() : options.startAt;
    const later =
      startAt !== undefined || options.startIn !== undefined || options.version !== undefined
        ? {
            ...(startAt !== undefined ? { startAt } : {}),
            ...(options.startIn !== undefined ? { startIn: options.startIn } : {}),
            ...(options.version !== undefined ? { version: options.version } : {}),
          }
        : undefined;
    const { saga: view, created } = await this.#transport.start(
      type,
      input as Record<string, unknown>,
      options.key ?? null,
      later,
    );
    return { ...view, created };
  }

  /**
   * The saga with its steps.
   *
   * With a definition (`get(orderSaga, id)`), the view is typed by it, and a saga of another type is a
   * `SagaNotFoundError` rather than a view whose types lie.
   *
   * @throws SagaNotFoundError when no saga has this id.
   */
  get(id: string): Promise<SagaView>;
  get<D extends AnySagaDefinition>(saga: D, id: string): Promise<SagaView<OutputOf<D>, InputOf<D>>>;
  async get(sagaOrId: string | AnySagaDefinition, maybeId?: string): Promise<SagaView<unknown, unknown>> {
    if (typeof sagaOrId === 'string') return this.fetch(sagaOrId);
    const id = maybeId as string;
    const view = await this.fetch(id);
    if (view.type !== sagaOrId.name) {
      throw new SagaNotFoundError(404, 'SAGA_NOT_FOUND', `saga ${id} is of type ${view.type}, not ${sagaOrId.name}`);
    }
    return view;
  }

  /**
   * Polls the saga until it reaches a status of `until` (default: COMPLETED, COMPENSATED, CANCELLED or FAILED) and
   * returns it. Polls at once, then after 50 ms, doubling up to 1 s between polls. While the engine does not answer
   * (`UNAVAILABLE`, 429, 502, 503, 504) it keeps polling; any other error ends the wait at once.
   *
   * FAILED is in the default because nothing changes it but an operator: a caller waiting for the outcome gets it
   * there, and decides (alert, wait longer with `until`, or `retry`).
   *
   * @param saga - the id, or a view (from `start`, `get`): then the result has the view's types.
   * @throws SagaWaitTimeoutError after `timeout`, carrying the last view seen; the saga goes on.
   * @throws SagaNotFoundError when no saga has this id.
   */
  waitFor<O, I>(saga: SagaView<O, I>, options: WaitForOptions): Promise<SagaView<O, I>>;
  waitFor(saga: string, options: WaitForOptions): Promise<SagaView>;
  async waitFor(
    saga: string | SagaView<unknown, unknown>,
    options: WaitForOptions,
  ): Promise<SagaView<unknown, unknown>> {
    const id = typeof saga === 'string' ? saga : saga.id;
    const timeoutMs = parseDuration(options.timeout, 'timeout');
    if (timeoutMs <= 0) throw new RangeError(`timeout must be > 0 (got ${String(options.timeout)})`);
    const until = options.until ?? SETTLED_STATUSES;
    const deadline = Date.now() + timeoutMs;
    let last: SagaView<unknown, unknown> | null = typeof saga === 'string' ? null : saga;
    let lastError: unknown = undefined;
    let delayMs = FIRST_POLL_DELAY_MS;
    for (;;) {
      const remainingMs = deadline - Date.now();
      if (remainingMs <= 0) throw new SagaWaitTimeoutError(id, until, timeoutMs, last, { cause: lastError });
      try {
        // Bounded by the wait's deadline too, so that a hung engine cannot stretch the wait past `timeout`.
        const view = await this.#transport.get(id, { signal: AbortSignal.timeout(remainingMs) });
        if (view === null) throw notFound(id);
        last = view;
        lastError = undefined;
        if (until.includes(view.status) || FINAL.includes(view.status)) return view;
      } catch (err) {
        if (!isUnavailable(err)) throw err;
        lastError = err;
      }
      const pauseMs = Math.min(delayMs, deadline - Date.now());
      if (pauseMs > 0) await sleep(pauseMs);
      delayMs = Math.min(delayMs * 2, MAX_POLL_DELAY_MS);
    }
  }

  /**
   * Sends signal `name` to the saga: the steps waiting for it (`.waitFor(name)` in the definition) complete with
   * `payload` as their output; if the step has not started yet, the signal is kept for it.
   *
   * @param payload - a JSON object (at most 64 KiB, 32 levels deep); `{}` when omitted.
   * @throws SagaConflictError `NOT_WAITING` when no step waits for it now nor will (too late, already delivered,
   *   the saga is compensating or finished, or the saga has no such signal).
   */
  async signal(id: string, name: string, payload?: Record<string, unknown>): Promise<void> {
    await this.#transport.signal(id, name, payload);
  }

  /**
   * Asks a RUNNING saga (before its pivot step) to stop: what completed is compensated, and it ends CANCELLED. The
   * engine records the request at once; the saga gets there asynchronously (`waitFor` it).
   *
   * @returns the saga as it is now (COMPENSATING, usually).
   * @throws SagaConflictError `INVALID_STATE` when it is finished, FAILED, or past its pivot.
   */
  async cancel(id: string, options: OperatorActionOptions): Promise<SagaView> {
    return this.#transport.cancel(id, options.reason);
  }

  /**
   * Resumes a FAILED saga where it stopped: its failed compensations (or the failed step past its pivot) run
   * again, with a fresh retry budget.
   *
   * @throws SagaConflictError `INVALID_STATE` unless it is FAILED.
   */
  async retry(id: string, options: OperatorActionOptions): Promise<SagaView> {
    return this.#transport.retry(id, options.reason);
  }

  /**
   * Declares the FAILED compensation of `step` done by hand (you undid its effect yourself); the saga goes on and
   * may end COMPENSATED or CANCELLED. Needs an `admin` key: the engine cannot check what you assert.
   *
   * @throws SagaConflictError `INVALID_STATE` unless that compensation FAILED; SagaApiError 404 `STEP_NOT_FOUND`.
   */
  async resolve(id: string, step: string, options: OperatorActionOptions): Promise<SagaView> {
    return this.#transport.resolve(id, step, options.reason);
  }

  /**
   * Re-runs a saga from `step` (Temporal's "reset"): `step` and every later step go back to PENDING and run again,
   * each with a new idempotency key (`<sagaId>:<step>:rerun-<n>`), so participants apply the re-run as a new
   * operation; the steps before it are not re-run. For a FAILED saga (a step failed past its pivot) or a COMPLETED
   * one, which runs again.
   *
   * @returns the saga as it is now (RUNNING, usually).
   * @throws SagaConflictError `INVALID_STATE` naming why (from the pivot or before it, a compensated saga, a step
   *   not run yet...), `VERSION_UNAVAILABLE` while no agent runs its version; SagaApiError 404 `STEP_NOT_FOUND`.
   */
  async retryFrom(id: string, step: string, options: OperatorActionOptions): Promise<SagaView> {
    return this.transportMethod('retryFrom')(id, step, options.reason);
  }

  /**
   * Skips a forward step that FAILED past the pivot, waits for its next attempt, or has not run: it SUCCEEDED with
   * `output` (any JSON value, `null` for none), which later steps read as its output, and is never compensated.
   * Needs an `admin` key: you assert the step's outcome in the outside world.
   *
   * @throws SagaApiError 400 `INPUT_INVALID` naming `output` when it cannot be stored (over 256 KiB...);
   *   SagaConflictError `INVALID_STATE` naming why; SagaApiError 404 `STEP_NOT_FOUND`.
   */
  async skip(id: string, step: string, options: SkipOptions): Promise<SagaView> {
    return this.transportMethod('skip')(id, step, options.output, options.reason);
  }

  /**
   * One page of sagas, newest first, without their input, output and steps (`get` one for those). Pass the page's
   * `nextCursor` as `cursor` for the next; it is null on the last page.
   *
   * Cursors are signed by the engine process that made them: after a restart, or from another orchestrator behind
   * a load balancer, a cursor is refused (400 `INPUT_INVALID`, "cursor is invalid"): page again from the start.
   *
   * @throws SagaApiError 400 `INPUT_INVALID` for a bad filter (the message names it: `limit must be an integer
   *   between 1 and 200`).
   */
  async list(options: ListSagasOptions = {}): Promise<SagaPage> {
    return this.transportMethod('list')(listQuery(options), {});
  }

  /**
   * Every saga that matches, newest first, fetching page after page (of `limit`, default 50) as you iterate:
   * `for await (const saga of client.listAll({ status: 'FAILED' }))`. Stop iterating (`break`) and no further page
   * is fetched. Sagas created while you iterate are not included (they are newer than the first page).
   */
  async *listAll(options: Omit<ListSagasOptions, 'cursor'> = {}): AsyncGenerator<SagaSummaryView, void, undefined> {
    const list = this.transportMethod('list');
    let cursor: string | undefined;
    do {
      const page = await list(listQuery({ ...options, cursor }), {});
      yield* page.items;
      cursor = page.nextCursor ?? undefined;
    } while (cursor !== undefined);
  }

  /**
   * A page of the saga's history, in order (`seq` from 1). `nextAfterSeq` is the `afterSeq` of the next page, or
   * null when this page was not full: there is nothing more now (a running saga adds events later; ask again with
   * the last `seq` you saw as `afterSeq`).
   *
   * @throws SagaNotFoundError when no saga has this id.
   */
  async events(id: string, options: ListEventsOptions = {}): Promise<SagaEventPage> {
    const query = {
      ...(options.afterSeq === undefined ? {} : { afterSeq: options.afterSeq }),
      ...(options.limit === undefined ? {} : { limit: options.limit }),
      ...(options.step === undefined ? {} : { step: options.step }),
      ...(options.item === undefined ? {} : { item: options.item }),
    };
    return this.transportMethod('events')(id, query, {});
  }

  /**
   * A page of a fan-out step's items (`.forEach()` in the DSL), in list order, with the counts of all of them by
   * status. A list may hold 10,000 items: page with `nextAfterIndex`, or filter by `status` (the failed ones).
   *
   * @throws SagaNotFoundError when no saga has this id.
   */
  async items(id: string, step: string, options: ListItemsOptions = {}): Promise<ItemPage> {
    const { status, afterIndex, limit } = options;
    const query = {
      ...(status === undefined ? {} : { status: typeof status === 'string' ? [status] : [...status] }),
      ...(afterIndex === undefined ? {} : { afterIndex }),
      ...(limit === undefined ? {} : { limit }),
    };
    return this.transportMethod('items')(id, step, query, {});
  }

  /** The newest version of every saga type the engine knows (registered in its code, or published by an agent). */
  async sagaTypes(): Promise<SagaTypeView[]> {
    return this.transportMethod('sagaTypes')({});
  }

  /** The agents that run now (a heartbeat in the last 15 s), and the `type@version`s each runs. */
  async agents(): Promise<AgentView[]> {
    return this.transportMethod('agents')({});
  }

  /**
   * Counts the sagas a bulk action would act on now (`POST /v1/bulk-actions` with `dryRun`): nothing is done.
   * Role-checked as the action itself (retry and cancel operator, resolve admin).
   */
  async bulkDryRun(request: Omit<BulkActionRequest, 'dryRun'>): Promise<BulkDryRunView> {
    return (await this.transportMethod('bulk')({ ...request, dryRun: true })) as BulkDryRunView;
  }

  /**
   * Asks for a bulk job: the engine retries, cancels or resolves every saga `filter` matches now, in the background,
   * each as the single action would (compare-and-set, audited with `reason` and the job). `bulkJob` or
   * `waitForBulkJob` follows it.
   *
   * @throws SagaConflictError `CAP_EXCEEDED` when more sagas match than `cap` (default 10,000).
   */
  async startBulk(request: Omit<BulkActionRequest, 'dryRun'>): Promise<BulkJobView> {
    return (await this.transportMethod('bulk')({ ...request, dryRun: false })) as BulkJobView;
  }

  /** The bulk job, or null when there is none by this id. */
  async bulkJob(id: string): Promise<BulkJobView | null> {
    return this.transportMethod('bulkJob')(id, {});
  }

  /** The bulk jobs, newest first. */
  async bulkJobs(limit?: number): Promise<BulkJobView[]> {
    return this.transportMethod('bulkJobs')(limit, {});
  }

  /** Stops a PENDING or RUNNING bulk job: the sagas it acted on stay so, the others are left alone. */
  async stopBulkJob(id: string, options: OperatorActionOptions): Promise<BulkJobView> {
    return this.transportMethod('stopBulkJob')(id, options.reason);
  }

  /**
   * Polls the bulk job until it has ended (COMPLETED, CANCELLED or FAILED), calling `onProgress` with each view.
   *
   * @throws SagaApiError 404 `BULK_JOB_NOT_FOUND`; a `RangeError` for a bad timeout; an Error naming the job and
   *   its last progress after `timeout`.
   */
  async waitForBulkJob(
    id: string,
    options: { timeout: Duration; onProgress?: (job: BulkJobView) => void },
  ): Promise<BulkJobView> {
    const timeoutMs = parseDuration(options.timeout, 'timeout');
    if (timeoutMs <= 0) throw new RangeError(`timeout must be > 0 (got ${String(options.timeout)})`);
    const get = this.transportMethod('bulkJob');
    const deadline = Date.now() + timeoutMs;
    let delayMs = FIRST_POLL_DELAY_MS;
    let last: BulkJobView | null = null;
    for (;;) {
      try {
        const job = await get(id, { signal: AbortSignal.timeout(Math.max(1, deadline - Date.now())) });
        if (job === null) throw createSagaApiError(404, 'BULK_JOB_NOT_FOUND', `bulk job ${id} not found`);
        last = job;
        options.onProgress?.(job);
        if (job.status === 'COMPLETED' || job.status === 'CANCELLED' || job.status === 'FAILED') return job;
      } catch (err) {
        if (!isUnavailable(err)) throw err;
      }
      if (Date.now() >= deadline) {
        const progress = last ? `${last.processed} of ${last.matched} processed, ${last.status}` : 'never read';
        throw new Error(`bulk job ${id} did not end within ${timeoutMs} ms (${progress})`);
      }
      await sleep(Math.min(delayMs, Math.max(0, deadline - Date.now())));
      delayMs = Math.min(delayMs * 2, MAX_POLL_DELAY_MS);
    }
  }

  /** An optional method of the transport, bound to it, or a TypeError naming it. */
  private transportMethod<
    K extends
      | 'list'
      | 'events'
      | 'sagaTypes'
      | 'agents'
      | 'items'
      | 'retryFrom'
      | 'skip'
      | 'bulk'
      | 'bulkJob'
      | 'bulkJobs'
      | 'stopBulkJob',
  >(method: K): NonNullable<SagaTransport[K]> {
    const fn = this.#transport[method];
    if (typeof fn !== 'function') {
      throw new TypeError(`this SagaClient's transport does not implement ${method}() (HttpSagaTransport does)`);
    }
    return fn.bind(this.#transport) as NonNullable<SagaTransport[K]>;
  }

  private async fetch(id: string): Promise<SagaView> {
    const view = await this.#transport.get(id);
    if (view === null) throw notFound(id);
    return view;
  }
}

function isTransport(value: HttpSagaClientOptions | SagaTransport): value is SagaTransport {
  return typeof (value as Partial<SagaTransport>).start === 'function';
}

/** The options of `list` in the API's terms: one status or several, Dates as ISO strings. */
function listQuery(options: ListSagasOptions) {
  const { type, status, createdAfter, createdBefore, limit, cursor, businessKey, attributes } = options;
  const conditions = attributeParams(attributes);
  return {
    ...(type === undefined ? {} : { type }),
    ...(businessKey === undefined ? {} : { businessKey }),
    ...(conditions.length === 0 ? {} : { attributes: conditions }),
    ...(status === undefined ? {} : { status: typeof status === 'string' ? [status] : [...status] }),
    ...(createdAfter === undefined ? {} : { createdAfter: isoOf(createdAfter) }),
    ...(createdBefore === undefined ? {} : { createdBefore: isoOf(createdBefore) }),
    ...(limit === undefined ? {} : { limit }),
    ...(cursor === undefined ? {} : { cursor }),
  };
}

/** `attributes` as the API's parameters: `[['attr.tier', 'gold'], ['attr.amount.gte', '100']]`. */
function attributeParams(attributes: ListSagasOptions['attributes']): [string, string][] {
  const params: [string, string][] = [];
  for (const [name, condition] of Object.entries(attributes ?? {})) {
    if (condition === undefined) continue;
    if (typeof condition === 'object' && !(condition instanceof Date)) {
      for (const op of ['gt', 'gte', 'lt', 'lte'] as const) {
        const bound = condition[op];
        if (bound !== undefined) params.push([`attr.${name}.${op}`, paramOf(bound)]);
      }
    } else {
      params.push([`attr.${name}`, paramOf(condition)]);
    }
  }
  return params;
}

function paramOf(value: AttributeValue): string {
  return value instanceof Date ? value.toISOString() : String(value);
}

function isoOf(value: Date | string): string {
  return value instanceof Date ? value.toISOString() : value;
}

function notFound(id: string): SagaNotFoundError {
  return new SagaNotFoundError(404, 'SAGA_NOT_FOUND', `saga ${id} not found`);
}

/** Failures that say nothing about the saga, only that the engine did not answer now: worth polling through. */
function isUnavailable(err: unknown): boolean {
  // By its data, not `instanceof`: a transport may come from another copy of this package.
  const status = err instanceof Error ? (err as Partial<SagaApiError>).status : undefined;
  return status !== undefined && [0, 429, 502, 503, 504].includes(status);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
