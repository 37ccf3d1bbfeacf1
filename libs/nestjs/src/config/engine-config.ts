import 'reflect-metadata';
import { plainToInstance, Transform } from 'class-transformer';
import { webhookUrlProblem } from '../supervisor/webhook-url';
import { IsIn, IsInt, IsOptional, IsString, IsUrl, Matches, Max, Min, validateSync } from 'class-validator';
import { parseParticipantLimits } from '../invokers/participant-limits';
import { parseApiKeySpec } from './api-keys';

export const ROLES = ['viewer', 'operator', 'admin'] as const;
export type Role = (typeof ROLES)[number];

const toInt = ({ value }: { value: unknown }) =>
  typeof value === 'string' && /^-?\d+$/.test(value.trim()) ? Number(value) : value;

/**
 * Configuration from the environment, validated at start: a bad value stops the process with a message that
 * names the variable. Durations end in `Ms`.
 */
export class EngineConfig {
  /**
   * PostgreSQL, the system of record. Unset: `npm start` runs an embedded PostgreSQL with its data in
   * `./.saga-data/postgres` (see resolveBackends). Initialized so that `loadConfig` reads it.
   */
  @IsOptional()
  @Matches(/^postgres(ql)?:\/\/\S+$/, { message: 'DATABASE_URL must be a postgres:// URL' })
  DATABASE_URL: string | undefined = undefined;

  /** Redis for the step jobs. Unset: BullMQ runs on its PostgreSQL backend, in the engine's database. */
  @IsOptional()
  @Matches(/^rediss?:\/\/\S+$/, { message: 'REDIS_URL must be a redis:// or rediss:// URL' })
  REDIS_URL: string | undefined = undefined;

  @Transform(toInt)
  @IsInt({ message: 'PORT must be an integer between 0 and 65535' })
  @Min(0, { message: 'PORT must be an integer between 0 and 65535' })
  @Max(65535, { message: 'PORT must be an integer between 0 and 65535' })
  PORT = 3000;

  /**
   * Who may call the API: `name:key:role[:type|type]` entries separated by commas (see parseApiKeySpec). Keys of 32+
   * characters, unique names; roles viewer, operator, admin; the types limit a key to those saga types. Checked
   * in loadConfig, with a message that names the entry, never the key.
   */
  @IsOptional()
  @IsString({ message: 'SAGA_API_KEYS must be a string' })
  SAGA_API_KEYS?: string;

  /**
   * The key that encrypts the input fields sagas mark `sensitive` (AES-256-GCM): 32 random bytes as 64 hex digits
   * or 44 base64 characters (`openssl rand -base64 32`). The same in every orchestrator and agent. Required when a
   * registered saga declares sensitive fields (`npm start` generates one into `.saga-data/encryption.key`).
   * Initialized so that `loadConfig` reads it.
   */
  @IsOptional()
  @Matches(/^\s*(?:[0-9a-fA-F]{64}|[A-Za-z0-9+/]{43}=)\s*$/, {
    message: 'SAGA_ENCRYPTION_KEY must be 32 bytes as 64 hex digits or 44 base64 characters',
  })
  SAGA_ENCRYPTION_KEY: string | undefined = undefined;

  /** Retired keys, comma-separated, that still open values sealed before a rotation (never used to seal). */
  @IsOptional()
  @Matches(/^\s*(?:[0-9a-fA-F]{64}|[A-Za-z0-9+/]{43}=)\s*(,\s*(?:[0-9a-fA-F]{64}|[A-Za-z0-9+/]{43}=)\s*)*$/, {
    message: 'SAGA_ENCRYPTION_KEYS_OLD must be keys like SAGA_ENCRYPTION_KEY (hex or base64), comma-separated',
  })
  SAGA_ENCRYPTION_KEYS_OLD: string | undefined = undefined;

  /** Redis key prefix for the engine's queues (lets several engines, or test runs, share one Redis). */
  @Matches(/^[A-Za-z0-9_-]{1,64}$/, { message: 'SAGA_REDIS_PREFIX must be 1-64 letters, digits, _ or -' })
  SAGA_REDIS_PREFIX = 'saga';

