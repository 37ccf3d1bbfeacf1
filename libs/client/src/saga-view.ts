import type { CompensationStatus, SagaStatus, StepStatus } from '@saga-engine/core';

/*
 * The JSON the REST API answers for one saga (`GET /v1/sagas/{id}`, and the body of a start, cancel, retry, resolve
 * or signal), field for field as `libs/nestjs/src/api/sagas/saga-views.ts` builds it. Dates are ISO-8601 strings, as
 * they come over the wire: the client does not revive them, so a view is the same value whichever transport made it.
 */

export type { CompensationStatus, SagaStatus, StepStatus };

/** Why a saga is compensating, FAILED, COMPENSATED or CANCELLED (the engine's `SagaError`). */
export interface SagaErrorView {
  /** The step whose failure decided it, or null (an operator's cancel). */
  step: string | null;
  message: string;
  /** A stable code (`ACCOUNT_CLOSED`, `TIMEOUT`, `CANCELLED`, ...): branch on it, never on the message. */
  code: string;
  /** True when the failure was transient (retries exhausted, timeouts), false for a definite "no". */
  transient: boolean;
}

/** The last error of a step's action or compensation (the engine's `ErrorInfo`). */
export interface StepErrorView {
  /** The thrown error's literal name (`NonRetryableError`, `TimeoutError`, `Error`, ...). */
  name: string;
  code: string;
  message: string;
  /** False only for a definite "no". */
  retryable: boolean;
  /** The participant's hint for the next attempt, when it gave one. */
  retryAfterMs?: number;
}

/** A step's compensation, once one was scheduled. */
export interface CompensationView {
  status: CompensationStatus;
  attempts: number;
  startedAt: string | null;
  finishedAt: string | null;
  error: StepErrorView | null;
}

/** One step of a saga, in declaration order. */
export interface StepView {
  /** The kebab-case step name (`charge-account`). */
  name: string;
  status: StepStatus;
  /** Attempts of the action dispatched so far (0 while PENDING). */
  attempts: number;
  /** How many times an operator re-ran the step (`retryFrom`): its key ends `:rerun-<run>` above 0. */
  run?: number;
  /** SUCCEEDED because an operator skipped it (`skip`); `output` is theirs. */
  skipped?: boolean;
  startedAt: string | null;
  finishedAt: string | null;
  /** The step's output once SUCCEEDED (a wait step's: the signal's payload), otherwise null. */
  output: unknown;
  error: StepErrorView | null;
  /** A SLEEPING step's wake-up time (its timer fires up to one supervisor sweep later); null otherwise. */
  wakeAt?: string | null;
  /** A WAITING step's timeout; null otherwise (and for a child step, which waits for its child instead). */
  deadlineAt?: string | null;
  /** A child step's child saga (the newest, after an operator's retry); null for other steps. */
  child?: { id: string; type: string; status: SagaStatus } | null;
  /** A fan-out step's items by status, once its list is known (page them with `SagaClient.items`); else null. */
  items?: { total: number; counts: Partial<Record<StepStatus, number>> } | null;
  compensation: CompensationView | null;
}

/** A saga that a child step of this saga started (`SagaView.children`). */
export interface ChildSagaView {
  id: string;
  type: string;
  status: SagaStatus;
  /** The child step that started it. */
  step: string;
  createdAt: string;
  completedAt: string | null;
}

/** One item of a fan-out step (`GET /v1/sagas/{id}/steps/{step}/items`). */
export interface ItemView {
  /** Its position in the list. */
  index: number;
  /** The author's item key, or the index: its idempotency key is `<sagaId>:<step>:<key>`. */
  key: string;
  /** The item, as the list gave it. */
  item: unknown;
  status: StepStatus;
  attempts: number;
  startedAt: string | null;
  finishedAt: string | null;
  output: unknown;
  error: StepErrorView | null;
  compensation: CompensationView | null;
}

/** A page of a fan-out's items, with the counts of all of them by status. */
export interface ItemPage {
  total: number;
  counts: Partial<Record<StepStatus, number>>;
  items: ItemView[];
  /** The `afterIndex` of the next page; null on the last. */
  nextAfterIndex: number | null;
}

