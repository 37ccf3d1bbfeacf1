import type { PgTimeouts } from '../store/pg-timeouts';
import type { QueueBackend } from './queue-backend';

export const TRANSPORT_OPTIONS = Symbol('TRANSPORT_OPTIONS');

export interface TransportOptions {
  /** Where the step jobs live: Redis, or BullMQ's PostgreSQL backend (see queueBackendFor). */
  queue: QueueBackend;
  /** BullMQ key prefix on Redis; each test run uses its own. (The PostgreSQL backend uses a schema instead.) */
  prefix: string;
  /** `commandTimeout` of the producers' Redis connections (never the workers': they block on purpose). */
  redisCommandTimeoutMs: number;
  /** The time limits of BullMQ's PostgreSQL pools, as the engine's own (see PgTimeouts). */
  pgTimeouts: PgTimeouts;
}