  @Transform(toInt)
  @IsInt({ message: 'AGENT_CONCURRENCY must be an integer between 1 and 1000' })
  @Min(1, { message: 'AGENT_CONCURRENCY must be an integer between 1 and 1000' })
  @Max(1000, { message: 'AGENT_CONCURRENCY must be an integer between 1 and 1000' })
  AGENT_CONCURRENCY = 50;

  @Transform(toInt)
  @IsInt({ message: 'DB_POOL_SIZE must be an integer between 1 and 200' })
  @Min(1, { message: 'DB_POOL_SIZE must be an integer between 1 and 200' })
  @Max(200, { message: 'DB_POOL_SIZE must be an integer between 1 and 200' })
  DB_POOL_SIZE = 20;

  /**
   * PostgreSQL's `statement_timeout` on the engine's connections; the client gives up on an unanswered statement a
   * second later and closes that connection. 0 turns both off. Migrations run without it.
   */
  @Transform(toInt)
  @IsInt({ message: 'DB_STATEMENT_TIMEOUT_MS must be an integer between 0 and 3600000' })
  @Min(0, { message: 'DB_STATEMENT_TIMEOUT_MS must be an integer between 0 and 3600000' })
  @Max(3_600_000, { message: 'DB_STATEMENT_TIMEOUT_MS must be an integer between 0 and 3600000' })
  DB_STATEMENT_TIMEOUT_MS = 5_000;

  /** How long getting a PostgreSQL connection may take: waiting for a free one in the pool, then connecting. */
  @Transform(toInt)
  @IsInt({ message: 'DB_CONNECT_TIMEOUT_MS must be an integer between 100 and 600000' })
  @Min(100, { message: 'DB_CONNECT_TIMEOUT_MS must be an integer between 100 and 600000' })
  @Max(600_000, { message: 'DB_CONNECT_TIMEOUT_MS must be an integer between 100 and 600000' })
  DB_CONNECT_TIMEOUT_MS = 2_000;

  /** `/health` reports PostgreSQL degraded when a `SELECT 1` takes longer than this. */
  @Transform(toInt)
  @IsInt({ message: 'DB_SLOW_MS must be an integer between 10 and 60000' })
  @Min(10, { message: 'DB_SLOW_MS must be an integer between 10 and 60000' })
  @Max(60_000, { message: 'DB_SLOW_MS must be an integer between 10 and 60000' })
  DB_SLOW_MS = 500;

  /** How long a command on the engine's Redis connections may take (not the agents' blocking fetch). */
  @Transform(toInt)
  @IsInt({ message: 'REDIS_COMMAND_TIMEOUT_MS must be an integer between 50 and 600000' })
  @Min(50, { message: 'REDIS_COMMAND_TIMEOUT_MS must be an integer between 50 and 600000' })
  @Max(600_000, { message: 'REDIS_COMMAND_TIMEOUT_MS must be an integer between 50 and 600000' })
  REDIS_COMMAND_TIMEOUT_MS = 1_000;

  /**
   * A step whose agent died (or hung past the deadline) while running it this many times is not retried: POISONED.
   */
  @Transform(toInt)
  @IsInt({ message: 'SAGA_POISON_AFTER_DEATHS must be an integer between 1 and 100' })
  @Min(1, { message: 'SAGA_POISON_AFTER_DEATHS must be an integer between 1 and 100' })
  @Max(100, { message: 'SAGA_POISON_AFTER_DEATHS must be an integer between 1 and 100' })
  SAGA_POISON_AFTER_DEATHS = 2;

  /** Run the supervisor in the orchestrator process (it is never run by `start:agent`). Any number may run. */
  @IsIn(['true', 'false'], { message: 'SUPERVISOR_ENABLED must be true or false' })
  SUPERVISOR_ENABLED: 'true' | 'false' = 'true';

