export const TRANSPORT_OPTIONS = Symbol('TRANSPORT_OPTIONS');

export interface TransportOptions {
  redisUrl: string;
  /** BullMQ key prefix; each test run uses its own. */
  prefix: string;
}
