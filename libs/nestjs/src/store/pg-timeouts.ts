import { Client } from 'pg';
import { listenForClientErrors } from './pg-client-errors';

/**
 * How long the engine waits for PostgreSQL, on every pool it opens (its DataSource, BullMQ's PostgreSQL backend):
 *
 * - `statementMs` (`DB_STATEMENT_TIMEOUT_MS`, default 5 s): the server's `statement_timeout`, so a statement that
 *   runs away is cancelled by PostgreSQL itself (SQLSTATE 57014) and its connection stays usable. 0 turns it off.
 * - the client's `query_timeout`, `statementMs` + QUERY_TIMEOUT_MARGIN_MS: a statement the server never answers
 *   (PostgreSQL hung, a network path that drops packets) is given up by the client a second after the server would
 *   have cancelled it, and its connection is closed (see FailFastClient). Off when `statementMs` is 0.
 * - `connectMs` (`DB_CONNECT_TIMEOUT_MS`, default 2 s): the pool's `connectionTimeoutMillis`, which bounds both
 *   the wait for a free connection and the connect itself (TCP, TLS, authentication).
 *
 * The API does not wait that long when PostgreSQL is away: the dependency watchdog answers 503 within about 1.5 s
 * (see DependencyWatchdog). These limits bound everything else: the agents, the supervisor, migrations aside.
 */
export interface PgTimeouts {
  statementMs: number;
  connectMs: number;
}

export const DEFAULT_PG_TIMEOUTS: PgTimeouts = { statementMs: 5_000, connectMs: 2_000 };

/** The client gives a statement this much longer than the server's `statement_timeout` before it gives up. */
export const QUERY_TIMEOUT_MARGIN_MS = 1_000;

/** What a pg `Pool` (or `Client`) gets for `timeouts`: node-postgres option names. */
export function pgPoolOptions(timeouts: PgTimeouts): Record<string, unknown> {
  return {
    ...(timeouts.statementMs > 0
      ? { statement_timeout: timeouts.statementMs, query_timeout: timeouts.statementMs + QUERY_TIMEOUT_MARGIN_MS }
      : {}),
    connectionTimeoutMillis: timeouts.connectMs,
    // A connection that died without a FIN (a host gone, a NAT that forgot it) is noticed by the kernel.
    keepAlive: true,
    Client: FailFastClient,
    onConnect: listenForClientErrors,
  };
}

/** The message node-postgres gives a query whose `query_timeout` passed. */
export const QUERY_READ_TIMEOUT = 'Query read timeout';

/**
 * node-postgres's `query_timeout` answers the caller, but leaves the query in flight on its connection: the next
 * query on that connection waits behind it, and a pool (TypeORM returns the client without an error) hands the
 * same stuck connection out again and again. After a network outage such connections never recover (what was
 * sent is gone), so work would not resume after the heal. This client closes its connection when one of its
 * queries times out: the pool then drops it (it is no longer queryable) and opens a fresh one when needed.
 */
export class FailFastClient extends Client {
  override query(...args: unknown[]): any {
    const last = args.length - 1;
    const call = (...a: unknown[]): unknown => (Client.prototype.query as (...b: unknown[]) => unknown).apply(this, a);
    if (last >= 0 && typeof args[last] === 'function') {
      const callback = args[last] as (error: Error | null, result?: unknown) => void;
      args[last] = (error: Error | null, result?: unknown) => {
        if (error) this.abandonOnTimeout(error);
        callback(error, result);
      };
      return call(...args);
    }
    const result = call(...args);
    if (result instanceof Promise) result.then(undefined, (error: Error) => this.abandonOnTimeout(error));
    return result;
  }

  private abandonOnTimeout(error: Error): void {
    if (error?.message !== QUERY_READ_TIMEOUT) return;
    const connection = (this as unknown as { connection?: { stream?: { destroy(): void } } }).connection;
    connection?.stream?.destroy();
  }
}
