import type { SagaDefinition } from '@saga-engine/core';
import {
  type ParticipantLimits,
  type ResolvedLimits,
  parseParticipantLimits,
  resolveLimits,
} from '../invokers/participant-limits';
import { webhookUrlProblem } from '../supervisor/webhook-url';
import { type SagaApiKey, checkApiKeys, parseApiKeySpec } from '../config/api-keys';
import { DEFAULT_OIDC_ALGORITHMS, type OidcOptions } from '../api/http/oidc';

/**
 * What a process does for the engine; any combination, in any number of processes:
 *
 * - `agent`: runs the steps of the sagas this process registers (their code and their `deps`), from their queues.
 * - `api`: the REST API (`/v1`), `/health`, `/metrics` and the dashboard, on the app's HTTP server under `api.path`.
 * - `supervisor`: sweeps PostgreSQL for attempts past their deadline and jobs that were lost, and sends alerts.
 *
 * Every role can start and steer sagas (the scheduler is a library every role uses). Processes without a saga's
 * code drive it from its published definition (see `SagaRegistry`); only the `agent` needs the code.
 */
export type SagaRole = 'agent' | 'api' | 'supervisor';
export const SAGA_ROLES: readonly SagaRole[] = ['agent', 'api', 'supervisor'];

export type { SagaApiKey } from '../config/api-keys';

export interface SagaApiOptions {
  /**
   * Who may call the API: `[{ name, key, role, sagaTypes? }]`, or `"name:key:role[:type|type],..."` as in
   * `SAGA_API_KEYS`. Keys of 32+ characters, unique names. Required: the API is never open (only `/health`
   * answers without a key, and then only up or down).
   */
  keys: string | readonly SagaApiKey[];
  /**
   * Requests per minute per key (over it: 429 with Retry-After); shared by every process through Redis when there
   * is one, per process while Redis does not answer. 0: off. @defaultValue 1200
   */
  rateLimitPerMinute?: number;
  /**
   * Wrong keys one client address may send within 10 minutes before it is blocked (429 with Retry-After) for 30 s,
   * then twice as long at each new block, up to an hour. Valid keys still pass. 0: off. @defaultValue 10
   */
  authFailuresPerAddress?: number;
  /** Largest request body, in bytes (over it: 413). @defaultValue 1048576 */
  bodyLimitBytes?: number;
  /** Deepest nesting of a body (over it: 400). @defaultValue 32 */
  jsonMaxDepth?: number;
  /** Longest string in a body, values and keys (over it: 400). @defaultValue 65536 */
  jsonMaxStringLength?: number;
  /** Serve the dashboard at `<path>/dashboard` (from the built files this package ships). @defaultValue true */
  dashboard?: boolean;
  /** Where the dashboard's built files are, if not the ones this package ships. */
  dashboardDir?: string;
  /**
   * `/health` (and `saga_dependency_state`) report PostgreSQL `degraded` when a `SELECT 1` takes longer than this.
   * @defaultValue 500
   */
  slowDatabaseMs?: number;
  /**
   * Single sign-on: accept OIDC/JWT bearer tokens of this issuer beside the keys (and, with `clientId`, a
   * login through the issuer on the dashboard). With it, `keys` may be empty.
   */
  oidc?: OidcOptions;
}