  /** How often the supervisor sweeps PostgreSQL for attempts past their deadline and jobs that never started. */
  @Transform(toInt)
  @IsInt({ message: 'SUPERVISOR_INTERVAL_MS must be an integer between 50 and 600000' })
  @Min(50, { message: 'SUPERVISOR_INTERVAL_MS must be an integer between 50 and 600000' })
  @Max(600_000, { message: 'SUPERVISOR_INTERVAL_MS must be an integer between 50 and 600000' })
  SUPERVISOR_INTERVAL_MS = 1000;

  /**
   * How long an attempt may be due without an agent taking it before the supervisor checks that its job exists
   * in Redis (and enqueues the same job id again when it does not).
   */
  @Transform(toInt)
  @IsInt({ message: 'SCHEDULE_TO_START_MS must be an integer between 100 and 3600000' })
  @Min(100, { message: 'SCHEDULE_TO_START_MS must be an integer between 100 and 3600000' })
  @Max(3_600_000, { message: 'SCHEDULE_TO_START_MS must be an integer between 100 and 3600000' })
  SCHEDULE_TO_START_MS = 5000;

  /**
   * Retention: finished sagas (COMPLETED, COMPENSATED, CANCELLED; never FAILED) older than this are deleted by
   * the supervisor, in batches, with their steps and history (the audit trail stays). A number and a unit:
   * `30d`, `12h`, `90m`, `45s`. Unset or `off`: kept forever.
   */
  @IsOptional()
  @Matches(/^(off|[1-9]\d{0,8}(s|m|h|d))$/, {
    message: 'RETENTION_FINISHED_AFTER must be a duration such as 30d, 12h, 90m or 45s, or off',
  })
  RETENTION_FINISHED_AFTER: string | undefined = undefined;

  /** On SIGTERM, how long an agent lets its running steps finish and report before it aborts them. */
  @Transform(toInt)
  @IsInt({ message: 'SHUTDOWN_GRACE_MS must be an integer between 0 and 3600000' })
  @Min(0, { message: 'SHUTDOWN_GRACE_MS must be an integer between 0 and 3600000' })
  @Max(3_600_000, { message: 'SHUTDOWN_GRACE_MS must be an integer between 0 and 3600000' })
  SHUTDOWN_GRACE_MS = 10_000;

  /** Body size limit of the REST API in bytes. */
  @Transform(toInt)
  @IsInt({ message: 'BODY_LIMIT_BYTES must be an integer between 1024 and 104857600' })
  @Min(1024, { message: 'BODY_LIMIT_BYTES must be an integer between 1024 and 104857600' })
  @Max(104857600, { message: 'BODY_LIMIT_BYTES must be an integer between 1024 and 104857600' })
  BODY_LIMIT_BYTES = 1024 * 1024;

  /** Bodies nested deeper than this (objects and arrays) are refused with a 400. */
  @Transform(toInt)
  @IsInt({ message: 'JSON_MAX_DEPTH must be an integer between 2 and 1000' })
  @Min(2, { message: 'JSON_MAX_DEPTH must be an integer between 2 and 1000' })
  @Max(1000, { message: 'JSON_MAX_DEPTH must be an integer between 2 and 1000' })
  JSON_MAX_DEPTH = 32;

  /** Any string in a body (values and keys) longer than this is refused with a 400. */
  @Transform(toInt)
  @IsInt({ message: 'JSON_MAX_STRING_LENGTH must be an integer between 16 and 104857600' })
  @Min(16, { message: 'JSON_MAX_STRING_LENGTH must be an integer between 16 and 104857600' })
  @Max(104857600, { message: 'JSON_MAX_STRING_LENGTH must be an integer between 16 and 104857600' })
  JSON_MAX_STRING_LENGTH = 64 * 1024;

  /**
   * Requests per minute per API key (and per token subject); over it: 429 with `Retry-After`. Counted in Redis
   * across every orchestrator when REDIS_URL is set (per process while Redis does not answer: never a refusal
   * because of Redis), else per process. 0 turns the limit off. 1,200 a minute is 20 a second, sustained, per key:
   * a dashboard uses a few a second, a service that needs more gets a key of its own or a higher limit.
   */
  @Transform(toInt)
  @IsInt({ message: 'RATE_LIMIT_PER_MINUTE must be an integer between 0 and 10000000' })
  @Min(0, { message: 'RATE_LIMIT_PER_MINUTE must be an integer between 0 and 10000000' })
  @Max(10_000_000, { message: 'RATE_LIMIT_PER_MINUTE must be an integer between 0 and 10000000' })
  RATE_LIMIT_PER_MINUTE = 1200;

