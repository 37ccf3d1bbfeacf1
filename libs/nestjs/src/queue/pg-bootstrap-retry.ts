import { PostgresConnection } from 'bullmq';

/** What this module relies on of BullMQ's (6.7) PostgresConnection: private, hence checked before use. */
interface Bootstrapping {
  readyPromise?: Promise<void>;
  bootstrap(): Promise<void>;
  waitUntilReady(): Promise<void>;
}

const PATCHED = Symbol.for('saga-engine.pg-bootstrap-retry');

/**
 * BullMQ's PostgreSQL connection bootstraps once (BullMQ's schema check or migration) and keeps that promise,
 * even when it fails. If PostgreSQL goes down while a connection bootstraps, every later query of that connection
 * rejects at once with the same error, without touching the network; a worker's fetch loop retries such errors
 * without delay, so it spins on microtasks and starves the event loop: no timer fires, `/health` never answers,
 * the process hangs until killed. (BullMQ already forgets a failed connect of its LISTEN client; not this one.)
 *
 * Here a failed bootstrap is forgotten, so the next query bootstraps again over the network: ECONNREFUSED while
 * PostgreSQL is down (which BullMQ delays between retries), success once it is back. Applied once per process,
 * before the engine opens a PostgreSQL queue. Returns false, and changes nothing, if BullMQ's internals are not
 * the expected shape (a test then fails, rather than the engine silently losing the fix).
 */
export function retryFailedPgBootstraps(): boolean {
  const proto = PostgresConnection.prototype as unknown as Bootstrapping & { [PATCHED]?: true };
  if (proto[PATCHED]) return true;
  if (typeof proto.bootstrap !== 'function' || typeof proto.waitUntilReady !== 'function') return false;
  proto.waitUntilReady = function (this: Bootstrapping): Promise<void> {
    if (!this.readyPromise) {
      const ready = this.bootstrap();
      this.readyPromise = ready;
      ready.catch(() => {
        if (this.readyPromise === ready) this.readyPromise = undefined;
      });
    }
    return this.readyPromise;
  };
  proto[PATCHED] = true;
  return true;
}