/** `SagaModule.forRoot()` / `forRootAsync()` options. Durations in milliseconds. */
export interface SagaModuleOptions {
  /**
   * PostgreSQL, the system of record: `postgres://user:password@host:5432/database`. The database is created when
   * missing and its schema migrated at start. Use a database of the engine's own, or one your app shares: the
   * engine's tables are `saga_*` and `participant_circuit` (and schema `bullmq` without Redis).
   */
  databaseUrl: string;
  /** Connections of this process to PostgreSQL. @defaultValue 20 */
  databasePoolSize?: number;
  /**
   * PostgreSQL's `statement_timeout` on the engine's connections: no statement runs longer. The client gives up a
   * second later on a statement the server never answers (PostgreSQL hung, packets dropped), and closes that
   * connection. 0 turns both off. Migrations run without it. @defaultValue 5000
   */
  databaseStatementTimeoutMs?: number;
  /** How long getting a connection may take: waiting for a free one in the pool, then connecting. @defaultValue 2000 */
  databaseConnectTimeoutMs?: number;
  /**
   * Redis for the step jobs (`redis://` or `rediss://`, `maxmemory-policy noeviction`). Unset: BullMQ's PostgreSQL
   * backend, in schema `bullmq` of the same database: nothing more to run, slower under load.
   */
  redisUrl?: string;
  /** Prefix of the queue keys in Redis, so that several engines (or test runs) can share one. @defaultValue 'saga' */
  queuePrefix?: string;
  /**
   * How long a command on the engine's Redis connections may take (enqueues, job lookups, the health probe). Not
   * the agents' blocking fetch, which waits on purpose. @defaultValue 1000
   */
  redisCommandTimeoutMs?: number;
  /**
   * How long an attempt may be due without an agent taking it before the supervisor checks that its job exists
   * (and enqueues it again when it was lost). @defaultValue 5000
   */
  scheduleToStartMs?: number;
  agent?: {
    /** Step attempts run at once, per saga type and version. @defaultValue 50 */
    concurrency?: number;
    /** On shutdown, how long running steps may finish and report before they are aborted. @defaultValue 10000 */
    shutdownGraceMs?: number;
  };
  supervisor?: {
    /** Pause between sweeps. @defaultValue 1000 */
    intervalMs?: number;
    /**
     * Delete finished sagas (COMPLETED, COMPENSATED, CANCELLED; never FAILED) this long after they ended, with
     * their steps and history (the audit stays): `'30d'`, `'12h'`, `'90m'`, `'45s'`. Unset: kept forever.
     */
    retention?: string;
    /** Where alerts (a saga went FAILED) are posted as JSON, retried with backoff. Unset: logged only. */
    alertWebhookUrl?: string;
    /**
     * A step whose agent dies (or hangs past its deadline) while running it this many times is not retried: it
     * fails with `POISONED`, the saga compensates (or, past its pivot, goes FAILED) and an alert is raised.
     * @defaultValue 2
     */
    poisonAfterDeaths?: number;
  };
  api?: SagaApiOptions;
  /**
   * The key of the input fields sagas mark `sensitive` (AES-256-GCM): 32 bytes as 64 hex digits or 44 base64
   * characters, the same in every process. Required when a registered saga declares sensitive fields.
   */
  encryptionKey?: string;
  /** Retired keys that still open values sealed before a rotation. */
  retiredEncryptionKeys?: readonly string[];
  /** Circuit breakers of the participants your steps call through `http()` / `microservice()` (per process). */
  participants?: {
    /** Consecutive failures that open a participant's circuit. @defaultValue 5 */
    failuresToOpen?: number;
    /** How long an open circuit fails fast before a trial call. @defaultValue 5000 */
    halfOpenMs?: number;
    /**
     * Cluster-wide limits per participant (they need `redisUrl`), overriding what the code gives in the invoker's
     * `policy.limits`: `'payments=concurrency:5,rate:20/s'` (see parseParticipantLimits) or
     * `{ payments: { concurrency: 5, ratePerSecond: 20 } }`. A participant named here gets exactly these limits.
     */
    limits?: string | Readonly<Record<string, ParticipantLimits>>;
    /** How long a concurrency slot outlives an agent that stopped renewing it (killed). @defaultValue 10000 */
    leaseMs?: number;
  };
}

/** Set when the module is declared (not by the async factory): they decide which providers and routes exist. */
export interface SagaModuleExtras {
  /** The roles of this process. @defaultValue ['agent', 'api', 'supervisor'] */
  roles?: readonly SagaRole[];
  /**
   * The saga definitions this process has the code of. An agent runs only these; every process publishes them so
   * that the others can drive their instances. @defaultValue []
   */
  sagas?: readonly SagaDefinition<any, any>[];
  /** Makes `SagaClient` and the module's exports injectable everywhere without importing the module. */
  isGlobal?: boolean;
  /**
   * Where the `api` role's routes go on the app's HTTP server: `''` (the root: `/v1/...`, `/health`, `/metrics`,
   * `/dashboard`) or a path such as `'/sagas'` (`/sagas/v1/...`, `/sagas/health`, `/sagas/dashboard`). Added to
   * the app's global prefix, if it has one. @defaultValue ''
   */
  apiPath?: string;
}