  /**
   * Wrong API keys one client address may send within 10 minutes; the next is answered 429 with `Retry-After` and
   * the address is blocked for 30 s, then twice as long at each new block (up to an hour) for a day. Valid keys
   * from a blocked address still pass. 0 turns the back-off off.
   */
  @Transform(toInt)
  @IsInt({ message: 'AUTH_FAILURES_PER_ADDRESS must be an integer between 0 and 1000000' })
  @Min(0, { message: 'AUTH_FAILURES_PER_ADDRESS must be an integer between 0 and 1000000' })
  @Max(1_000_000, { message: 'AUTH_FAILURES_PER_ADDRESS must be an integer between 0 and 1000000' })
  AUTH_FAILURES_PER_ADDRESS = 10;

  /**
   * Which proxies in front of the engine may name the client's address (X-Forwarded-For), for the limit of wrong
   * keys per address: a number of hops (`1`), or addresses, subnets and `loopback`, `linklocal`, `uniquelocal`,
   * comma-separated. Unset: none (the address is the TCP peer's; behind a proxy, every client is the proxy).
   * Initialized so that `loadConfig` reads it.
   */
  @IsOptional()
  @Matches(/^\s*(?:\d{1,2}|[A-Za-z0-9.:/]+(?:\s*,\s*[A-Za-z0-9.:/]+)*)\s*$/, {
    message:
      'TRUST_PROXY must be a number of hops (1) or addresses and subnets separated by commas (loopback, 10.0.0.0/8)',
  })
  TRUST_PROXY: string | undefined = undefined;

  /** How long a request may take to arrive in full (headers and body); slower clients get a 408. */
  @Transform(toInt)
  @IsInt({ message: 'REQUEST_TIMEOUT_MS must be an integer between 1000 and 600000' })
  @Min(1000, { message: 'REQUEST_TIMEOUT_MS must be an integer between 1000 and 600000' })
  @Max(600_000, { message: 'REQUEST_TIMEOUT_MS must be an integer between 1000 and 600000' })
  REQUEST_TIMEOUT_MS = 30_000;

  /**
   * Origins allowed to call the API from a browser, comma-separated (`https://ops.example.com`). Unset: no
   * cross-origin access at all (no CORS headers are sent). Initialized so that `loadConfig` reads it.
   */
  @IsOptional()
  @Matches(/^\s*https?:\/\/[^\s,*]+\s*(,\s*https?:\/\/[^\s,*]+\s*)*$/, {
    message: 'CORS_ORIGINS must be http(s) origins separated by commas (no wildcard)',
  })
  CORS_ORIGINS: string | undefined = undefined;

  /**
   * Where the dashboard's built files are (index.html and assets/). Unset: `dist/dashboard` beside the compiled
   * orchestrator (what `npm run build` makes). Initialized so that `loadConfig` reads it.
   */
  @IsOptional()
  @IsString({ message: 'DASHBOARD_DIR must be a directory path' })
  DASHBOARD_DIR: string | undefined = undefined;

  @IsIn(['error', 'warn', 'log', 'debug', 'verbose'], {
    message: 'LOG_LEVEL must be error, warn, log, debug or verbose',
  })
  LOG_LEVEL: 'error' | 'warn' | 'log' | 'debug' | 'verbose' = 'log';

