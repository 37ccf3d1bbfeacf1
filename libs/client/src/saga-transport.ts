import type {
  AgentView,
  BulkActionName,
  BulkDryRunView,
  BulkFilter,
  BulkJobView,
  ItemPage,
  SagaEventPage,
  SagaPage,
  SagaTypeView,
  SagaView,
} from './saga-view';

/** When a saga starts, if not at once: the REST API's `startAt` (ISO-8601 with an offset) or `startIn`. */
/** How a start differs from "now, on the newest version": a start time, and/or a version of the type. */
export interface StartLater {
  startAt?: string;
  startIn?: string | number;
  /** Start this version of the type rather than the newest (the REST API's `version`). */
  version?: number;
}

/** Per-call options a transport honours where it can. */
export interface TransportCallOptions {
  /** Abandons the call: it rejects with a `SagaApiError` (`UNAVAILABLE`) as soon as the signal aborts. */
  signal?: AbortSignal;
}

/** A filter and page of `GET /v1/sagas`, in the API's terms (every field optional). */
export interface SagaListQuery {
  type?: string;
  /** Any of these statuses. */
  status?: readonly string[];
  /** ISO-8601 date-times. */
  createdAfter?: string;
  createdBefore?: string;
  /** Only the sagas with this business key. */
  businessKey?: string;
  /** Search attribute conditions as query parameters: `['attr.tier', 'gold']`, `['attr.amount.gte', '100']`. */
  attributes?: readonly (readonly [string, string])[];
  /** 1 to 200; the API's default is 50. */
  limit?: number;
  /** `nextCursor` of the previous page. */
  cursor?: string;
}

/** The body of `POST /v1/bulk-actions`. */
export interface BulkActionRequest {
  action: BulkActionName;
  /** The step to resolve in each saga: required with `resolve`, refused with the others. */
  step?: string;
  filter: BulkFilter;
  reason: string;
  /** Only count (200 with `BulkDryRunView`); nothing is done. */
  dryRun?: boolean;
  /** Refuse (409 `CAP_EXCEEDED`) when more sagas match; 1 to 100,000, the API's default 10,000. */
  cap?: number;
}

/** A page of `GET /v1/sagas/{id}/events`. */
export interface SagaEventsQuery {
  /** Events after this sequence number (default 0: from the first). */
  afterSeq?: number;
  /** 1 to 1000 (the API's default). */
  limit?: number;
  /** Only this step's entries. */
  step?: string;
  /** Only this fan-out item's entries (with `step`). */
  item?: number;
}

/** A page of `GET /v1/sagas/{id}/steps/{step}/items`. */
export interface SagaItemsQuery {
  /** Only items in these statuses. */
  status?: readonly string[];
  /** Items after this index (`nextAfterIndex` of the previous page); default -1: from the first. */
  afterIndex?: number;
  /** 1 to 500; the API's default is 100. */
  limit?: number;
}

/**
 * What `SagaClient` needs from an engine: one method per operation, in the engine's own terms. `HttpSagaTransport`
 * implements it over the REST API; the Nest package implements it in-process. A transport does no retries, no
 * polling and no typing: `SagaClient` does those once, for every transport.
 *
 * Contract for implementers:
 * - Answers are plain JSON-shaped values (`SagaView`), as the REST API would answer them: dates as ISO strings,
 *   sensitive input fields as `"[REDACTED]"`.
 * - Refusals reject with `createSagaApiError(status, code, message)` (the REST API's status and code), so callers see
 *   the same `SagaNotFoundError`, `SagaConflictError` and codes whichever transport they run on. No answer at all
 *   rejects with status 0, code `UNAVAILABLE`, and the underlying error as `cause`.
 * - Operator actions (`cancel`, `retry`, `resolve`, `retryFrom`, `skip`) are recorded as done by the transport's credentials (the API
 *   key's role, for HTTP), with `reason` in the audit log and the saga's history.
 * - The reads across sagas (`list`, `events`, `sagaTypes`, `agents`) are optional, so that a transport written
 *   before they existed still compiles; `SagaClient` throws a `TypeError` naming the method when one is missing.
 *   `HttpSagaTransport` has them all; the Nest package's in-process transport does not have them yet.
 */