/** Options checked and with their defaults (internal). */
export interface ResolvedSagaOptions {
  databaseUrl: string;
  databasePoolSize: number;
  databaseStatementTimeoutMs: number;
  databaseConnectTimeoutMs: number;
  redisUrl: string | null;
  queuePrefix: string;
  redisCommandTimeoutMs: number;
  scheduleToStartMs: number;
  agentConcurrency: number;
  shutdownGraceMs: number;
  supervisorIntervalMs: number;
  retentionMs: number | null;
  alertWebhookUrl: string | null;
  poisonAfterDeaths: number;
  api: Required<Omit<SagaApiOptions, 'keys' | 'dashboardDir' | 'oidc'>> & {
    keys: SagaApiKey[];
    dashboardDir: string | null;
    oidc: OidcOptions | null;
    /** From the module's `apiPath`. */
    path: string;
  };
  encryptionKey: string | null;
  retiredEncryptionKeys: string[];
  failuresToOpen: number;
  halfOpenMs: number;
  /** By participant; the configuration's, over the code's. */
  participantLimits: Map<string, ResolvedLimits>;
  participantLeaseMs: number;
}

export class SagaConfigError extends Error {
  override readonly name = 'SagaConfigError' as const;
}

/**
 * Checks the options and fills in the defaults. Throws a SagaConfigError that lists every problem, each naming
 * its option, so that a bad deployment stops at start rather than at the first saga.
 */