  /**
   * Where alerts are posted (a saga entered FAILED): JSON `{ sagaId, type, status, error, at }`, retried with
   * backoff. Optional: without it alerts are only logged. Initialized so that `loadConfig` reads it.
   */
  @IsOptional()
  @IsUrl(
    { protocols: ['http', 'https'], require_protocol: true, require_tld: false, require_valid_protocol: true },
    { message: 'ALERT_WEBHOOK_URL must be an http:// or https:// URL' },
  )
  ALERT_WEBHOOK_URL: string | undefined = undefined;
  /** Consecutive transient failures of calls to one participant that open its circuit breaker (per agent). */
  @Transform(toInt)
  @IsInt({ message: 'PARTICIPANT_FAILURES_TO_OPEN must be an integer between 1 and 1000' })
  @Min(1, { message: 'PARTICIPANT_FAILURES_TO_OPEN must be an integer between 1 and 1000' })
  @Max(1000, { message: 'PARTICIPANT_FAILURES_TO_OPEN must be an integer between 1 and 1000' })
  PARTICIPANT_FAILURES_TO_OPEN = 5;

  /** How long an open circuit fails fast before one trial call goes through (half-open). */
  @Transform(toInt)
  @IsInt({ message: 'PARTICIPANT_HALF_OPEN_MS must be an integer between 10 and 3600000' })
  @Min(10, { message: 'PARTICIPANT_HALF_OPEN_MS must be an integer between 10 and 3600000' })
  @Max(3_600_000, { message: 'PARTICIPANT_HALF_OPEN_MS must be an integer between 10 and 3600000' })
  PARTICIPANT_HALF_OPEN_MS = 5_000;

  /**
   * Cluster-wide limits per participant, shared by every agent through Redis (needs REDIS_URL), overriding the
   * limits the sagas' code gives: `payments=concurrency:5,rate:20/s;ledger=rate:100/s` (`<name>=none`: no limit).
   * Checked in loadConfig (parseParticipantLimits), with a message naming this variable.
   */
  @IsOptional()
  @IsString({ message: 'SAGA_PARTICIPANT_LIMITS must be a string' })
  SAGA_PARTICIPANT_LIMITS: string | undefined = undefined;

  /**
   * How long a participant's concurrency slot stays taken when the agent holding it stops renewing it (killed):
   * its slots come back after this long. Renewed every third of it while the call runs.
   */
  @Transform(toInt)
  @IsInt({ message: 'PARTICIPANT_LEASE_MS must be an integer between 300 and 600000' })
  @Min(300, { message: 'PARTICIPANT_LEASE_MS must be an integer between 300 and 600000' })
  @Max(600_000, { message: 'PARTICIPANT_LEASE_MS must be an integer between 300 and 600000' })
  PARTICIPANT_LEASE_MS = 10_000;

  /**
   * How log lines are written: `json` (one JSON object per line, for log shippers), `pretty` (readable lines, for a
   * person at a terminal), or `auto`: pretty when standard output is a terminal, JSON otherwise. Never both.
   */
  @IsIn(['auto', 'json', 'pretty'], { message: 'LOG_FORMAT must be auto, json or pretty' })
  LOG_FORMAT: 'auto' | 'json' | 'pretty' = 'auto';

  /**
   * The migration run's PostgreSQL URL, as the schema's owner (`migrate` command): it applies the migrations and
   * grants the role of DATABASE_URL what the engine needs, and no more (docs/security.md). The engine itself never
   * reads it. Initialized so that `loadConfig` reads it.
   */
  @IsOptional()
  @Matches(/^postgres(ql)?:\/\/\S+$/, { message: 'DATABASE_MIGRATION_URL must be a postgres:// URL' })
  DATABASE_MIGRATION_URL: string | undefined = undefined;

  /**
   * Single sign-on: the OIDC issuer whose bearer tokens the API accepts (exactly as their `iss`; its discovery
   * document is at `<issuer>/.well-known/openid-configuration`). Unset: API keys only. Initialized so that
   * `loadConfig` reads it; the other SAGA_OIDC_* variables need it.
   */
  @IsOptional()
  @Matches(/^(https:\/\/\S+|http:\/\/(localhost|127\.0\.0\.1|\[::1\])(:\d+)?(\/\S*)?)$/, {
    message: 'SAGA_OIDC_ISSUER must be an https:// URL (http:// only on loopback)',
  })
  SAGA_OIDC_ISSUER: string | undefined = undefined;

