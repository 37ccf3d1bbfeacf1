/** The dependencies whose unavailability the engine answers 503 for, logs once per outage, and reports. */
export type Dependency = 'postgres' | 'redis';

/** What an error says about a dependency being away (see unavailability). */
export interface Unavailability {
  dependency: Dependency;
  /** A short, safe description for logs (no query text, no parameters). */
  reason: string;
  /**
   * The server could not be reached or did not answer at all (refused, reset, terminated, a read or connect timeout),
   * as opposed to answering "too busy" (a statement cancelled by its timeout, too many connections).
   */
  unreachable: boolean;
}

/**
 * SQLSTATEs that mean "PostgreSQL is not there for you right now": class 08 (connection exceptions), 57P01
 * admin_shutdown (a restart), 57P02 crash_shutdown, 57P03 cannot_connect_now (starting up, or in recovery),
 * 53300 too_many_connections, 53400 configuration_limit_exceeded, 57014 query_canceled (its statement_timeout).
 */
const PG_BUSY_CODES = new Set(['53300', '53400', '57014']);
const PG_GONE_CODES = new Set(['57P01', '57P02', '57P03']);
/** Node's socket errors: the server refused, reset, or could not be reached. */
const NET_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EHOSTDOWN',
  'ENOTFOUND',
  'EAI_AGAIN',
]);
/** node-postgres and pg-pool say it in words. */
const PG_MESSAGES =
  /^(Connection terminated|Connection ended unexpectedly|Query read timeout|timeout exceeded when trying to connect|Client has encountered a connection error and is not queryable|Client was closed and is not queryable)/;
/** ioredis and BullMQ's words for a Redis that does not answer or cannot take the command. */
const REDIS_MESSAGES =
  /^(Command timed out|Connection is closed|Stream isn't writeable|Reached the max retries per request limit|the queue did not answer)/;

/**
 * Whether `error` (or what it wraps: TypeORM's `driverError`, a `cause`) says that PostgreSQL or Redis is down, hung
 * or out of connections; null for any other error (a bug, a constraint, bad input). Used to answer 503 instead of
 * 500, and to log an outage once instead of once per failure.
 */
export function unavailability(error: unknown, depth = 0): Unavailability | null {
  if (!error || typeof error !== 'object' || depth > 4) return null;
  const e = error as { code?: unknown; message?: unknown; driverError?: unknown; cause?: unknown; name?: unknown };
  const code = typeof e.code === 'string' ? e.code : '';
  const message = typeof e.message === 'string' ? e.message : '';
  if (e.name === 'UnavailableError') {
    const u = error as UnavailableError;
    return { dependency: u.dependency, reason: message, unreachable: u.unreachable };
  }
  // The engine's own time limit on a call (see `within`); its caller says which dependency it waited for.
  if (e.name === 'TimeLimitError') return { dependency: 'postgres', reason: message, unreachable: true };
  if (REDIS_MESSAGES.test(message)) return { dependency: 'redis', reason: firstLine(message), unreachable: true };
  if (PG_GONE_CODES.has(code) || code.startsWith('08')) {
    return { dependency: 'postgres', reason: `${firstLine(message)} (${code})`, unreachable: true };
  }
  if (PG_BUSY_CODES.has(code)) {
    return { dependency: 'postgres', reason: `${firstLine(message)} (${code})`, unreachable: false };
  }
  if (PG_MESSAGES.test(message)) return { dependency: 'postgres', reason: firstLine(message), unreachable: true };
  if (NET_CODES.has(code)) {
    // A socket error names no protocol: Redis's client says so in its own words above, so this is PostgreSQL's
    // (the callers that talk to Redis say which dependency they mean; see DependencyMonitor.failed).
    return { dependency: 'postgres', reason: firstLine(message) || code, unreachable: true };
  }
  return unavailability(e.driverError, depth + 1) ?? unavailability(e.cause, depth + 1);
}

/** Thrown by the engine itself when it knows a dependency is away (the API's fast 503). */
export class UnavailableError extends Error {
  override readonly name = 'UnavailableError';

  constructor(
    readonly dependency: Dependency,
    message: string,
    readonly unreachable = true,
  ) {
    super(message);
  }
}

export const DEPENDENCY_LABEL: Record<Dependency, string> = { postgres: 'PostgreSQL', redis: 'Redis' };

function firstLine(message: string): string {
  return message.split('\n')[0].slice(0, 300);
}
