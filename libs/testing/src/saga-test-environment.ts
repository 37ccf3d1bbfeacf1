import { parseDuration, type Duration, type InputOf } from '@saga-engine/sdk';
import { DEFAULT_POISON_AFTER_DEATHS } from './agent-semantics';
import { Kernel } from './kernel';
import { SagaTestError } from './saga-test-error';
import { SagaTestRun, checkStartOptions } from './saga-test-run';
import type { AnySagaDefinition, StartOptions } from './types';

export interface SagaTestEnvironmentOptions {
  /** Where the virtual clock starts. @defaultValue the real time when the environment is made */
  start?: Date;
  /**
   * The engine's randomness (retry jitter), in [0, 1). The default, 0.5, is the middle of the jitter's range: every
   * backoff is then exactly the policy's `initialInterval * backoffCoefficient^(n - 1)`, capped at `maximumInterval`.
   * @defaultValue () => 0.5
   */
  random?: () => number;
  /**
   * A run that has fed this many events to the engine without settling stops with a `SagaTestError` (a step past
   * the pivot that always fails retries forever). @defaultValue 10000
   */
  maxEvents?: number;
  /**
   * The engine's `SAGA_POISON_AFTER_DEATHS`: the `fail.crash()` of a step that makes this many (its agent died before
   * reporting) fails it with `POISONED`, not retried, instead of `DEADLINE_EXCEEDED`. @defaultValue 2
   */
  poisonAfterDeaths?: number;
}

/**
 * Runs sagas in memory, without PostgreSQL, Redis or Nest, on a virtual clock: `@temporalio/testing`'s time
 * skipping and `@inngest/test`'s mocked steps, for this engine.
 *
 * - **The engine's own decisions.** Every event (an attempt's outcome, a signal, a deadline, an operator's action)
 *   goes through `transition` from `@saga-engine/core`, the function the real scheduler commits: the history,
 *   retries, backoffs, compensations and statuses are the engine's, not a model of them.
 * - **The agent's way of running a step.** The same `ctx` (`sagaId`, `key` = `<sagaId>:<step>`, `undoKey`,
 *   `steps`, `attempt`, `signal`, `output`), the saga's `deps` as the second argument, `when` evaluated first, thrown
 *   errors classified by `toErrorInfo`, outputs normalized to JSON (an unserializable output fails the step as it
 *   would in production). Real handlers run unless the test stubs them (`stubs`) or scripts an attempt (`faults`).
 * - **Virtual time.** The clock stands still while a handler runs, and jumps to the next timer as soon as nothing
 *   runs: retry backoffs, wait deadlines and attempt timeouts pass at once, so an hour of retries takes
 *   milliseconds. Handlers run for real: their own awaits (a real HTTP call, `setTimeout`, `Date.now()`) are real
 *   time, not virtual; a handler that needs to wait in virtual time awaits `env.sleep()`.
 *
 * Not modelled: the `StepStarted` mark (the agent sends it only for steps slower than a threshold), the input's
 * validation against the saga's input class (the API does it), encryption of `sensitive` fields, queues and
 * process crashes other than `fail.crash()`.
 *
 * @example
 * const env = new SagaTestEnvironment();
 * const run = env.start(orderSaga, { orderId: 'o-1' }, {
 *   deps: { payments: fakePayments },
 *   faults: { 'charge-card': [fail.transient(), fail.transient()] },
 * });
 * const result = await run.result();
 * expect(result.status).toBe('COMPLETED');
 */
export class SagaTestEnvironment {
  readonly #kernel: Kernel;
  readonly #random: () => number;
  readonly #maxEvents: number;
  readonly #poisonAfterDeaths: number;

  constructor(options: SagaTestEnvironmentOptions = {}) {
    const start = options.start?.getTime() ?? Date.now();
    if (Number.isNaN(start)) throw new SagaTestError('SagaTestEnvironment: start is an invalid date');
    const maxEvents = options.maxEvents ?? 10_000;
    if (!Number.isSafeInteger(maxEvents) || maxEvents < 1) {
      throw new SagaTestError(`SagaTestEnvironment: maxEvents must be a positive integer (got ${String(maxEvents)})`);
    }
    this.#kernel = new Kernel(start);
    this.#random = options.random ?? (() => 0.5);
    this.#maxEvents = maxEvents;
    const poison = options.poisonAfterDeaths ?? DEFAULT_POISON_AFTER_DEATHS;
    if (!Number.isSafeInteger(poison) || poison < 1) {
      throw new SagaTestError(
        `SagaTestEnvironment: poisonAfterDeaths must be a positive integer (got ${String(poison)})`,
      );
    }
    this.#poisonAfterDeaths = poison;
  }

  /** The virtual time. */
  now(): Date {
    return new Date(this.#kernel.clock.now);
  }

  /**
   * Starts a saga: `SagaStarted` is applied now, and its first stage is dispatched; nothing runs until the
   * environment does (`run.result()`, `env.advance()`). The options are checked against the definition at once: a
   * step or a dep that it does not have is a `SagaTestError`.
   */
  start<D extends AnySagaDefinition>(saga: D, input: InputOf<D>, options: StartOptions<D> = {}): SagaTestRun<D> {
    if (typeof saga !== 'object' || saga === null || !Array.isArray(saga.stages) || !saga.stepsByName) {
      throw new SagaTestError('env.start: the first argument must be a saga definition (defineSaga(...).build())');
    }
    checkStartOptions(saga, options as StartOptions<AnySagaDefinition>);
    return new SagaTestRun(saga, input, options, this.#kernel, {
      random: this.#random,
      maxEvents: this.#maxEvents,
      poisonAfterDeaths: this.#poisonAfterDeaths,
    });
  }

  /**
   * Moves the clock forward by `duration`, running everything due on the way (and waiting for the attempts it
   * starts). `advance(0)` runs what is due now: signals sent without `at`, attempts dispatched at once.
   */
  async advance(duration: Duration): Promise<void> {
    const ms = parseDuration(duration, 'advance');
    await this.#kernel.drive({ target: this.#kernel.clock.now + ms });
  }

  /**
   * A pause in virtual time, for handlers and fakes: resolves once the clock has moved by `duration` (an attempt
   * that awaits only this does not hold the clock). Rejects with the signal's reason when it aborts first: pass
   * `ctx.signal`, and a sleep longer than the step's timeout ends at the timeout, as a real call would. It resolves
   * only while the environment runs (`result()`, `advance()`); in the test itself, use `advance()`.
   */
  sleep(duration: Duration, signal?: AbortSignal): Promise<void> {
    return this.#kernel.sleep(parseDuration(duration, 'sleep'), signal);
  }
}