  /** The audience (`aud`) the tokens must be for, or several, comma-separated. Required with SAGA_OIDC_ISSUER. */
  @IsOptional()
  @Matches(/^\s*[^\s,]+\s*(,\s*[^\s,]+\s*)*$/, { message: 'SAGA_OIDC_AUDIENCE must be audiences, comma-separated' })
  SAGA_OIDC_AUDIENCE: string | undefined = undefined;

  /** The claim that gives the role (a string or an array; a dotted path such as `realm_access.roles` works). */
  @Matches(/^\S{1,200}$/, { message: 'SAGA_OIDC_ROLE_CLAIM must be a claim name' })
  SAGA_OIDC_ROLE_CLAIM = 'roles';

  /** `value=role` pairs, comma-separated: what the role claim's values mean (`saga-admins=admin,ops=operator`). */
  @IsOptional()
  @Matches(/^\s*[^\s=,]+=(viewer|operator|admin)\s*(,\s*[^\s=,]+=(viewer|operator|admin)\s*)*$/, {
    message: 'SAGA_OIDC_ROLE_MAP must be value=role pairs, comma-separated, roles viewer|operator|admin',
  })
  SAGA_OIDC_ROLE_MAP: string | undefined = undefined;

  /** The claim that names the user in the audit and the history (falls back to email, then sub). */
  @Matches(/^\S{1,200}$/, { message: 'SAGA_OIDC_NAME_CLAIM must be a claim name' })
  SAGA_OIDC_NAME_CLAIM = 'preferred_username';

  /** Accepted signature algorithms, comma-separated (asymmetric only). */
  @Matches(/^\s*((RS|PS|ES)(256|384|512)|EdDSA)\s*(,\s*((RS|PS|ES)(256|384|512)|EdDSA)\s*)*$/, {
    message: 'SAGA_OIDC_ALGORITHMS must be RS256, PS256, ES256, EdDSA (and 384/512 variants), comma-separated',
  })
  SAGA_OIDC_ALGORITHMS = 'RS256,PS256,ES256,EdDSA';

  /** Clock skew allowed on the tokens' exp and nbf, in seconds. */
  @Transform(toInt)
  @IsInt({ message: 'SAGA_OIDC_CLOCK_TOLERANCE_S must be an integer between 0 and 300' })
  @Min(0, { message: 'SAGA_OIDC_CLOCK_TOLERANCE_S must be an integer between 0 and 300' })
  @Max(300, { message: 'SAGA_OIDC_CLOCK_TOLERANCE_S must be an integer between 0 and 300' })
  SAGA_OIDC_CLOCK_TOLERANCE_S = 30;

  /** How long the issuer's discovery document and keys may take to arrive (then 503, never a hung request). */
  @Transform(toInt)
  @IsInt({ message: 'SAGA_OIDC_TIMEOUT_MS must be an integer between 100 and 60000' })
  @Min(100, { message: 'SAGA_OIDC_TIMEOUT_MS must be an integer between 100 and 60000' })
  @Max(60_000, { message: 'SAGA_OIDC_TIMEOUT_MS must be an integer between 100 and 60000' })
  SAGA_OIDC_TIMEOUT_MS = 3000;

  /** The dashboard's public OAuth client (authorization code with PKCE). Unset: the dashboard logs in by key only. */
  @IsOptional()
  @Matches(/^\S{1,200}$/, { message: 'SAGA_OIDC_CLIENT_ID must be a client id' })
  SAGA_OIDC_CLIENT_ID: string | undefined = undefined;

  /** The scopes the dashboard asks for. */
  @Matches(/^[\x21\x23-\x5B\x5D-\x7E]+( [\x21\x23-\x5B\x5D-\x7E]+)*$/, {
    message: 'SAGA_OIDC_SCOPES must be scopes separated by single spaces',
  })
  SAGA_OIDC_SCOPES = 'openid profile email';

  /** A resource indicator (RFC 8707) the dashboard asks its access token for, when the IdP wants one. */
  @IsOptional()
  @Matches(/^\S{1,500}$/, { message: 'SAGA_OIDC_RESOURCE must be a resource indicator (a URI)' })
  SAGA_OIDC_RESOURCE: string | undefined = undefined;
}

export class ConfigError extends Error {
  override readonly name = 'ConfigError' as const;
}