/**
 * One saga instance.
 *
 * @typeParam O - `output` of a COMPLETED saga: every SUCCEEDED step's output by its camelCase key (`OutputOf<D>`).
 * @typeParam I - `input` as it was started (`InputOf<D>`). Fields the saga marks `sensitive` read `"[REDACTED]"`,
 *   whatever their declared type: the API never returns a secret.
 */
export interface SagaView<O = Record<string, unknown>, I = Record<string, unknown>> {
  id: string;
  /** The saga type's name (`order`). */
  type: string;
  /** The definition version the instance runs on (it keeps it to its end). */
  version: number;
  status: SagaStatus;
  input: I;
  /** Set when the saga is COMPLETED; null before, and for every other outcome. */
  output: O | null;
  error: SagaErrorView | null;
  createdAt: string;
  updatedAt: string;
  /** When it reached COMPLETED, COMPENSATED or CANCELLED; null while it runs or is FAILED. */
  completedAt: string | null;
  /** When a saga started with `startAt` / `startIn` starts (it is DELAYED until then), or started; else null. */
  startAt?: string | null;
  /** A child saga's parent: the saga whose child step started it; null otherwise. */
  parentId?: string | null;
  /** Its business key (its type's `businessKey` input field), or null. */
  businessKey?: string | null;
  /** Its search attributes by name (a datetime as an ISO-8601 UTC string); `{}` when none is set. */
  attributes?: Record<string, string | number | boolean | null>;
  /** The parent's step that started this child saga; null otherwise. */
  parentStep?: string | null;
  /** The sagas this saga's child steps started, oldest first. */
  children?: ChildSagaView[];
  steps: StepView[];
}

/** The answer to a start: the saga, and whether this call created it or replayed an idempotency key. */
export type StartedSaga<O = Record<string, unknown>, I = Record<string, unknown>> = SagaView<O, I> & {
  /** True when this call started the saga (201); false when its idempotency key was replayed (200). */
  created: boolean;
};

/**
 * One saga in a list (`GET /v1/sagas`): the instance without its input, output and steps (fetch it with `get` for
 * those).
 */
export interface SagaSummaryView {
  id: string;
  type: string;
  version: number;
  status: SagaStatus;
  error: SagaErrorView | null;
  createdAt: string;
  updatedAt: string;
  completedAt: string | null;
  /** A child saga's parent, or null. */
  parentId?: string | null;
  /** Its business key, or null. */
  businessKey?: string | null;
  /** Its search attributes by name; `{}` when none is set. */
  attributes?: Record<string, string | number | boolean | null>;
}

/** A page of sagas, newest first. `nextCursor` asks for the next page; null on the last one. */
export interface SagaPage {
  items: SagaSummaryView[];
  /** Opaque and signed; valid for the engine process that made it only (after a restart, page from the start). */
  nextCursor: string | null;
}

/**
 * One entry of a saga's history (`GET /v1/sagas/{id}/events`), in order. `type` is past tense (`StepSucceeded`,
 * `SignalReceived`, `CancelRequested`, ...); operator actions carry `{ by, reason }` in `data`.
 */
export interface SagaEventView {
  /** Counts from 1 per saga, without gaps. */
  seq: number;
  type: string;
  /** The step it is about, or null for the saga as a whole. */
  step: string | null;
  /** The item of a fan-out step it is about (its index), or null. */
  item?: number | null;
  attempt: number | null;
  at: string;
  data: Record<string, unknown> | null;
}

/** A page of a saga's history. `nextAfterSeq` is the `afterSeq` of the next page; null when this one was not full. */
export interface SagaEventPage {
  items: SagaEventView[];
  nextAfterSeq: number | null;
}

/** A retry policy as the engine resolved it (durations in milliseconds). */
export interface RetryPolicyView {
  /** Attempts including the first; 0 means unlimited. */
  maximumAttempts: number;
  initialIntervalMs: number;
  backoffCoefficient: number;
  maximumIntervalMs: number;
  jitter: number;
  nonRetryableCodes: string[];
}

