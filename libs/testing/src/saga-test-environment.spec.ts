import { type HistoryEntry, type ResolvedRetryPolicy, initialState, transition } from '@saga-engine/core';
import { NonRetryableError, defineSaga, type RetryPolicy } from '@saga-engine/sdk';
import { IsString } from 'class-validator';
import { SagaTestEnvironment, SagaTestError, fail, type SagaTestResult } from './';

/*
 * SagaTestEnvironment against sagas built with defineSaga. Every wait here is in virtual time: no test sleeps on
 * the wall clock, and each asserts on outcomes the saga could get wrong.
 */

const START = new Date('2026-01-01T00:00:00.000Z');
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

/** History entries as short strings: `StepFailed charge-card#1`, `SagaCompensated`. */
const brief = (history: readonly HistoryEntry[]) =>
  history.map((h) => `${h.type}${h.step === null ? '' : ` ${h.step}`}${h.attempt === null ? '' : `#${h.attempt}`}`);

/** Attempts as short strings: `run charge-card#2 @3000 failed`. */
const attemptsOf = (result: SagaTestResult) =>
  result.attempts.map((a) => `${a.phase} ${a.step}#${a.attempt} @${a.elapsedMs} ${a.outcome ?? 'running'}`);

/** The policy's own backoff, without jitter: what the engine waits with `random` at 0.5. */
const backoff =
  (policy: Pick<ResolvedRetryPolicy, 'initialIntervalMs' | 'backoffCoefficient' | 'maximumIntervalMs'>) =>
  (failedAttempt: number) =>
    Math.min(policy.initialIntervalMs * policy.backoffCoefficient ** (failedAttempt - 1), policy.maximumIntervalMs);

// ---------------------------------------------------------------------------------------------------------------
// The sagas under test, with their participants as deps.
// ---------------------------------------------------------------------------------------------------------------

class Stock {
  reserve(_sku: string, _key: string): Promise<{ reservationId: string }> {
    throw new Error('the real warehouse is not reachable from a unit test');
  }
  release(_reservationId: string | undefined, _key: string): Promise<void> {
    throw new Error('the real warehouse is not reachable from a unit test');
  }
}

class Payments {
  charge(_orderId: string, _key: string): Promise<{ chargeId: string }> {
    throw new Error('the real payment provider is not reachable from a unit test');
  }
  refund(_chargeId: string | undefined, _key: string): Promise<void> {
    throw new Error('the real payment provider is not reachable from a unit test');
  }
}

interface OrderInput {
  orderId: string;
  sku: string;
}

const CHARGE_RETRY: RetryPolicy = {
  maximumAttempts: 5,
  initialInterval: '1s',
  backoffCoefficient: 3,
  maximumInterval: '20s',
  jitter: 0.25,
};

/** reserve-stock, charge-card (the pivot), ship: anything before the charge is undone, anything after retried. */
const orderSaga = defineSaga<OrderInput, { stock: typeof Stock; payments: typeof Payments }>('order', {
  version: 1,
  deps: { stock: Stock, payments: Payments },
  defaults: { retry: { maximumAttempts: 3, initialInterval: '1s' }, compensationRetry: { maximumAttempts: 3 } },
})
  .step('reserve-stock', {
    run: (ctx, { stock }) => stock.reserve(ctx.input.sku, ctx.key),
    compensate: (ctx, { stock }) => stock.release(ctx.output?.reservationId, ctx.undoKey),
  })
  .step('charge-card', {
    run: (ctx, { payments }) => payments.charge(ctx.input.orderId, ctx.key),
    compensate: (ctx, { payments }) => payments.refund(ctx.output?.chargeId, ctx.undoKey),
    retry: CHARGE_RETRY,
    timeout: '20s',
    pivot: true,
  })
  .step('ship', {
    run: (ctx) => ({ trackingId: `t-${ctx.input.orderId}` }),
    retry: { maximumAttempts: 2, initialInterval: '1m', backoffCoefficient: 2, maximumInterval: '10m' },
  })
  .build();

/** Fakes that record what the saga did to them, by idempotency key. */
function fakes() {
  const calls: string[] = [];
  const stock = {
    reserve: jest.fn(async (sku: string, key: string) => {
      calls.push(`reserve ${sku} ${key}`);
      return { reservationId: `r-${sku}` };
    }),
    release: jest.fn(async (id: string | undefined, key: string) => {
      calls.push(`release ${id} ${key}`);
    }),
  };
  const payments = {
    charge: jest.fn(async (orderId: string, key: string) => {
      calls.push(`charge ${orderId} ${key}`);
      return { chargeId: `c-${orderId}` };
    }),
    refund: jest.fn(async (id: string | undefined, key: string) => {
      calls.push(`refund ${id} ${key}`);
    }),
  };
  return { calls, deps: { stock, payments } };
}

const ORDER: OrderInput = { orderId: 'o-1', sku: 'sku-9' };

/** book-drone, then a wait for the drone's report (at most an hour), then notify. */
const deliverySaga = defineSaga<{ parcel: string }>('delivery', { version: 1 })
  .step('book-drone', {
    run: () => ({ droneId: 'd-7' }),
    compensate: () => undefined,
  })
  .waitFor<'await-delivery', { droneId: string }>('await-delivery', { signal: 'DeliveryCompleted', timeout: '1h' })
  .step('notify', { run: (ctx) => ({ sent: `${ctx.input.parcel} by ${ctx.steps.awaitDelivery.droneId}` }) })
  .build();

// ---------------------------------------------------------------------------------------------------------------

describe('SagaTestEnvironment', () => {
  describe('virtual time', () => {
    it('runs a saga whose backoffs and wait add up to more than an hour in well under 2 s of wall time', async () => {
      const slow = defineSaga('quote', { version: 1 })
        .step('fetch-quote', {
          run: () => ({ price: 42 }),
          retry: { maximumAttempts: 6, initialInterval: '1m', backoffCoefficient: 2, maximumInterval: '30m' },
        })
        .waitFor('await-approval', { signal: 'Approved', timeout: '2h' })
        .build();
      const env = new SagaTestEnvironment({ start: START });
      const began = performance.now();

      const run = env.start(slow, {}, { faults: { 'fetch-quote': fail.times(5, fail.transient()) } });
      run.signal('Approved', { by: 'finance' }, { at: '90m' });
      const result = await run.result();
      const wallMs = performance.now() - began;

      expect(result.status).toBe('COMPLETED');
      // 1 + 2 + 4 + 8 + 16 minutes of backoff, then the approval at 90 minutes.
      expect(result.attempts.map((a) => a.elapsedMs)).toEqual([0, 1, 3, 7, 15, 31].map((m) => m * 60_000));
      expect(result.elapsedMs).toBe(90 * 60_000);
      expect(result.elapsedMs).toBeGreaterThanOrEqual(3_600_000);
      expect(wallMs).toBeLessThan(2_000);
      expect(env.now().getTime() - START.getTime()).toBe(90 * 60_000);
      process.stdout.write(`one-hour saga: ${result.elapsedMs / 60_000} virtual minutes in ${wallMs.toFixed(1)} ms\n`);
    });

    it('stands still while nothing is due, and advance() runs what falls due on the way', async () => {
      const env = new SagaTestEnvironment({ start: START });
      const run = env.start(deliverySaga, { parcel: 'p-1' });

      await env.advance('10m');
      const midway = run.snapshot();
      expect(midway.status).toBe('RUNNING');
      expect(midway.steps['book-drone'].status).toBe('SUCCEEDED');
      expect(midway.steps['await-delivery'].status).toBe('WAITING');
      expect(env.now()).toEqual(new Date(START.getTime() + 10 * 60_000));

      run.signal('DeliveryCompleted', { droneId: 'd-7' });
      const result = await run.result();
      expect(result.status).toBe('COMPLETED');
      expect(result.output).toEqual({
        bookDrone: { droneId: 'd-7' },
        awaitDelivery: { droneId: 'd-7' },
        notify: { sent: 'p-1 by d-7' },
      });
      expect(result.elapsedMs).toBe(10 * 60_000);
    });

    it('lets a handler wait in virtual time with env.sleep: parallel siblings overlap, a sleep past the timeout times out', async () => {
      const env = new SagaTestEnvironment({ start: START });
      const saga = defineSaga('trip', { version: 1 })
        .parallel('book', (g) =>
          g
            .step('book-flight', { run: async () => ({ seat: '12A' }), timeout: '30s' })
            .step('book-hotel', { run: async () => ({ room: 101 }), timeout: '30s' }),
        )
        .step('confirm', { run: () => ({ ok: true }) })
        .build();

      const run = env.start(
        saga,
        {},
        {
          stubs: {
            'book-flight': async (ctx) => {
              // The first attempt outlives the step's timeout (30 s); the second takes 10 s.
              await env.sleep(ctx.attempt === 1 ? '45s' : '10s', ctx.signal);
              return { seat: '14C' };
            },
            'book-hotel': async () => {
              await env.sleep('20s');
              return { room: 7 };
            },
          },
        },
      );
      const result = await run.result();

      expect(result.status).toBe('COMPLETED');
      expect(attemptsOf(result)).toEqual([
        'run book-flight#1 @0 failed',
        'run book-hotel#1 @0 succeeded',
        // 30 s timeout, then the 1 s backoff.
        'run book-flight#2 @31000 succeeded',
        'run confirm#1 @41000 succeeded',
      ]);
      expect(result.attempts[0].error).toEqual({
        name: 'TimeoutError',
        code: 'TIMEOUT',
        message: 'timed out after 30000 ms',
        retryable: true,
      });
      expect(result.attempts[1].reportedAt).toEqual(new Date(START.getTime() + 20_000));
      expect(result.output).toMatchObject({ bookFlight: { seat: '14C' }, bookHotel: { room: 7 } });
    });
  });

  describe('retries', () => {
    it('retries transient faults with the policy backoff (jitter at its midpoint with the default random)', async () => {
      const env = new SagaTestEnvironment({ start: START });
      const { deps } = fakes();
      const run = env.start(orderSaga, ORDER, { deps, faults: { 'charge-card': fail.times(4, fail.transient()) } });

      const result = await run.result();

      expect(result.status).toBe('COMPLETED');
      const delays = backoff({ initialIntervalMs: 1_000, backoffCoefficient: 3, maximumIntervalMs: 20_000 });
      const expected = [1, 2, 3, 4].map(delays);
      expect(expected).toEqual([1_000, 3_000, 9_000, 20_000]);
      const scheduled = result.history.filter((h) => h.type === 'StepRetryScheduled');
      expect(scheduled.map((h) => [h.step, h.attempt, h.data])).toEqual(
        expected.map((delayMs, i) => ['charge-card', i + 2, { delayMs }]),
      );
      // Each attempt starts when its backoff is over, in virtual time.
      const starts = result.attempts.filter((a) => a.step === 'charge-card').map((a) => a.elapsedMs);
      expect(starts).toEqual([0, 1_000, 4_000, 13_000, 33_000]);
      expect(result.steps['charge-card']).toMatchObject({ status: 'SUCCEEDED', attempts: 5 });
      expect(deps.payments.charge).toHaveBeenCalledTimes(1);
    });

    it('spreads the backoff by jitter with another random, and honours a retryAfter hint over the policy', async () => {
      const env = new SagaTestEnvironment({ start: START, random: () => 0 });
      const { deps } = fakes();
      const run = env.start(orderSaga, ORDER, {
        deps,
        faults: {
          'charge-card': [fail.transient(), fail.transient('RATE_LIMITED', { retryAfter: '10m' }), fail.transient()],
        },
      });

      const result = await run.result();

      const delays = result.history.filter((h) => h.type === 'StepRetryScheduled').map((h) => h.data?.delayMs);
      // random 0 is the low end of ±25 %: 1 s * 0.75; then the participant's 10 minutes; then 9 s * 0.75.
      expect(delays).toEqual([750, 600_000, 6_750]);
      expect(result.attempts[2].error).toMatchObject({ code: 'RATE_LIMITED', retryAfterMs: 600_000 });
      expect(result.status).toBe('COMPLETED');
    });

    it('undoes a step whose retries are exhausted (its outcome is unknown), then the earlier ones', async () => {
      const env = new SagaTestEnvironment({ start: START });
      const saga = defineSaga<OrderInput, { stock: typeof Stock; payments: typeof Payments }>('order-no-pivot', {
        version: 1,
        deps: { stock: Stock, payments: Payments },
      })
        .step('reserve-stock', {
          run: (ctx, { stock }) => stock.reserve(ctx.input.sku, ctx.key),
          compensate: (ctx, { stock }) => stock.release(ctx.output?.reservationId, ctx.undoKey),
        })
        .step('charge-card', {
          run: (ctx, { payments }) => payments.charge(ctx.input.orderId, ctx.key),
          compensate: (ctx, { payments }) => payments.refund(ctx.output?.chargeId, ctx.undoKey),
          retry: { maximumAttempts: 2, initialInterval: '5s' },
        })
        .build();
      const { deps, calls } = fakes();

      const result = await env
        .start(saga, ORDER, { deps, faults: { 'charge-card': fail.times(2, fail.transient('GATEWAY_DOWN')) } })
        .result();

      expect(result.status).toBe('COMPENSATED');
      expect(result.error).toEqual({
        step: 'charge-card',
        code: 'GATEWAY_DOWN',
        message: 'scripted transient failure GATEWAY_DOWN',
        transient: true,
      });
      expect(brief(result.history)).toEqual([
        'SagaStarted',
        'StepScheduled reserve-stock#1',
        'StepSucceeded reserve-stock#1',
        'StepScheduled charge-card#1',
        'StepFailed charge-card#1',
        'StepRetryScheduled charge-card#2',
        'StepFailed charge-card#2',
        'SagaCompensating',
        'CompensationScheduled charge-card#1',
        'CompensationSucceeded charge-card#1',
        'CompensationScheduled reserve-stock#1',
        'CompensationSucceeded reserve-stock#1',
        'SagaCompensated',
      ]);
      const id = result.id;
      // The charge never ran (scripted), but its refund does: the engine cannot know the charge took no effect.
      expect(calls).toEqual([
        `reserve sku-9 ${id}:reserve-stock`,
        `refund undefined ${id}:charge-card:undo`,
        `release r-sku-9 ${id}:reserve-stock:undo`,
      ]);
    });

    it('retries a step past the pivot for ever, beyond maximumAttempts, until it succeeds', async () => {
      const env = new SagaTestEnvironment({ start: START });
      const { deps } = fakes();

      const result = await env
        .start(orderSaga, ORDER, { deps, faults: { ship: fail.times(6, fail.transient('CARRIER_DOWN')) } })
        .result();

      expect(result.status).toBe('COMPLETED');
      expect(result.steps.ship).toMatchObject({ status: 'SUCCEEDED', attempts: 7, output: { trackingId: 't-o-1' } });
      const delays = result.history.filter((h) => h.type === 'StepRetryScheduled').map((h) => h.data?.delayMs);
      const policy = backoff({ initialIntervalMs: 60_000, backoffCoefficient: 2, maximumIntervalMs: 600_000 });
      expect(delays).toEqual([1, 2, 3, 4, 5, 6].map(policy));
      expect(result.elapsedMs).toBe((1 + 2 + 4 + 8 + 10 + 10) * 60_000);
      expect(result.history.some((h) => h.type === 'SagaCompensating')).toBe(false);
    });

    it('stops a saga that would retry for ever with a SagaTestError after maxEvents', async () => {
      const env = new SagaTestEnvironment({ start: START, maxEvents: 50 });
      const { deps } = fakes();
      const run = env.start(orderSaga, ORDER, { deps, stubs: { ship: () => Promise.reject(new Error('always')) } });

      await expect(run.result()).rejects.toThrow(SagaTestError);
      await expect(run.result()).rejects.toThrow('saga "order"');
      await expect(run.result()).rejects.toThrow('still RUNNING after 50 events');
    });
  });

  describe('failures and compensation', () => {
    it('undoes only the earlier steps after a definite fault: the failed step took no effect', async () => {
      const env = new SagaTestEnvironment({ start: START });
      const { deps, calls } = fakes();

      const result = await env
        .start(orderSaga, ORDER, { deps, faults: { 'charge-card': [fail.definite('CARD_DECLINED')] } })
        .result();

      expect(result.status).toBe('COMPENSATED');
      expect(result.error).toMatchObject({ step: 'charge-card', code: 'CARD_DECLINED', transient: false });
      expect(result.steps['charge-card']).toMatchObject({ status: 'FAILED', attempts: 1, compensation: null });
      expect(result.steps['reserve-stock']).toMatchObject({
        status: 'COMPENSATED',
        compensation: { status: 'SUCCEEDED', attempts: 1, error: null },
      });
      expect(brief(result.history)).toEqual([
        'SagaStarted',
        'StepScheduled reserve-stock#1',
        'StepSucceeded reserve-stock#1',
        'StepScheduled charge-card#1',
        'StepFailed charge-card#1',
        'SagaCompensating',
        'CompensationScheduled reserve-stock#1',
        'CompensationSucceeded reserve-stock#1',
        'SagaCompensated',
      ]);
      expect(calls).toEqual([
        `reserve sku-9 ${result.id}:reserve-stock`,
        `release r-sku-9 ${result.id}:reserve-stock:undo`,
      ]);
      expect(deps.payments.refund).not.toHaveBeenCalled();
    });

    it('classifies what a real handler throws as the agent does: a NonRetryableError is definite', async () => {
      const env = new SagaTestEnvironment({ start: START });
      const { deps } = fakes();
      deps.payments.charge.mockRejectedValueOnce(new NonRetryableError('declined', { code: 'CARD_DECLINED' }));

      const result = await env.start(orderSaga, ORDER, { deps }).result();

      expect(result.status).toBe('COMPENSATED');
      expect(result.steps['charge-card'].error).toEqual({
        name: 'NonRetryableError',
        code: 'CARD_DECLINED',
        message: 'declined',
        retryable: false,
      });
    });

    it('fails an attempt with fail.timeout(): its signal aborts with a TimeoutError at the step timeout, and it is retried', async () => {
      const env = new SagaTestEnvironment({ start: START });
      const { deps } = fakes();
      let reason: unknown;
      const run = env.start(orderSaga, ORDER, {
        deps,
        faults: {
          'charge-card': [
            fail.timeout(),
            // A function entry runs instead of the handler, with the same ctx and deps.
            (ctx, { payments }) => payments.charge(`${ctx.input.orderId}-retried`, ctx.key),
          ],
        },
        stubs: {
          'charge-card': (ctx) =>
            new Promise((_, reject) =>
              ctx.signal.addEventListener('abort', () => {
                reason = ctx.signal.reason;
                reject(ctx.signal.reason as Error);
              }),
            ),
        },
      });

      const result = await run.result();

      expect(result.status).toBe('COMPLETED');
      expect(reason).toMatchObject({ name: 'TimeoutError' });
      const [first, second] = result.attempts.filter((a) => a.step === 'charge-card');
      expect(first).toMatchObject({ ran: 'fault', outcome: 'failed', elapsedMs: 0 });
      expect(first.error).toEqual({
        name: 'TimeoutError',
        code: 'TIMEOUT',
        message: 'timed out after 20000 ms',
        retryable: true,
      });
      expect(first.reportedAt).toEqual(new Date(START.getTime() + 20_000));
      expect(second).toMatchObject({ ran: 'fault', outcome: 'succeeded', elapsedMs: 21_000 });
      expect(result.output?.chargeCard).toEqual({ chargeId: 'c-o-1-retried' });
    });

    it('loses the report of an attempt with fail.crash(): the supervisor fails it at its deadline, and the retry runs the same key', async () => {
      const env = new SagaTestEnvironment({ start: START });
      const { deps, calls } = fakes();

      const result = await env.start(orderSaga, ORDER, { deps, faults: { 'charge-card': [fail.crash()] } }).result();

      expect(result.status).toBe('COMPLETED');
      const [first, second] = result.attempts.filter((a) => a.step === 'charge-card');
      // Due at 0, timeout 20 s, plus the supervisor's 5 s of grace; then the 1 s backoff.
      expect(first.reportedAt).toEqual(new Date(START.getTime() + 25_000));
      expect(first.error).toMatchObject({ name: 'DeadlineExceeded', code: 'DEADLINE_EXCEEDED', retryable: true });
      expect(second.elapsedMs).toBe(26_000);
      expect(calls.filter((c) => c.startsWith('charge'))).toEqual([
        `charge o-1 ${result.id}:charge-card`,
        `charge o-1 ${result.id}:charge-card`,
      ]);
    });

    it('POISONs a step whose agent dies twice (2 fail.crash()): not retried, undone, an alert raised', async () => {
      const env = new SagaTestEnvironment({ start: START });
      const { deps, calls } = fakes();

      const result = await env
        .start(orderSaga, ORDER, { deps, faults: { 'charge-card': [fail.crash(), fail.crash()] } })
        .result();

      expect(result.status).toBe('COMPENSATED');
      const [first, second, third] = result.attempts.filter((a) => a.step === 'charge-card' && a.phase === 'run');
      expect(first.error).toMatchObject({ code: 'DEADLINE_EXCEEDED', retryable: true });
      expect(second.error).toMatchObject({ name: 'Poisoned', code: 'POISONED', retryable: false });
      expect(third).toBeUndefined();
      // It may have charged before its agent died: it is refunded, then the stock released.
      expect(calls.filter((c) => c.startsWith('refund') || c.startsWith('release'))).toHaveLength(2);
      expect(result.alerts).toEqual([
        expect.objectContaining({
          status: 'POISONED',
          error: expect.objectContaining({ step: 'charge-card', code: 'POISONED' }),
        }),
      ]);
      // One death short of the limit: retried.
      const lenient = new SagaTestEnvironment({ start: START, poisonAfterDeaths: 3 });
      const again = await lenient
        .start(orderSaga, ORDER, { deps: fakes().deps, faults: { 'charge-card': [fail.crash(), fail.crash()] } })
        .result();
      expect(again.status).toBe('COMPLETED');
    });

    it('leaves the saga FAILED when a compensation fails for good, and run.retry() resumes it', async () => {
      const env = new SagaTestEnvironment({ start: START });
      const { deps } = fakes();
      const run = env.start(orderSaga, ORDER, {
        deps,
        faults: { 'charge-card': [fail.definite('CARD_DECLINED')] },
        compensationFaults: { 'reserve-stock': fail.times(3, fail.transient('WAREHOUSE_DOWN')) },
      });

      const failed = await run.result();

      expect(failed.status).toBe('FAILED');
      expect(failed.error).toMatchObject({ step: 'reserve-stock', code: 'WAREHOUSE_DOWN', transient: true });
      expect(failed.steps['reserve-stock']).toMatchObject({
        status: 'COMPENSATION_FAILED',
        compensation: { status: 'FAILED', attempts: 3 },
      });
      expect(failed.alerts).toEqual([
        expect.objectContaining({ error: expect.objectContaining({ code: 'WAREHOUSE_DOWN' }) }),
      ]);
      expect(deps.stock.release).not.toHaveBeenCalled();

      run.retry('the warehouse is back', { at: '1h' });
      const resumed = await run.result();

      expect(resumed.status).toBe('COMPENSATED');
      expect(resumed.elapsedMs).toBe(3_600_000);
      expect(resumed.steps['reserve-stock'].compensation).toMatchObject({ status: 'SUCCEEDED', attempts: 4 });
      expect(brief(resumed.history).slice(brief(failed.history).length)).toEqual([
        'RetryRequested',
        'CompensationScheduled reserve-stock#4',
        'CompensationSucceeded reserve-stock#4',
        'SagaCompensated',
      ]);
      expect(deps.stock.release).toHaveBeenCalledWith('r-sku-9', `${run.id}:reserve-stock:undo`);
    });

    it('goes on when an operator resolves a FAILED compensation by hand', async () => {
      const env = new SagaTestEnvironment({ start: START });
      const { deps } = fakes();
      const run = env.start(orderSaga, ORDER, {
        deps,
        faults: { 'charge-card': [fail.definite()] },
        compensationFaults: { 'reserve-stock': [fail.definite('ALREADY_SHIPPED')] },
      });
      expect((await run.result()).status).toBe('FAILED');

      run.resolve('reserve-stock', 'released by hand');
      const result = await run.result();

      expect(result.status).toBe('COMPENSATED');
      expect(result.steps['reserve-stock'].compensation?.status).toBe('RESOLVED');
    });

    it('cancels a running saga: what completed is undone, the wait gives up, and it ends CANCELLED', async () => {
      const env = new SagaTestEnvironment({ start: START });
      const run = env.start(deliverySaga, { parcel: 'p-2' });
      run.cancel('the customer changed their mind', { at: '10m' });

      const result = await run.result();

      expect(result.status).toBe('CANCELLED');
      expect(result.elapsedMs).toBe(10 * 60_000);
      expect(result.steps['book-drone'].status).toBe('COMPENSATED');
      expect(result.steps['await-delivery'].error).toMatchObject({ code: 'WAIT_ABANDONED' });
      expect(result.error).toMatchObject({ step: null, code: 'CANCELLED', message: 'the customer changed their mind' });
    });

    it('ignores a cancel past the pivot, as the API refuses it', async () => {
      const env = new SagaTestEnvironment({ start: START });
      const { deps } = fakes();
      const run = env.start(orderSaga, ORDER, { deps, faults: { ship: [fail.transient()] } });
      run.cancel('too late', { at: '30s' });

      const result = await run.result();

      expect(result.status).toBe('COMPLETED');
      expect(result.events.find((e) => e.event.type === 'CancelRequested')).toMatchObject({
        elapsedMs: 30_000,
        ignored: 'past the pivot step "charge-card"',
      });
    });
  });

  describe("a step's output class, as the agent and the API check it", () => {
    class Shipment {
      @IsString()
      trackingId!: string;
    }
    const typed = (returns: unknown) =>
      defineSaga('typed-kit', { version: 1 })
        .step('reserve', { run: () => ({}), compensate: () => undefined })
        .step('ship', { output: Shipment, run: () => returns as Shipment, compensate: () => undefined })
        .step('notify', { run: (ctx) => ({ sent: ctx.steps.ship.trackingId }) })
        .build();

    it('fails an attempt whose output its class refuses with OUTPUT_INVALID, not retried, and undoes the step', async () => {
      const env = new SagaTestEnvironment({ start: START });
      const result = await env.start(typed({ trackingId: 42 }), {}).result();
      expect(result.status).toBe('COMPENSATED');
      expect(result.steps.ship).toMatchObject({ status: 'COMPENSATED', attempts: 1 });
      expect(result.steps.ship.error).toEqual({
        name: 'OutputInvalidError',
        code: 'OUTPUT_INVALID',
        message: 'the output of step "ship" does not fit its output class Shipment: output.trackingId must be a string',
        retryable: false,
      });
      expect(result.steps.notify.status).toBe('PENDING');
      const ok = await env.start(typed({ trackingId: 'T-1' }), {}).result();
      expect(ok.output).toMatchObject({ notify: { sent: 'T-1' } });
    });

    it("refuses a skip whose output does not fit the step's class, naming the field", async () => {
      const env = new SagaTestEnvironment({ start: START });
      const saga = defineSaga('typed-kit-skip', { version: 1 })
        .step('charge', { run: () => ({}), pivot: true })
        .step('ship', {
          output: Shipment,
          run: (): Shipment => {
            throw new NonRetryableError('no carrier', { code: 'NO_CARRIER' });
          },
        })
        .build();
      const run = env.start(saga, {});
      expect((await run.result()).status).toBe('FAILED');
      expect(() => run.skip('ship', { trackingId: 7 }, 'by hand')).toThrow(
        new SagaTestError('skip("ship"): output.trackingId must be a string'),
      );
      run.skip('ship', { trackingId: 'T-7' }, 'by hand');
      expect((await run.result()).output).toMatchObject({ ship: { trackingId: 'T-7' } });
    });
  });

  describe("an operator's retry from a step and skip", () => {
    it('skips a FAILED step with an output, then re-runs from it with a new key; never from the pivot', async () => {
      const env = new SagaTestEnvironment({ start: START });
      const { deps, calls } = fakes();
      const run = env.start(orderSaga, ORDER, { deps, faults: { ship: [fail.definite('NO_CARRIER')] } });
      expect((await run.result()).status).toBe('FAILED');

      run.skip('ship', { trackingId: 'by-hand' }, 'shipped by hand');
      const skipped = await run.result();
      expect(skipped.status).toBe('COMPLETED');
      expect(skipped.output).toMatchObject({ ship: { trackingId: 'by-hand' } });

      run.retryFrom('charge-card', 'charge again');
      run.retryFrom('ship', 'ship it for real');
      const rerun = await run.result();
      expect(rerun.status).toBe('COMPLETED');
      expect(rerun.output).toMatchObject({ ship: { trackingId: 't-o-1' } });
      expect(rerun.events.find((e) => e.event.type === 'RetryFromStepRequested')).toMatchObject({
        ignored: expect.stringContaining('not after the pivot step "charge-card"'),
      });
      // Charged once: the pivot is not re-run.
      expect(calls.filter((c) => c.startsWith('charge'))).toEqual([`charge o-1 ${run.id}:charge-card`]);
      expect(() => run.skip('ship', { big: 'x'.repeat(300_000) }, 'too big')).toThrow(/larger than/);
    });
  });

  describe('conditions, parallel groups and waits', () => {
    const parcelSaga = defineSaga<{ weightKg: number }>('parcel', { version: 1 })
      .step('weigh', {
        run: (ctx) => {
          if (ctx.input.weightKg < 0) throw new NonRetryableError('negative weight', { code: 'BAD_WEIGHT' });
          return { kg: ctx.input.weightKg };
        },
        compensate: () => undefined,
      })
      .parallel('transport', (g) =>
        g
          .step('schedule-drone', {
            when: (c) => c.steps.weigh.kg <= 20,
            run: () => ({ droneId: 'd-1' }),
            compensate: () => undefined,
          })
          .step('book-truck', {
            when: (c) => {
              if (c.steps.weigh.kg > 1000) throw new Error('no truck carries that');
              return c.steps.weigh.kg > 20;
            },
            run: () => ({ truckId: 't-1' }),
            compensate: () => undefined,
          })
          .step('insure', { run: () => ({ policy: 'p-1' }), compensate: () => undefined }),
      )
      .step('notify', { run: (ctx) => ({ by: ctx.steps.scheduleDrone ? 'drone' : 'truck' }) })
      .build();

    it('skips a step whose condition is false, without calling it', async () => {
      const env = new SagaTestEnvironment({ start: START });
      const truck = jest.fn(() => ({ truckId: 't-1' }));

      const result = await env.start(parcelSaga, { weightKg: 5 }, { stubs: { 'book-truck': truck } }).result();

      expect(result.status).toBe('COMPLETED');
      expect(result.steps['book-truck']).toMatchObject({ status: 'SKIPPED', attempts: 1, output: null });
      expect(result.output).toEqual({
        weigh: { kg: 5 },
        scheduleDrone: { droneId: 'd-1' },
        insure: { policy: 'p-1' },
        notify: { by: 'drone' },
      });
      expect(truck).not.toHaveBeenCalled();
      expect(result.attempts.find((a) => a.step === 'book-truck')).toMatchObject({
        ran: 'condition',
        outcome: 'skipped',
      });
    });

    it('runs a parallel group together, and undoes the siblings that succeeded when one fails for good', async () => {
      const env = new SagaTestEnvironment({ start: START });

      const result = await env
        .start(parcelSaga, { weightKg: 50 }, { faults: { insure: [fail.definite('UNINSURABLE')] } })
        .result();

      expect(result.status).toBe('COMPENSATED');
      expect(attemptsOf(result)).toEqual([
        'run weigh#1 @0 succeeded',
        'run schedule-drone#1 @0 skipped',
        'run book-truck#1 @0 succeeded',
        'run insure#1 @0 failed',
        'undo book-truck#1 @0 succeeded',
        'undo weigh#1 @0 succeeded',
      ]);
      expect(result.steps['schedule-drone'].compensation).toBeNull();
      expect(result.steps.insure.compensation).toBeNull();
    });

    it('fails a step whose condition throws for good (CONDITION_ERROR), and undoes the rest', async () => {
      const env = new SagaTestEnvironment({ start: START });

      const result = await env.start(parcelSaga, { weightKg: 5000 }).result();

      expect(result.status).toBe('COMPENSATED');
      expect(result.steps['book-truck'].error).toEqual({
        name: 'ConditionError',
        code: 'CONDITION_ERROR',
        message: 'the condition of step "book-truck" threw: no truck carries that',
        retryable: false,
      });
      expect(result.steps.weigh.status).toBe('COMPENSATED');
    });

    it('completes a wait step with a signal sent at a virtual time: its payload is the output', async () => {
      const env = new SagaTestEnvironment({ start: START });
      const run = env.start(deliverySaga, { parcel: 'p-3' });
      run.signal('DeliveryCompleted', { droneId: 'd-7' }, { at: '50m' });

      const result = await run.result();

      expect(result.status).toBe('COMPLETED');
      expect(result.steps['await-delivery']).toMatchObject({ status: 'SUCCEEDED', output: { droneId: 'd-7' } });
      expect(result.history.find((h) => h.type === 'SignalReceived')).toMatchObject({
        step: 'await-delivery',
        elapsedMs: 50 * 60_000,
        data: { signal: 'DeliveryCompleted', by: 'test' },
      });
      expect(result.elapsedMs).toBe(50 * 60_000);
    });

    it('keeps a signal that comes before its wait starts, and completes the wait with it', async () => {
      const env = new SagaTestEnvironment({ start: START });
      const run = env.start(deliverySaga, { parcel: 'p-4' });
      run.signal('DeliveryCompleted', { droneId: 'd-8' });

      const result = await run.result();

      expect(result.status).toBe('COMPLETED');
      expect(brief(result.history)).toContain('SignalBuffered');
      expect(result.history.find((h) => h.type === 'SignalReceived')?.data).toEqual({
        signal: 'DeliveryCompleted',
        buffered: true,
        by: 'test',
      });
    });

    it('evaluates the condition of a conditional wait first: false skips it, true starts the wait', async () => {
      const saga = defineSaga<{ signed: boolean }>('contract', { version: 1 })
        .step('draft', { run: () => ({ id: 'c-1' }) })
        .waitFor('await-signature', { signal: 'Signed', timeout: '24h', when: (c) => !c.input.signed })
        .step('archive', { run: (ctx) => ({ signedBy: ctx.steps.awaitSignature?.by ?? 'already signed' }) })
        .build();
      const env = new SagaTestEnvironment({ start: START });

      const skipped = await env.start(saga, { signed: true }).result();
      const waiting = env.start(saga, { signed: false });
      waiting.signal('Signed', { by: 'ada' }, { at: '3h' });
      const signed = await waiting.result();

      expect(skipped.output?.archive).toEqual({ signedBy: 'already signed' });
      expect(skipped.attempts[1]).toMatchObject({ step: 'await-signature', ran: 'condition', outcome: 'skipped' });
      expect(signed.output?.archive).toEqual({ signedBy: 'ada' });
      expect(signed.attempts[1]).toMatchObject({ step: 'await-signature', ran: 'condition', outcome: 'waiting' });
      expect(brief(signed.history)).toEqual([
        'SagaStarted',
        'StepScheduled draft#1',
        'StepSucceeded draft#1',
        'StepScheduled await-signature#1',
        'StepWaiting await-signature#1',
        'SignalReceived await-signature#1',
        'StepScheduled archive#1',
        'StepSucceeded archive#1',
        'SagaCompleted',
      ]);
      expect(signed.elapsedMs).toBe(3 * 3_600_000);
    });

    it('fails a wait whose signal does not come in time (SIGNAL_TIMEOUT) and undoes what completed', async () => {
      const env = new SagaTestEnvironment({ start: START });
      const run = env.start(deliverySaga, { parcel: 'p-5' });
      run.signal('DeliveryCompleted', { droneId: 'late' }, { at: '61m' });

      const result = await run.result();

      expect(result.status).toBe('COMPENSATED');
      expect(result.elapsedMs).toBe(3_600_000);
      expect(result.steps['await-delivery'].error).toMatchObject({ code: 'SIGNAL_TIMEOUT', retryable: false });
      expect(result.error).toMatchObject({ step: 'await-delivery', code: 'SIGNAL_TIMEOUT', transient: false });
      expect(brief(result.history)).toEqual([
        'SagaStarted',
        'StepScheduled book-drone#1',
        'StepSucceeded book-drone#1',
        'StepWaiting await-delivery#1',
        'StepFailed await-delivery#1',
        'SagaCompensating',
        'CompensationScheduled book-drone#1',
        'CompensationSucceeded book-drone#1',
        'SagaCompensated',
      ]);
    });
  });

  describe('handlers, deps and stubs', () => {
    it('hands the declared deps to the real handlers, and a stub replaces a handler', async () => {
      const env = new SagaTestEnvironment({ start: START });
      const { deps, calls } = fakes();

      const result = await env
        .start(orderSaga, ORDER, {
          deps,
          stubs: { 'charge-card': (ctx) => ({ chargeId: `stubbed-${ctx.input.orderId}` }) },
        })
        .result();

      expect(result.status).toBe('COMPLETED');
      expect(calls).toEqual([`reserve sku-9 ${result.id}:reserve-stock`]);
      expect(deps.payments.charge).not.toHaveBeenCalled();
      expect(result.output?.chargeCard).toEqual({ chargeId: 'stubbed-o-1' });
      expect(result.attempts.map((a) => a.ran)).toEqual(['handler', 'stub', 'handler']);
    });

    it("replaces compensations with compensationStubs, and scripts their attempts, each given the step's output", async () => {
      const env = new SagaTestEnvironment({ start: START });
      const { deps } = fakes();
      const outputs: unknown[] = [];
      const saga = defineSaga<OrderInput, { stock: typeof Stock; payments: typeof Payments }>('order-undo', {
        version: 1,
        deps: { stock: Stock, payments: Payments },
      })
        .step('reserve-stock', {
          run: (ctx, { stock }) => stock.reserve(ctx.input.sku, ctx.key),
          compensate: (ctx, { stock }) => stock.release(ctx.output?.reservationId, ctx.undoKey),
        })
        .step('charge-card', { run: () => Promise.reject(new NonRetryableError('declined')) })
        .build();

      const result = await env
        .start(saga, ORDER, {
          deps,
          compensationStubs: { 'reserve-stock': (ctx) => void outputs.push(['stub', ctx.attempt, ctx.output]) },
          compensationFaults: {
            'reserve-stock': [
              (ctx) => outputs.push(['fault', ctx.attempt, ctx.output]) && Promise.reject(new Error('x')),
            ],
          },
        })
        .result();

      expect(result.status).toBe('COMPENSATED');
      expect(outputs).toEqual([
        ['fault', 1, { reservationId: 'r-sku-9' }],
        ['stub', 2, { reservationId: 'r-sku-9' }],
      ]);
      expect(deps.stock.release).not.toHaveBeenCalled();
      expect(result.attempts.filter((a) => a.phase === 'undo').map((a) => a.ran)).toEqual(['fault', 'stub']);
    });

    it('stops with an error naming the saga, the dep and the step when a handler reads a dep the test did not give', async () => {
      const env = new SagaTestEnvironment({ start: START });
      const { deps } = fakes();
      const run = env.start(orderSaga, ORDER, { deps: { stock: deps.stock } });

      const outcome = run.result();

      await expect(outcome).rejects.toThrow(SagaTestError);
      await expect(outcome).rejects.toThrow(
        'saga "order": step "charge-card" uses deps.payments, which the test did not give',
      );
    });

    it('refuses options that name a step or a dep the saga does not have, at start', () => {
      const env = new SagaTestEnvironment({ start: START });
      const start = (options: object) => () => env.start(orderSaga, ORDER, options);

      expect(start({ stubs: { 'charge-crad': () => ({}) } })).toThrow(
        'env.start(order): stubs names step "charge-crad", which saga "order" has not (its steps are reserve-stock, charge-card, ship)',
      );
      expect(start({ faults: { ship: [{ kind: 'oops' }] } })).toThrow('faults["ship"][0] must be a fail.*() fault');
      expect(start({ compensationStubs: { ship: () => undefined } })).toThrow('step "ship", which has no compensate');
      expect(start({ deps: { shipping: {} } })).toThrow(
        'deps.shipping is not a dep of saga "order" (it declares stock, payments)',
      );
      expect(() =>
        env.start(deliverySaga, { parcel: 'p' }, { faults: { 'await-delivery': [fail.transient()] } }),
      ).toThrow('a wait step: nothing runs for it');
      expect(() => env.start(deliverySaga, { parcel: 'p' }).signal('X', {}, { at: '-1s' })).toThrow('must be >= 0');
    });

    it("gives the engine's idempotency keys, the same on every attempt: <sagaId>:<step> and <sagaId>:<step>:undo", async () => {
      const env = new SagaTestEnvironment({ start: START });
      const seen: { phase: string; sagaId: string; key: string; undoKey: string; attempt: number }[] = [];
      const saga = defineSaga('keys', { version: 1 })
        .step('flaky', {
          run: (ctx) => {
            seen.push({ phase: 'run', sagaId: ctx.sagaId, key: ctx.key, undoKey: ctx.undoKey, attempt: ctx.attempt });
            if (ctx.attempt < 3) throw new Error('flaky');
            return { ok: true };
          },
          compensate: (ctx) => {
            seen.push({ phase: 'undo', sagaId: ctx.sagaId, key: ctx.key, undoKey: ctx.undoKey, attempt: ctx.attempt });
            if (ctx.attempt < 2) throw new Error('flaky undo');
          },
          retry: { maximumAttempts: 5 },
        })
        .step('refuse', { run: () => Promise.reject(new NonRetryableError('no')) })
        .build();

      const run = env.start(saga, {});
      const result = await run.result();

      expect(result.status).toBe('COMPENSATED');
      expect(run.id).toMatch(UUID);
      expect(seen).toEqual(
        [
          ...[1, 2, 3].map((attempt) => ({ phase: 'run', attempt })),
          ...[1, 2].map((attempt) => ({ phase: 'undo', attempt })),
        ].map((s) => ({ ...s, sagaId: run.id, key: `${run.id}:flaky`, undoKey: `${run.id}:flaky:undo` })),
      );
    });

    it('gives each attempt its own copy of the input and the outputs, as the agent reads them from PostgreSQL', async () => {
      const env = new SagaTestEnvironment({ start: START });
      const saga = defineSaga<{ items: string[] }>('copies', { version: 1 })
        .step('first', {
          run: (ctx) => {
            ctx.input.items.push('mutated');
            return { at: new Date(0), skipped: undefined, list: ctx.input.items.length };
          },
        })
        .step('second', {
          run: (ctx) => {
            (ctx.steps.first as { list: number }).list = 99;
            return { items: ctx.input.items, first: ctx.steps.first };
          },
        })
        .step('third', { run: (ctx) => ({ first: ctx.steps.first }) })
        .build();

      const result = await env.start(saga, { items: ['a'] }).result();

      expect(result.output).toEqual({
        // Stored as JSON: the Date is a string, the undefined field is gone.
        first: { at: '1970-01-01T00:00:00.000Z', list: 2 },
        second: { items: ['a'], first: { at: '1970-01-01T00:00:00.000Z', list: 99 } },
        third: { first: { at: '1970-01-01T00:00:00.000Z', list: 2 } },
      });
    });

    it('fails a step whose output cannot be stored (OUTPUT_INVALID, transient), as the agent does', async () => {
      const env = new SagaTestEnvironment({ start: START });
      const saga = defineSaga('bigint', { version: 1 })
        .step('count', { run: (ctx) => ({ n: ctx.attempt === 1 ? BigInt(1) : 1 }) })
        .build();

      const result = await env.start(saga, {}).result();

      expect(result.status).toBe('COMPLETED');
      expect(result.attempts[0].error).toMatchObject({ code: 'OUTPUT_INVALID', retryable: true });
      expect(result.output).toEqual({ count: { n: 1 } });
    });
  });

  describe("the engine's history", () => {
    it('records exactly what transition() writes for the events it fed it', async () => {
      const env = new SagaTestEnvironment({ start: START });
      const { deps } = fakes();
      const run = env.start(orderSaga, ORDER, {
        deps,
        faults: { 'reserve-stock': [fail.transient()], 'charge-card': [fail.timeout(), fail.definite()] },
        compensationFaults: { 'reserve-stock': [fail.transient()] },
      });
      const result = await run.result();
      expect(result.status).toBe('COMPENSATED');

      // Replaying the recorded events through the engine's own function gives the same history and state.
      let state = initialState(orderSaga, ORDER);
      const history: HistoryEntry[] = [];
      for (const { event, ignored } of result.events) {
        const step = transition(orderSaga, state, event, { random: () => 0.5 });
        expect(step.ignored).toBe(ignored);
        state = step.state;
        history.push(...step.history);
      }
      expect(result.history.map(({ at: _at, elapsedMs: _elapsed, ...entry }) => entry)).toEqual(history);
      expect(state.status).toBe(result.status);
      expect(brief(result.history)).toEqual([
        'SagaStarted',
        'StepScheduled reserve-stock#1',
        'StepFailed reserve-stock#1',
        'StepRetryScheduled reserve-stock#2',
        'StepSucceeded reserve-stock#2',
        'StepScheduled charge-card#1',
        'StepFailed charge-card#1',
        'StepRetryScheduled charge-card#2',
        'StepFailed charge-card#2',
        // The timed-out first charge may have taken effect, but a definite "no" followed: nothing to undo for it.
        'SagaCompensating',
        'CompensationScheduled reserve-stock#1',
        'CompensationFailed reserve-stock#1',
        'CompensationRetryScheduled reserve-stock#2',
        'CompensationSucceeded reserve-stock#2',
        'SagaCompensated',
      ]);
      expect(result.history.map((h) => h.seq)).toEqual(result.history.map((_, i) => i + 1));
    });
  });
});

// ---------------------------------------------------------------------------------------------------------------
// Sleeps and waits that continue, on the virtual clock.
// ---------------------------------------------------------------------------------------------------------------

describe('sleeps and waits that continue', () => {
  const slotSaga = defineSaga('slot', { version: 1 })
    .step('book', { run: () => ({ slotStart: '2026-01-01T06:00:00+01:00' }) })
    .sleep('cool-off', '1h')
    .sleep('until-slot', { until: (ctx) => ctx.steps.book.slotStart })
    .waitFor<'await-approval', { by: string }>('await-approval', {
      signal: 'Approved',
      timeout: '2d',
      onTimeout: 'continue',
    })
    .step('notify', {
      run: (ctx) => ({
        woke: ctx.steps.untilSlot.wokeAt,
        approved: 'timedOut' in ctx.steps.awaitApproval ? 'nobody' : ctx.steps.awaitApproval.by,
      }),
    })
    .build();

  it('sleeps for a duration, then until the computed time, and continues past a wait that timed out', async () => {
    const env = new SagaTestEnvironment({ start: START });
    const run = env.start(slotSaga, {});
    const result = await run.result();
    expect(result.status).toBe('COMPLETED');
    expect(result.steps['cool-off'].output).toEqual({
      wokeAt: '2026-01-01T01:00:00.000Z',
      dueAt: '2026-01-01T01:00:00.000Z',
    });
    expect(result.steps['until-slot'].output).toEqual({
      wokeAt: '2026-01-01T05:00:00.000Z',
      dueAt: '2026-01-01T05:00:00.000Z',
    });
    expect(result.steps['await-approval'].output).toEqual({ timedOut: true });
    expect(result.output).toMatchObject({ notify: { woke: '2026-01-01T05:00:00.000Z', approved: 'nobody' } });
    // 5 h of sleeps and 2 days of waiting, in virtual time.
    expect(result.elapsedMs).toBe(5 * 3_600_000 + 2 * 86_400_000);
    expect(brief(result.history)).toEqual([
      'SagaStarted',
      'StepScheduled book#1',
      'StepSucceeded book#1',
      'StepSleeping cool-off#1',
      'TimerFired cool-off#1',
      'StepScheduled until-slot#1',
      'StepSleeping until-slot#1',
      'TimerFired until-slot#1',
      'StepWaiting await-approval#1',
      'WaitTimedOut await-approval#1',
      'StepScheduled notify#1',
      'StepSucceeded notify#1',
      'SagaCompleted',
    ]);
    expect(attemptsOf(result)).toContain('run until-slot#1 @3600000 sleeping');
  });

  it('takes the signal when it comes before the timeout, and abandons a sleep on cancel', async () => {
    const env = new SagaTestEnvironment({ start: START });
    const approved = env.start(slotSaga, {});
    approved.signal('Approved', { by: 'finance' }, { at: '6h' });
    expect((await approved.result()).output).toMatchObject({ notify: { approved: 'finance' } });

    const cancelled = env.start(slotSaga, {});
    cancelled.cancel('not needed', { at: '30m' });
    const result = await cancelled.result();
    expect(result.status).toBe('CANCELLED');
    expect(result.steps['cool-off']).toMatchObject({ status: 'FAILED', error: { code: 'TIMER_ABANDONED' } });
  });

  it('fails a sleep whose until returns no point in time, for good', async () => {
    const bad = defineSaga('bad-slot', { version: 1 })
      .step('book', { run: () => ({ slotStart: 'tomorrow' }) })
      .sleep('until-slot', { until: (ctx) => ctx.steps.book.slotStart })
      .build();
    const result = await new SagaTestEnvironment({ start: START }).start(bad, {}).result();
    expect(result.status).toBe('COMPENSATED');
    expect(result.steps['until-slot'].error).toMatchObject({
      code: 'SLEEP_UNTIL_ERROR',
      message: expect.stringContaining('the until of step "until-slot" returned "tomorrow", not an ISO-8601'),
    });
  });
});

// ---------------------------------------------------------------------------------------------------------------
// Fan-outs and child sagas: the kit runs them as the engine does (item rows, child runs on the same clock).
// ---------------------------------------------------------------------------------------------------------------

describe('fan-outs in the test kit', () => {
  const shipped: string[] = [];
  const undone: string[] = [];
  const batch = defineSaga<{ parcels: string[]; refuse?: string }>('kit-batch', { version: 1 })
    .forEach('ship', {
      items: (ctx) => ctx.input.parcels,
      itemKey: (parcel) => parcel,
      concurrency: 2,
      retry: { maximumAttempts: 3, initialInterval: '1s' },
      run: (ctx) => {
        if (ctx.item === ctx.input.refuse) throw new NonRetryableError('refused', { code: 'REFUSED' });
        shipped.push(ctx.key);
        return { parcel: ctx.item, index: ctx.index };
      },
      compensate: (ctx) => {
        undone.push(ctx.undoKey);
      },
    })
    .step('close', { run: (ctx) => ({ count: ctx.steps.ship.length }) })
    .build();

  beforeEach(() => {
    shipped.length = 0;
    undone.length = 0;
  });

  it('runs each item with its own key and attempts, and collects the outputs in order', async () => {
    const env = new SagaTestEnvironment({ start: START });
    const run = env.start(batch, { parcels: ['a', 'b', 'c'] }, { faults: { ship: [fail.transient()] } });
    const result = await run.result();
    expect(result.status).toBe('COMPLETED');
    expect(result.output).toEqual({
      ship: [
        { parcel: 'a', index: 0 },
        { parcel: 'b', index: 1 },
        { parcel: 'c', index: 2 },
      ],
      close: { count: 3 },
    });
    // The fault list applies to every item's attempts: each failed its first, and its retry waited 1 s.
    expect(result.steps.ship.items!.map((i) => [i.key, i.attempts, i.status])).toEqual([
      ['a', 2, 'SUCCEEDED'],
      ['b', 2, 'SUCCEEDED'],
      ['c', 2, 'SUCCEEDED'],
    ]);
    expect(shipped.sort()).toEqual([`${run.id}:ship:a`, `${run.id}:ship:b`, `${run.id}:ship:c`]);
    expect(result.attempts.filter((a) => a.item === 2).map((a) => `${a.attempt} ${a.outcome}`)).toEqual([
      '1 failed',
      '2 succeeded',
    ]);
  });

  it('an item failing for good undoes the items that succeeded, and only them', async () => {
    const env = new SagaTestEnvironment({ start: START });
    const run = env.start(batch, { parcels: ['a', 'b', 'c', 'd'], refuse: 'c' });
    const result = await run.result();
    expect(result.status).toBe('COMPENSATED');
    expect(result.error).toMatchObject({ step: 'ship', code: 'REFUSED', message: 'item 2: refused' });
    const statuses = result.steps.ship.items!.map((i) => i.status);
    expect(statuses).toEqual(['COMPENSATED', 'COMPENSATED', 'FAILED', 'COMPENSATED']);
    expect(undone.sort()).toEqual(shipped.map((k) => `${k}:undo`).sort());
  });
});

describe('child sagas in the test kit', () => {
  const effects: string[] = [];
  const child = defineSaga<{ parcel: string; heavy?: boolean }>('kit-delivery', { version: 1 })
    .step('book', {
      run: (ctx) => {
        effects.push(ctx.key);
        return { drone: `d-${ctx.input.parcel}` };
      },
      compensate: (ctx) => void effects.push(ctx.undoKey),
    })
    .step('fly', {
      run: (ctx) => {
        if (ctx.input.heavy) throw new NonRetryableError('too heavy', { code: 'TOO_HEAVY' });
        return { landed: true };
      },
    })
    .build();
  const parent = defineSaga<{ parcel: string; heavy?: boolean; decline?: boolean }>('kit-order', { version: 1 })
    .child('deliver', { saga: child, input: (ctx) => ({ parcel: ctx.input.parcel, heavy: ctx.input.heavy }) })
    .step('charge', {
      run: (ctx) => {
        if (ctx.input.decline) throw new NonRetryableError('declined', { code: 'DECLINED' });
        return { for: ctx.steps.deliver.book.drone };
      },
    })
    .build();

  beforeEach(() => {
    effects.length = 0;
  });

  it("runs the child on the same clock; its output is the step's", async () => {
    const env = new SagaTestEnvironment({ start: START });
    const run = env.start(parent, { parcel: 'p1' });
    const result = await run.result();
    expect(result.status).toBe('COMPLETED');
    expect(result.output).toEqual({
      deliver: { book: { drone: 'd-p1' }, fly: { landed: true } },
      charge: { for: 'd-p1' },
    });
    const [kid] = run.children();
    expect(result.children).toEqual([{ step: 'deliver', id: kid.id, type: 'kit-delivery', status: 'COMPLETED' }]);
    expect(kid.parentId).toBe(run.id);
    expect((await kid.result()).parentId).toBe(run.id);
  });

  it('a child that compensates fails the step for good; a parent compensated after its child completed undoes it', async () => {
    const env = new SagaTestEnvironment({ start: START });
    const heavy = await env.start(parent, { parcel: 'p2', heavy: true }).result();
    expect(heavy.status).toBe('COMPENSATED');
    expect(heavy.steps.deliver.error).toMatchObject({ code: 'CHILD_COMPENSATED' });

    effects.length = 0;
    const run = env.start(parent, { parcel: 'p3', decline: true });
    const result = await run.result();
    expect(result.status).toBe('COMPENSATED');
    expect(result.steps.deliver.status).toBe('COMPENSATED');
    const kid = await run.children()[0].result();
    expect(kid.status).toBe('COMPENSATED');
    expect(kid.error).toMatchObject({ code: 'UNDO_REQUESTED' });
    expect(effects).toEqual([`${kid.id}:book`, `${kid.id}:book:undo`]);
  });

  it('gives the child run its own stubs and faults, and refuses them on the child step itself', async () => {
    const env = new SagaTestEnvironment({ start: START });
    const result = await env
      .start(parent, { parcel: 'p4' }, { children: { deliver: { stubs: { fly: () => ({ landed: false }) } } } })
      .result();
    expect(result.output?.deliver.fly).toEqual({ landed: false });
    expect(() => env.start(parent, { parcel: 'p5' }, { stubs: { deliver: () => ({}) } as never })).toThrow(
      'stubs names step "deliver", a child step: its child runs instead',
    );
    expect(() => env.start(parent, { parcel: 'p5' }, { children: { charge: {} } })).toThrow(
      'children names step "charge", which does not start a child saga',
    );
  });
});
