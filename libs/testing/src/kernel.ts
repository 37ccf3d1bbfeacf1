import { AsyncLocalStorage } from 'node:async_hooks';
import { SagaTestError } from './saga-test-error';
import { VirtualClock } from './virtual-clock';

// Taken when the module loads, so that a test's fake timers (which the kit has no use for) do not stall it.
const realSetImmediate = globalThis.setImmediate;

/** An attempt whose handler is in flight: what the clock must wait for before it jumps. */
export interface Execution {
  /** Calls to `sleep` it awaits now: while it only sleeps, it does not hold the clock. */
  sleeping: number;
  /** Waits only for a virtual timer (a scripted timeout): never holds the clock. */
  parked: boolean;
}

export interface DriveOptions {
  /** The run whose result is awaited. */
  run?: Driven;
  done?: () => boolean;
  target?: number;
  /** The error to throw when `done` cannot hold any more (nothing runs, no timer left). */
  stuck?: () => Error;
}

/** What the kernel drives: one saga run. */
export interface Driven {
  /** A test-kit error (a missing dep, a runaway saga): the drive stops and rethrows it. */
  readonly fatal: Error | null;
}

/**
 * The scheduler of a test environment: one virtual clock, the attempts in flight, and the drive loop. The clock
 * jumps to the next timer only when no attempt is in flight (or every one only awaits `sleep`): the engine's own
 * timers (backoffs, wait deadlines, attempt timeouts) pass at once, the handlers' real work does not.
 */
export class Kernel {
  readonly clock: VirtualClock;
  readonly #executions = new Set<Execution>();
  readonly #context = new AsyncLocalStorage<Execution>();
  readonly #runs = new Set<Driven>();
  #waiters: (() => void)[] = [];
  /** Drives run one at a time: a `result()` and an `advance()` awaited together take turns. */
  #turn: Promise<unknown> = Promise.resolve();

  constructor(startMs: number) {
    this.clock = new VirtualClock(startMs);
  }

  register(run: Driven): void {
    this.#runs.add(run);
  }

  /** Tracks an attempt in flight until `end`. */
  begin(parked = false): Execution {
    const execution: Execution = { sleeping: 0, parked };
    this.#executions.add(execution);
    return execution;
  }

  end(execution: Execution): void {
    this.#executions.delete(execution);
    this.kick();
  }

  /** Runs `fn` as part of `execution`, so that the `sleep`s it awaits are counted for it. */
  within<T>(execution: Execution, fn: () => T): T {
    return this.#context.run(execution, fn);
  }

  /** Resolves after `ms` of virtual time; rejects with the signal's reason if it aborts first. */
  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    const execution = this.#context.getStore();
    return new Promise<void>((resolve, reject) => {
      if (signal?.aborted) {
        reject(signal.reason as Error);
        return;
      }
      let settled = false;
      const settle = () => {
        if (settled) return false;
        settled = true;
        if (execution) execution.sleeping--;
        signal?.removeEventListener('abort', onAbort);
        return true;
      };
      const timer = this.clock.schedule(this.clock.now + ms, () => {
        if (settle()) resolve();
      });
      const onAbort = () => {
        timer.cancel();
        if (settle()) reject(signal!.reason as Error);
        this.kick();
      };
      if (execution) execution.sleeping++;
      signal?.addEventListener('abort', onAbort, { once: true });
      // The drive loop may be waiting for this attempt: it only sleeps now, so the clock may move.
      this.kick();
    });
  }

  /**
   * Fires due timers, waits for the attempts in flight, and jumps the clock to the next timer whenever nothing
   * runs, until `done()` holds, or, with a `target`, until the clock reaches it with nothing left to do at that time.
   */
  drive(options: DriveOptions): Promise<void> {
    const turn = this.#turn.then(() => this.#drive(options));
    this.#turn = turn.catch(() => undefined);
    return turn;
  }

  async #drive({ run, done, target, stuck }: DriveOptions): Promise<void> {
    let flushed = false;
    for (;;) {
      this.clock.fireDue();
      // A run's own drive fails with its own error only; `advance` fails with any run's.
      for (const other of run ? [run] : this.#runs) if (other.fatal) throw other.fatal;
      if (done?.()) return;
      if (this.#busy()) {
        await new Promise<void>((resolve) => this.#waiters.push(resolve));
        flushed = false;
        continue;
      }
      if (!flushed) {
        // Nothing holds the clock, but callbacks may be pending: a handler just called has not reached its first
        // await yet (a scripted timeout's handler must see its signal abort, not find it aborted). One turn of the
        // event loop lets them run before time moves.
        await new Promise<void>((resolve) => realSetImmediate(resolve));
        flushed = true;
        continue;
      }
      flushed = false;
      const next = this.clock.next();
      if (next && (target === undefined || next.at <= target)) {
        this.clock.moveTo(next.at);
        continue;
      }
      if (target !== undefined) {
        this.clock.moveTo(target);
        return;
      }
      if (done) {
        throw (
          stuck?.() ??
          new SagaTestError('nothing runs and no timer is pending, yet the run has not settled (a bug of the test kit)')
        );
      }
      return;
    }
  }

  #busy(): boolean {
    for (const execution of this.#executions) if (!execution.parked && execution.sleeping === 0) return true;
    return false;
  }

  /** Wakes the drive loop: an attempt ended, or began to sleep. */
  kick(): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const wake of waiters) wake();
  }
}