/** One step of a saga type, as data (its code stays in the service that runs it). */
export interface SagaTypeStepView {
  name: string;
  /** The camelCase key of its output in the saga's `output`. */
  key: string;
  stage: number;
  group: string | null;
  description: string | null;
  /** It has an undo. */
  compensation: boolean;
  conditional: boolean;
  /** The label of its `when` condition. */
  when: string | null;
  pivot: boolean;
  /** The signal a wait step waits for, or null. */
  signal: string | null;
  /** The saga type and version a child step starts, or null. */
  child?: { type: string; version: number } | null;
  /** A fan-out step's concurrency, and whether its items have keys of the author's; null for other steps. */
  fanOut?: { concurrency: number; keyed: boolean } | null;
  /** A sleep step's duration (null when `until` computes its wake-up time), or null for other steps. */
  sleep?: { durationMs: number | null; until: boolean } | null;
  /**
   * JSON Schema of its output class (each item's, for a fan-out), or null when it declares none: a skip's output
   * must fit it.
   */
  outputSchema?: Record<string, unknown> | null;
  timeoutMs: number;
  compensationTimeoutMs: number;
  retry: RetryPolicyView;
  compensationRetry: RetryPolicyView;
}

/** The newest version of a saga type (`GET /v1/saga-types`). */
export interface SagaTypeView {
  name: string;
  version: number;
  /** Every version the engine knows of the type; an instance runs on the one it started with. */
  versions: number[];
  description: string | null;
  /** The input class's name, when it has one. */
  input: string | null;
  /** The JSON Schema of the input; null: any JSON object. */
  inputSchema: Record<string, unknown> | null;
  /** Dotted paths of the input fields that are encrypted at rest and redacted in every answer. */
  sensitive: string[];
  stages: { index: number; group: string | null; steps: string[] }[];
  steps: SagaTypeStepView[];
  /** Live agents that run this version: 0 means its steps wait in their queue until one starts. */
  agents: number;
}

/** An agent that runs now (a heartbeat in the last 15 s), from `GET /v1/agents`. */
export interface AgentView {
  id: string;
  host: string;
  pid: number;
  /** The saga types it has the code for, as `type@version`. */
  sagaTypes: string[];
  startedAt: string;
  /** Its last heartbeat (every 5 s). */
  seenAt: string;
}

/** Which sagas a bulk action is for: the filter of `GET /v1/sagas` (every field optional; `{}` is every saga). */
export interface BulkFilter {
  type?: string;
  /** Any of these statuses. */
  status?: string[];
  /** A date or an ISO-8601 date-time with an offset. */
  createdAfter?: string;
  createdBefore?: string;
}

/** What a bulk action does to each saga (the role of the single action: retry and cancel operator, resolve admin). */
export type BulkActionName = 'retry' | 'cancel' | 'resolve';

/** A bulk job and its progress (`GET /v1/bulk-actions/{id}`). */
export interface BulkJobView {
  id: string;
  action: BulkActionName;
  /** The step a bulk resolve resolves in each saga; null for the others. */
  step: string | null;
  filter: BulkFilter;
  reason: string;
  /** The key (or token subject) that asked for it: each saga's audit row names it too. */
  requestedBy: string;
  status: 'PENDING' | 'RUNNING' | 'COMPLETED' | 'CANCELLED' | 'FAILED';
  cap: number;
  /** How many sagas matched when it was asked for (sagas started later are never swept in). */
  matched: number;
  /** done + skipped + failed. */
  processed: number;
  /** Sagas the action was accepted for. */
  done: number;
  /** Sagas no longer in a state for it (409 `INVALID_STATE`), or gone: nothing to do. */
  skipped: number;
  /** Sagas the action was refused for otherwise; the first 20 are in `errors`. */
  failed: number;
  errors: { sagaId: string; status: number; code: string; message: string }[];
  /** Why the job's last run failed (the cause of a FAILED job), or null. */
  lastError: string | null;
  cancelledBy: string | null;
  cancelReason: string | null;
  createdAt: string;
  updatedAt: string;
  finishedAt: string | null;
}

/** A bulk action's dry run: how many sagas match now, and up to 10 of them (oldest first). */
export interface BulkDryRunView {
  dryRun: true;
  matched: number;
  sample: string[];
}