export interface SagaTransport {
  /**
   * Starts a saga of `type` with `input`. With an `idempotencyKey`, the same key and input return the saga it
   * started (`created: false`), and the same key with another type or input is a 409 `IDEMPOTENCY_CONFLICT`.
   * With `later` the saga is DELAYED until its start time (the REST API's `startAt` / `startIn`, checked there).
   */
  start(
    type: string,
    input: Record<string, unknown>,
    idempotencyKey: string | null,
    later?: StartLater,
  ): Promise<{ saga: SagaView; created: boolean }>;

  /** The saga, or null when no saga has this id. */
  get(id: string, options?: TransportCallOptions): Promise<SagaView | null>;

  /**
   * Delivers signal `name` to the saga: the steps waiting for it complete with `payload` (a JSON object; `{}` when
   * absent) as their output, or it is buffered for a wait step that has not started yet. 409 `NOT_WAITING` when no
   * step waits for it now nor will.
   */
  signal(id: string, name: string, payload: Record<string, unknown> | undefined): Promise<void>;

  /** Asks a RUNNING saga (before its pivot) to stop and compensate; it ends CANCELLED. Returns it as it is now. */
  cancel(id: string, reason: string): Promise<SagaView>;

  /** Resumes a FAILED saga where it stopped. Returns it as it is now. */
  retry(id: string, reason: string): Promise<SagaView>;

  /** Declares the FAILED compensation of `step` done by hand (admin only). Returns the saga as it is now. */
  resolve(id: string, step: string, reason: string): Promise<SagaView>;

  /**
   * Re-runs a FAILED or COMPLETED saga from `step`: it and the later steps run again, with new idempotency keys.
   * Returns the saga as it is now. Optional, like the reads below (`SagaClient.retryFrom` names it when missing).
   */
  retryFrom?(id: string, step: string, reason: string): Promise<SagaView>;

  /**
   * Skips a forward step (FAILED, RETRYING or PENDING) with `output` as its output (admin only). Returns the saga as
   * it is now. Optional.
   */
  skip?(id: string, step: string, output: unknown, reason: string): Promise<SagaView>;

  /** A page of sagas, newest first, filtered by `query`. */
  list?(query: SagaListQuery, options?: TransportCallOptions): Promise<SagaPage>;

  /** A page of the saga's history, in order. 404 `SAGA_NOT_FOUND` when no saga has this id. */
  events?(id: string, query: SagaEventsQuery, options?: TransportCallOptions): Promise<SagaEventPage>;

  /** The newest version of every saga type the engine knows. */
  sagaTypes?(options?: TransportCallOptions): Promise<SagaTypeView[]>;

  /** The agents that run now. */
  agents?(options?: TransportCallOptions): Promise<AgentView[]>;

  /** A page of a fan-out step's items, in list order. 404 `SAGA_NOT_FOUND` when no saga has this id. */
  items?(id: string, step: string, query: SagaItemsQuery, options?: TransportCallOptions): Promise<ItemPage>;

  /** `POST /v1/bulk-actions`: a dry run's count, or the job asked for. */
  bulk?(request: BulkActionRequest): Promise<BulkDryRunView | BulkJobView>;

  /** A bulk job, or null when there is none by this id. */
  bulkJob?(id: string, options?: TransportCallOptions): Promise<BulkJobView | null>;

  /** The bulk jobs, newest first (1 to 200, the API's default 50). */
  bulkJobs?(limit?: number, options?: TransportCallOptions): Promise<BulkJobView[]>;

  /** Stops a PENDING or RUNNING bulk job. 409 `INVALID_STATE` when it has ended. */
  stopBulkJob?(id: string, reason: string): Promise<BulkJobView>;
}