export function resolveSagaOptions(
  options: SagaModuleOptions,
  roles: readonly SagaRole[],
  apiPath = '',
): ResolvedSagaOptions {
  const problems: string[] = [];
  const int = (value: unknown, name: string, min: number, max: number, fallback: number): number => {
    if (value === undefined || value === null) return fallback;
    if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
      problems.push(`${name} must be an integer between ${min} and ${max} (got ${JSON.stringify(value)})`);
      return fallback;
    }
    return value;
  };
  if (typeof options?.databaseUrl !== 'string' || !/^postgres(ql)?:\/\/\S+$/.test(options.databaseUrl)) {
    problems.push('databaseUrl must be a postgres:// URL');
  }
  if (options.redisUrl !== undefined && !/^rediss?:\/\/\S+$/.test(options.redisUrl)) {
    problems.push('redisUrl must be a redis:// or rediss:// URL');
  }
  const queuePrefix = options.queuePrefix ?? 'saga';
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(queuePrefix)) problems.push('queuePrefix must be 1-64 letters, digits, _ or -');
  const retention = options.supervisor?.retention;
  let retentionMs: number | null = null;
  if (retention !== undefined && retention !== 'off') {
    const match = /^([1-9]\d{0,8})(s|m|h|d)$/.exec(retention);
    if (!match) problems.push('supervisor.retention must be a duration such as 30d, 12h, 90m or 45s');
    else retentionMs = Number(match[1]) * { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 }[match[2] as 's'];
  }
  const webhook = options.supervisor?.alertWebhookUrl;
  const webhookProblem = webhook === undefined ? null : webhookUrlProblem(webhook);
  if (webhookProblem) problems.push(`supervisor.alertWebhookUrl ${webhookProblem}`);
  const api = options.api;
  let keys: SagaApiKey[] = [];
  if (roles.includes('api')) {
    if (!api) problems.push('api.keys is required with the api role (the API is never open)');
    else keys = parseKeys(api.keys ?? [], problems, api.oidc !== undefined);
    if (api?.oidc !== undefined) checkOidc(api.oidc, problems);
  }
  const path = normalizeApiPath(apiPath, problems);
  const encryptionKey = options.encryptionKey ?? null;
  const result: ResolvedSagaOptions = {
    databaseUrl: options?.databaseUrl,
    databasePoolSize: int(options.databasePoolSize, 'databasePoolSize', 1, 200, 20),
    databaseStatementTimeoutMs: int(
      options.databaseStatementTimeoutMs,
      'databaseStatementTimeoutMs',
      0,
      3_600_000,
      5_000,
    ),
    databaseConnectTimeoutMs: int(options.databaseConnectTimeoutMs, 'databaseConnectTimeoutMs', 100, 600_000, 2_000),
    redisUrl: options.redisUrl ?? null,
    queuePrefix,
    redisCommandTimeoutMs: int(options.redisCommandTimeoutMs, 'redisCommandTimeoutMs', 50, 600_000, 1_000),
    scheduleToStartMs: int(options.scheduleToStartMs, 'scheduleToStartMs', 100, 3_600_000, 5_000),
    agentConcurrency: int(options.agent?.concurrency, 'agent.concurrency', 1, 1000, 50),
    shutdownGraceMs: int(options.agent?.shutdownGraceMs, 'agent.shutdownGraceMs', 0, 3_600_000, 10_000),
    supervisorIntervalMs: int(options.supervisor?.intervalMs, 'supervisor.intervalMs', 50, 600_000, 1_000),
    retentionMs,
    alertWebhookUrl: webhook ?? null,
    poisonAfterDeaths: int(options.supervisor?.poisonAfterDeaths, 'supervisor.poisonAfterDeaths', 1, 100, 2),
    api: {
      path,
      keys,
      rateLimitPerMinute: int(api?.rateLimitPerMinute, 'api.rateLimitPerMinute', 0, 10_000_000, 1200),
      authFailuresPerAddress: int(api?.authFailuresPerAddress, 'api.authFailuresPerAddress', 0, 1_000_000, 10),
      bodyLimitBytes: int(api?.bodyLimitBytes, 'api.bodyLimitBytes', 1024, 104_857_600, 1024 * 1024),
      jsonMaxDepth: int(api?.jsonMaxDepth, 'api.jsonMaxDepth', 2, 1000, 32),
      jsonMaxStringLength: int(api?.jsonMaxStringLength, 'api.jsonMaxStringLength', 16, 104_857_600, 64 * 1024),
      dashboard: api?.dashboard ?? true,
      dashboardDir: api?.dashboardDir ?? null,
      slowDatabaseMs: int(api?.slowDatabaseMs, 'api.slowDatabaseMs', 10, 60_000, 500),
      oidc: api?.oidc ?? null,
    },
    encryptionKey,
    retiredEncryptionKeys: [...(options.retiredEncryptionKeys ?? [])],
    failuresToOpen: int(options.participants?.failuresToOpen, 'participants.failuresToOpen', 1, 1000, 5),
    halfOpenMs: int(options.participants?.halfOpenMs, 'participants.halfOpenMs', 10, 3_600_000, 5_000),
    participantLimits: participantLimits(options.participants?.limits, options.redisUrl, problems),
    participantLeaseMs: int(options.participants?.leaseMs, 'participants.leaseMs', 300, 600_000, 10_000),
  };
  if (problems.length > 0) throw new SagaConfigError(`Invalid SagaModule options:\n  - ${problems.join('\n  - ')}`);
  return result;
}

