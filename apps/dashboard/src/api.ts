import { API_ROOT } from './router';

/** The REST API as the dashboard uses it: every call carries the key as a bearer token; nothing else is used. */

export type Role = 'viewer' | 'operator' | 'admin';
export type SagaStatus = 'RUNNING' | 'COMPENSATING' | 'COMPLETED' | 'COMPENSATED' | 'CANCELLED' | 'FAILED' | 'DELAYED';
export const SAGA_STATUSES: SagaStatus[] = [
  'RUNNING',
  'COMPENSATING',
  'FAILED',
  'COMPLETED',
  'COMPENSATED',
  'CANCELLED',
  'DELAYED',
];
export const TERMINAL: ReadonlySet<string> = new Set(['COMPLETED', 'COMPENSATED', 'CANCELLED']);

export interface SagaError {
  step?: string;
  message?: string;
  code?: string;
  transient?: boolean;
}

export interface SagaSummary {
  id: string;
  type: string;
  version: number;
  status: SagaStatus;
  error: SagaError | null;
  createdAt: string;
  updatedAt: string;
  completedAt: string | null;
  /** When a DELAYED saga starts (or started); null for a saga started at once. */
  startAt?: string | null;
  /** A child saga's parent (the saga whose child step started it). */
  parentId?: string | null;
  /** Its business key (its type's businessKey input field), or null. */
  businessKey?: string | null;
  /** Its search attributes by name (a datetime as ISO-8601 UTC). */
  attributes?: Record<string, string | number | boolean | null>;
}

/** A search attribute a saga type declares (`GET /v1/saga-types`). */
export interface SearchAttributeView {
  name: string;
  type: 'keyword' | 'number' | 'boolean' | 'datetime';
  /** The step whose output sets it; null: the input, at start. */
  step: string | null;
  path: string;
}

export interface StepView {
  name: string;
  status: string;
  attempts: number;
  /** How many times an operator re-ran the step (its idempotency key ends `:rerun-<run>` above 0). */
  run?: number;
  /** SUCCEEDED because an operator skipped it; `output` is theirs. */
  skipped?: boolean;
  startedAt: string | null;
  finishedAt: string | null;
  output: unknown;
  error: unknown;
  /** A SLEEPING step's wake-up time. */
  wakeAt?: string | null;
  /** A WAITING step's timeout. */
  deadlineAt?: string | null;
  /** A child step's child saga. */
  child?: { id: string; type: string; status: string } | null;
  /** A fan-out step's items by status, once its list is known. */
  items?: { total: number; counts: Record<string, number> } | null;
  compensation: {
    status: string;
    attempts: number;
    startedAt: string | null;
    finishedAt: string | null;
    error: unknown;
  } | null;
}

/** A saga a child step started. */
export interface ChildLink {
  id: string;
  type: string;
  status: string;
  /** The child step that started it. */
  step: string;
  createdAt: string;
  completedAt: string | null;
}

export interface SagaInstance extends SagaSummary {
  input: unknown;
  output: unknown;
  /** The parent's step that started this child saga. */
  parentStep?: string | null;
  children?: ChildLink[];
  steps: StepView[];
}

/** One item of a fan-out step (`GET /v1/sagas/{id}/steps/{step}/items`). */
export interface ItemView {
  index: number;
  key: string;
  item: unknown;
  status: string;
  attempts: number;
  startedAt: string | null;
  finishedAt: string | null;
  output: unknown;
  error: unknown;
  compensation: { status: string; attempts: number; error: unknown } | null;
}

export interface ItemPage {
  total: number;
  counts: Record<string, number>;
  items: ItemView[];
  nextAfterIndex: number | null;
}

export interface SagaEvent {
  seq: number;
  type: string;
  step: string | null;
  /** The fan-out item the entry is about. */
  item?: number | null;
  attempt: number | null;
  at: string;
  data: Record<string, unknown> | null;
}

/** The part of JSON Schema the start form reads; anything else falls back to a JSON text field. */
export interface JsonSchema {
  type?: string | string[];
  title?: string;
  description?: string;
  properties?: Record<string, JsonSchema>;
  required?: string[];
  enum?: unknown[];
  items?: JsonSchema;
  minimum?: number;
  maximum?: number;
  [key: string]: unknown;
}

/** As `GET /v1/saga-types/{type}` shows it; `maximumAttempts: 0` means unlimited. */
export interface RetryPolicy {
  maximumAttempts?: number;
  initialIntervalMs?: number;
  maximumIntervalMs?: number;
  backoffCoefficient?: number;
  jitter?: number;
  nonRetryableCodes?: string[];
  [key: string]: unknown;
}

export interface StepDefinitionView {
  name: string;
  key: string;
  stage: number;
  group: string | null;
  description: string | null;
  compensation: boolean;
  conditional: boolean;
  when: string | null;
  pivot: boolean;
  signal: string | null;
  /** A sleep step's length, or `until: true` when computed; null for other steps. */
  sleep?: { durationMs: number | null; until: boolean } | null;
  /** The saga a child step starts. */
  child?: { type: string; version: number } | null;
  /** A fan-out step's concurrency. */
  fanOut?: { concurrency: number; keyed: boolean } | null;
  /** JSON Schema of the step's output class (each item's, for a fan-out); null when it declares none. */
  outputSchema?: JsonSchema | null;
  timeoutMs: number | null;
  compensationTimeoutMs: number | null;
  retry: RetryPolicy;
  compensationRetry: RetryPolicy;
}