/** Reads and validates the configuration; throws a ConfigError naming every bad variable. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): EngineConfig {
  const known = Object.keys(new EngineConfig());
  const raw: Record<string, string> = {};
  for (const key of [...known, 'SAGA_API_KEYS']) {
    const value = env[key];
    if (value !== undefined && value !== '') raw[key] = value;
  }
  const config = plainToInstance(EngineConfig, raw, { exposeDefaultValues: true });
  const errors = validateSync(config, { forbidUnknownValues: false });
  const lines = errors.flatMap((e) => Object.values(e.constraints ?? {}).slice(0, 1));
  const webhookProblem = config.ALERT_WEBHOOK_URL ? webhookUrlProblem(config.ALERT_WEBHOOK_URL) : null;
  if (webhookProblem && !errors.some((e) => e.property === 'ALERT_WEBHOOK_URL')) {
    lines.push(`ALERT_WEBHOOK_URL ${webhookProblem}`);
  }
  if (config.SAGA_OIDC_ISSUER && !config.SAGA_OIDC_AUDIENCE) {
    lines.push('SAGA_OIDC_AUDIENCE is required with SAGA_OIDC_ISSUER');
  }
  const needIssuer = ['SAGA_OIDC_AUDIENCE', 'SAGA_OIDC_CLIENT_ID', 'SAGA_OIDC_ROLE_MAP'].filter((k) => raw[k]);
  if (!config.SAGA_OIDC_ISSUER && needIssuer.length > 0) {
    lines.push(`${needIssuer.join(', ')} need SAGA_OIDC_ISSUER`);
  }
  if (typeof config.SAGA_API_KEYS === 'string') lines.push(...parseApiKeySpec(config.SAGA_API_KEYS).problems);
  if (config.SAGA_PARTICIPANT_LIMITS) {
    try {
      const limits = parseParticipantLimits(config.SAGA_PARTICIPANT_LIMITS, 'SAGA_PARTICIPANT_LIMITS');
      if (limits.size > 0 && !config.REDIS_URL) {
        lines.push('SAGA_PARTICIPANT_LIMITS needs REDIS_URL (the limits are shared by the agents through Redis)');
      }
    } catch (error) {
      lines.push((error as Error).message);
    }
  }
  if (lines.length > 0) throw new ConfigError(`Invalid configuration:\n  - ${lines.join('\n  - ')}`);
  return config;
}

/** For a process entry point: the validated configuration, or a message naming every bad variable and exit 1. */
export function loadConfigOrExit(env: NodeJS.ProcessEnv = process.env): EngineConfig {
  try {
    return loadConfig(env);
  } catch (error) {
    console.error((error as Error).message);
    process.exit(1);
  }
}

/** `value=role` pairs of SAGA_OIDC_ROLE_MAP as a map (undefined when unset). */
export function parseRoleMap(spec: string | undefined): Record<string, Role> | undefined {
  if (!spec) return undefined;
  const map: Record<string, Role> = {};
  for (const pair of spec.split(',')) {
    const trimmed = pair.trim();
    if (!trimmed) continue;
    const at = trimmed.lastIndexOf('=');
    map[trimmed.slice(0, at)] = trimmed.slice(at + 1) as Role;
  }
  return map;
}

/** RETENTION_FINISHED_AFTER in milliseconds; null when finished sagas are kept forever. */
export function retentionMs(config: Pick<EngineConfig, 'RETENTION_FINISHED_AFTER'>): number | null {
  const value = config.RETENTION_FINISHED_AFTER;
  if (value === undefined || value === 'off') return null;
  const unit = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 }[value.slice(-1) as 's' | 'm' | 'h' | 'd'];
  return Number(value.slice(0, -1)) * unit;
}

const LOG_LEVELS = ['error', 'warn', 'log', 'debug', 'verbose'] as const;

/** Nest's logger levels up to and including `level`. */
export function logLevels(level: EngineConfig['LOG_LEVEL']): (typeof LOG_LEVELS)[number][] {
  return LOG_LEVELS.slice(0, LOG_LEVELS.indexOf(level) + 1);
}