function participantLimits(
  limits: string | Readonly<Record<string, ParticipantLimits>> | undefined,
  redisUrl: string | undefined,
  problems: string[],
): Map<string, ResolvedLimits> {
  let result = new Map<string, ResolvedLimits>();
  try {
    if (typeof limits === 'string') result = parseParticipantLimits(limits, 'participants.limits');
    else if (limits !== undefined) {
      for (const [name, value] of Object.entries(limits)) result.set(name, resolveLimits(name, value));
    }
  } catch (error) {
    problems.push((error as Error).message.replace(/^participant "/, 'participants.limits: participant "'));
  }
  if (result.size > 0 && !redisUrl) {
    problems.push('participants.limits needs redisUrl (the limits are shared by the agents through Redis)');
  }
  return result;
}

function parseKeys(keys: SagaApiOptions['keys'], problems: string[], sso = false): SagaApiKey[] {
  // With single sign-on configured, API keys are optional.
  const empty = 'api.keys must hold at least one key';
  const collect = (found: string[]) =>
    problems.push(
      ...found
        .filter((problem) => !(sso && problem === empty))
        .map((problem) => (problem === empty ? `${empty} (or configure api.oidc)` : problem)),
    );
  if (typeof keys === 'string') {
    const parsed = parseApiKeySpec(keys, 'api.keys');
    collect(parsed.problems);
    return parsed.keys;
  }
  const list = Array.isArray(keys) ? [...(keys as readonly SagaApiKey[])] : [];
  collect(checkApiKeys(list, 'api.keys'));
  return list.map((k) => ({ ...k, ...(k.sagaTypes ? { sagaTypes: [...k.sagaTypes] } : {}) }));
}

const ASYMMETRIC = /^(RS|PS|ES)(256|384|512)$|^EdDSA$|^Ed25519$|^ES256K$/;

const ROLE_NAMES: readonly string[] = ['viewer', 'operator', 'admin'];

function checkOidc(oidc: OidcOptions, problems: string[]): void {
  let issuer: URL | null = null;
  try {
    issuer = new URL(oidc.issuer);
  } catch {
    problems.push('api.oidc.issuer must be a URL (the issuer as its tokens name it)');
  }
  const loopback = issuer && ['localhost', '127.0.0.1', '[::1]'].includes(issuer.hostname);
  if (issuer && issuer.protocol !== 'https:' && !(issuer.protocol === 'http:' && loopback)) {
    problems.push('api.oidc.issuer must be an https:// URL (http:// only on loopback, for tests)');
  }
  const audience = typeof oidc.audience === 'string' ? [oidc.audience] : [...(oidc.audience ?? [])];
  if (audience.length === 0 || audience.some((a) => typeof a !== 'string' || a.trim() === '')) {
    problems.push('api.oidc.audience must name the audience (aud) the tokens are for');
  }
  for (const [value, role] of Object.entries(oidc.roleMap ?? {})) {
    if (!ROLE_NAMES.includes(role)) problems.push(`api.oidc.roleMap: "${value}" must map to viewer, operator or admin`);
  }
  const algorithms = oidc.algorithms ?? DEFAULT_OIDC_ALGORITHMS;
  if (algorithms.length === 0 || algorithms.some((a) => !ASYMMETRIC.test(a))) {
    problems.push('api.oidc.algorithms must be asymmetric JWS algorithms (RS256, PS256, ES256, EdDSA, ...)');
  }
  const tolerance = oidc.clockToleranceSec ?? 30;
  if (!Number.isInteger(tolerance) || tolerance < 0 || tolerance > 300) {
    problems.push('api.oidc.clockToleranceSec must be an integer between 0 and 300');
  }
  const timeout = oidc.timeoutMs ?? 3000;
  if (!Number.isInteger(timeout) || timeout < 100 || timeout > 60_000) {
    problems.push('api.oidc.timeoutMs must be an integer between 100 and 60000');
  }
}

/** `''`, or a path of safe segments with a leading slash and none at the end (`/sagas`, `/ops/sagas`). */
export function normalizeApiPath(path: string, problems: string[]): string {
  const trimmed = path.replace(/\/+$/, '');
  if (trimmed === '') return '';
  const withSlash = trimmed.startsWith('/') ? trimmed : `/${trimmed}`;
  if (!/^(\/[A-Za-z0-9._~-]+)+$/.test(withSlash)) {
    problems.push('apiPath must be a path such as /sagas (letters, digits, . _ ~ - between slashes)');
    return '';
  }
  return withSlash;
}

/** A step still running after this long is recorded as RUNNING (fast steps skip that write); see StepWorker. */
export function runningMarkMs(scheduleToStartMs: number): number {
  return Math.max(10, Math.min(1000, Math.floor(scheduleToStartMs / 4)));
}