export interface SagaDefinitionView {
  name: string;
  version: number;
  description: string | null;
  input: string | null;
  /** The JSON Schema of the input class (null when the type declares none): the start form is built from it. */
  inputSchema?: JsonSchema | null;
  stages: { index: number; group: string | null; steps: string[] }[];
  steps: StepDefinitionView[];
  /** The dotted input path of the business key, or null. */
  businessKey?: string | null;
  /** The search attributes the list filters on as attr.<name>. */
  searchAttributes?: SearchAttributeView[];
  /** Every version the engine knows of the type. */
  versions: number[];
  /** Live agents that run this version (a heartbeat in the last 15 s). */
  agents: number;
}

/** A live agent (`GET /v1/agents`): the saga types and versions it has the code for, as `type@version`. */
export interface AgentView {
  id: string;
  host: string;
  pid: number;
  sagaTypes: string[];
  startedAt: string;
  seenAt: string;
}

/** `GET /v1/saga-versions`: a version with sagas in use or a live agent. */
export interface VersionUse {
  type: string;
  version: number;
  instances: Partial<Record<SagaStatus, number>>;
  agents: number;
  known: boolean;
  runnable: boolean;
}

export interface Stats {
  windowMs: number;
  bucketMs: number;
  counts: Record<SagaStatus, number>;
  series: { at: string; started: number; completed: number; compensated: number; failed: number; cancelled: number }[];
}

export interface Participant {
  name: string;
  state: 'closed' | 'open' | 'half-open';
  since: string | null;
  agents: number;
  /** Its cluster-wide limits and their use now (absent from an older orchestrator; null: no limits). */
  limits?: ParticipantLimits | null;
}

export interface ParticipantLimits {
  concurrency: number | null;
  ratePerSecond: number | null;
  inFlight: number | null;
  callsLastSecond: number | null;
  throttled: number;
}

export interface ScheduleSummary {
  id: string;
  type: string;
  input: unknown;
  cron: string;
  timeZone: string;
  overlap: 'skip' | 'allow' | 'buffer';
  catchUp: 'none' | 'last' | 'all';
  catchUpLimit: number;
  description: string | null;
  paused: boolean;
  nextFireAt: string | null;
  bufferedTick: string | null;
  lastSagaId: string | null;
  createdAt: string;
  updatedAt: string;
}

export interface ScheduleDetail extends ScheduleSummary {
  nextRuns: string[];
  lastRuns: {
    tick: string;
    outcome: 'started' | 'skipped' | 'buffered' | 'failed';
    sagaId: string | null;
    sagaStatus: string | null;
    detail: string | null;
    at: string;
  }[];
  changes: { at: string; actor: string; role: string; action: string; reason: string }[];
}

/** An answer other than 2xx, with the API's message and code. */
export class ApiFailure extends Error {
  constructor(
    readonly status: number,
    readonly code: string | undefined,
    message: string,
  ) {
    super(message);
  }
}

export class Api {
  constructor(
    private readonly key: string,
    /** Called on a 401, so the app can go back to the login screen with a message. */
    private readonly onUnauthorized: (message: string) => void = () => undefined,
  ) {}

  async get<T>(path: string, signal?: AbortSignal): Promise<T> {
    return this.call<T>('GET', path, undefined, signal);
  }

  async post<T>(path: string, body: unknown): Promise<T> {
    return this.call<T>('POST', path, body);
  }

  async patch<T>(path: string, body: unknown): Promise<T> {
    return this.call<T>('PATCH', path, body);
  }

  me(): Promise<{ role: Role }> {
    return this.get('/v1/me');
  }

  private async call<T>(method: string, path: string, body?: unknown, signal?: AbortSignal): Promise<T> {
    const headers: Record<string, string> = { Authorization: `Bearer ${this.key}`, Accept: 'application/json' };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    const res = await fetch(`${API_ROOT}${path}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal,
      cache: 'no-store',
    });
    const text = await res.text();
    const parsed = parseJson(text);
    if (!res.ok) {
      const problem = (parsed ?? {}) as { message?: unknown; code?: unknown };
      const message = Array.isArray(problem.message)
        ? problem.message.join('; ')
        : typeof problem.message === 'string'
          ? problem.message
          : `${res.status} ${res.statusText}`;
      const failure = new ApiFailure(res.status, typeof problem.code === 'string' ? problem.code : undefined, message);
      if (res.status === 401) this.onUnauthorized(message);
      throw failure;
    }
    return parsed as T;
  }
}

function parseJson(text: string): unknown {
  try {
    return text ? JSON.parse(text) : null;
  } catch {
    return null;
  }
}

/** What a failed call means to an operator, in one line. */
export function describeFailure(error: unknown): string {
  if (error instanceof ApiFailure) {
    if (error.status === 401) return `The API key was refused (401): ${error.message}. Log in again with a valid key.`;
    if (error.status === 403) return `Your key's role does not allow this (403): ${error.message}`;
    if (error.status === 429) return `Too many requests for this key (429): ${error.message}`;
    return `${error.status}${error.code ? ` ${error.code}` : ''}: ${error.message}`;
  }
  if (error instanceof Error) return `Could not reach the API: ${error.message}`;
  return 'Could not reach the API';
}

export const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** What a bulk action does to each saga (`POST /v1/bulk-actions`). */
export type BulkActionName = 'retry' | 'cancel' | 'resolve';

/** The filter of a bulk action: the saga list's. */
export interface BulkFilter {
  type?: string;
  status?: string[];
  createdAfter?: string;
  createdBefore?: string;
}

/** A bulk job and its progress (`GET /v1/bulk-actions/{id}`). */
export interface BulkJob {
  id: string;
  action: BulkActionName;
  step: string | null;
  status: 'PENDING' | 'RUNNING' | 'COMPLETED' | 'CANCELLED' | 'FAILED';
  matched: number;
  processed: number;
  done: number;
  skipped: number;
  failed: number;
  errors: { sagaId: string; status: number; code: string; message: string }[];
  lastError: string | null;
}
