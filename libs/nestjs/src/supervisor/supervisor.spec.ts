import { Logger } from '@nestjs/common';
import type { SagaEvent } from '@saga-engine/core';
import type { ClaimedAttempt, ClaimedStart, SupervisorStore } from '../store/supervisor-store';
import type { JobLiveness, StepQueue } from '../queue/step-queue';
import type { StepJobData } from '../queue/step-job';
import type { SagaScheduler } from '../scheduler/saga-scheduler';
import type { SagaRegistry } from '../scheduler/saga-registry';
import { CHILD_CHECK_MS } from '../store/saga-store';
import { Supervisor } from './supervisor';

/** The supervisor's decisions, with the store, the queue and the scheduler faked (their SQL is tested in test/). */
describe('Supervisor', () => {
  beforeAll(() => Logger.overrideLogger(false));

  const claim = (over: Partial<ClaimedAttempt> = {}): ClaimedAttempt => ({
    sagaId: 's1',
    sagaType: 't',
    definitionVersion: 1,
    step: 'pay',
    phase: 'run',
    attempt: 2,
    fence: { status: 'SCHEDULED', attempt: 2, compStatus: null, compAttempt: 0 },
    ...over,
  });

  function setup({
    expired = [] as ClaimedAttempt[],
    overdue = [] as ClaimedAttempt[],
    liveness = 'gone' as JobLiveness | Error,
    throttled = null as { state: string; takenAt: number | null } | null,
    retentionMs = null as number | null,
    purgeable = 0,
    starts = [] as ClaimedStart[],
    poisonAfterDeaths = 2,
    reconcile = 'pending' as 'pending' | 'settled',
  }) {
    const applied: SagaEvent[] = [];
    const extended: [ClaimedAttempt, number][] = [];
    const redriven: StepJobData[] = [];
    const store = {
      claimExpired: jest.fn(async () => expired.filter((c) => c.item === undefined)),
      claimExpiredItems: jest.fn(async () => expired.filter((c) => c.item !== undefined)),
      claimOverdue: jest.fn(async () => overdue.filter((c) => c.item === undefined)),
      claimOverdueItems: jest.fn(async () => overdue.filter((c) => c.item !== undefined)),
      claimDueStarts: jest.fn(async () => starts),
      purgeFinished: jest.fn(async (_olderThanMs: number, limit: number) => Math.min(purgeable, limit)),
      extendDeadline: jest.fn(async (c: ClaimedAttempt, ms: number) => {
        extended.push([c, ms]);
        return true;
      }),
    };
    const queue = {
      liveness: jest.fn(async () => {
        if (liveness instanceof Error) throw liveness;
        return liveness;
      }),
      throttled: jest.fn(async () => throttled),
      redrive: jest.fn(async (job: StepJobData) => {
        redriven.push(job);
      }),
    };
    const registry = {
      spec: async () => ({
        stepsByName: {
          pay: { timeoutMs: 2_000, compensationTimeoutMs: 3_000 },
          deliver: { timeoutMs: 2_000, compensationTimeoutMs: 3_000, child: { type: 'delivery', version: 1 } },
        },
      }),
    };
    const reconciled: [string, string][] = [];
    const runtime = {
      apply: jest.fn(async (_id: string, event: SagaEvent) => {
        applied.push(event);
        return { applied: true };
      }),
      reconcileChild: jest.fn(async (id: string, step: string) => {
        reconciled.push([id, step]);
        return reconcile;
      }),
    };
    const supervisor = new Supervisor(
      store as unknown as SupervisorStore,
      runtime as unknown as SagaScheduler,
      registry as unknown as SagaRegistry,
      queue as unknown as StepQueue,
      { intervalMs: 1_000, scheduleToStartMs: 5_000, retentionMs, poisonAfterDeaths },
    );
    return { supervisor, store, applied, extended, redriven, reconciled };
  }

  it('reports SignalTimedOut for a WAITING step past its deadline, without asking the queue (a wait has no job)', async () => {
    const waiting = claim({
      step: 'await',
      attempt: 1,
      fence: { status: 'WAITING', attempt: 1, compStatus: null, compAttempt: 0 },
    });
    const { supervisor, applied, extended } = setup({ expired: [waiting], liveness: 'queued' });
    await supervisor.sweep();
    expect(applied).toEqual([{ type: 'SignalTimedOut', step: 'await', attempt: 1 }]);
    expect(extended).toEqual([]);
    expect(supervisor.stats.signalsTimedOut).toBe(1);
    expect(supervisor.stats.deadlinesExceeded).toBe(0);
  });

  it('fires the timer of a SLEEPING step past its wake-up time, with its due and claim times, without the queue', async () => {
    const sleeping = claim({
      step: 'nap',
      attempt: 1,
      fence: { status: 'SLEEPING', attempt: 1, compStatus: null, compAttempt: 0 },
      deadlineAt: '2026-12-01T10:00:00.000Z',
      claimedAt: '2026-12-01T10:00:00.420Z',
    });
    const { supervisor, applied, extended } = setup({ expired: [sleeping], liveness: new Error('no Redis needed') });
    await supervisor.sweep();
    expect(applied).toEqual([
      {
        type: 'TimerFired',
        step: 'nap',
        attempt: 1,
        dueAt: '2026-12-01T10:00:00.000Z',
        firedAt: '2026-12-01T10:00:00.420Z',
      },
    ]);
    expect(extended).toEqual([]);
    expect(supervisor.stats.timersFired).toBe(1);
  });

  it('starts the DELAYED sagas whose start time passed, and sweeps again when the claim was full', async () => {
    const { supervisor, applied } = setup({
      starts: [{ sagaId: 'd1', startAt: '2026-12-01T10:00:00.000Z' }],
    });
    const report = await supervisor.sweep();
    expect(applied).toEqual([{ type: 'SagaStarted' }]);
    expect(report).toMatchObject({ starts: 1, full: false });
    expect(supervisor.stats.delayedStarted).toBe(1);
    const many = setup({
      starts: Array.from({ length: 100 }, (_, i) => ({ sagaId: `d${i}`, startAt: '2026-12-01T10:00:00.000Z' })),
    });
    expect(await many.supervisor.sweep()).toMatchObject({ starts: 100, full: true });
  });

  const running = (over: Partial<ClaimedAttempt> = {}) =>
    claim({ fence: { status: 'RUNNING', attempt: 2, compStatus: null, compAttempt: 0 }, ...over });

  it('fails a started attempt past its deadline with DEADLINE_EXCEEDED (a death), without asking the queue', async () => {
    const { supervisor, applied, extended } = setup({ expired: [running()], liveness: new Error('no queue needed') });
    await supervisor.sweep();
    expect(applied).toEqual([
      {
        type: 'StepFailed',
        step: 'pay',
        attempt: 2,
        error: {
          name: 'DeadlineExceeded',
          code: 'DEADLINE_EXCEEDED',
          retryable: true,
          message:
            'attempt 2 of step "pay" did not report by its deadline: its agent died, or the step hung (death 1 of 2)',
        },
      },
    ]);
    expect(extended).toEqual([]);
    expect(supervisor.stats.deadlinesExceeded).toBe(1);
    const undo = setup({
      expired: [
        claim({
          phase: 'undo',
          attempt: 1,
          fence: { status: 'COMPENSATING', attempt: 2, compStatus: 'RUNNING', compAttempt: 1 },
        }),
      ],
    });
    await undo.supervisor.sweep();
    expect(undo.applied).toEqual([
      expect.objectContaining({
        type: 'CompensationFailed',
        step: 'pay',
        attempt: 1,
        error: expect.objectContaining({ code: 'DEADLINE_EXCEEDED' }),
      }),
    ]);
  });

  it('gives a started attempt whose job a participant limit held back a deadline from now, or from its new take', async () => {
    const delayed = setup({ expired: [running()], throttled: { state: 'delayed', takenAt: Date.now() - 60_000 } });
    await delayed.supervisor.sweep();
    expect(delayed.applied).toEqual([]);
    // pay's timeout (2 s) plus the 5 s grace, from now: it waits for a slot, it has not died.
    expect(delayed.extended.map(([, ms]) => ms)).toEqual([2_000 + 5_000]);
    const taken = setup({ expired: [running()], throttled: { state: 'active', takenAt: Date.now() - 500 } });
    await taken.supervisor.sweep();
    expect(taken.applied).toEqual([]);
    expect(taken.extended[0][1]).toBeGreaterThan(6_000);
    expect(taken.extended[0][1]).toBeLessThanOrEqual(6_500);
    // Taken longer ago than its timeout and the grace: it did not report in time, a death as any other.
    const late = setup({ expired: [running()], throttled: { state: 'active', takenAt: Date.now() - 7_100 } });
    await late.supervisor.sweep();
    expect(late.applied).toEqual([expect.objectContaining({ type: 'StepFailed', step: 'pay', attempt: 2 })]);
  });

  it('POISONs the death that reaches the limit: not retryable', async () => {
    const { supervisor, applied } = setup({ expired: [running({ deaths: 1 })] });
    await supervisor.sweep();
    expect(applied).toEqual([
      {
        type: 'StepFailed',
        step: 'pay',
        attempt: 2,
        error: {
          name: 'Poisoned',
          code: 'POISONED',
          retryable: false,
          message:
            'attempt 2 of step "pay" did not report by its deadline: the step\'s agent died, or it hung, 2 times ' +
            '(the limit is 2); it is not retried',
        },
      },
    ]);
    expect(supervisor.stats.attemptsPoisoned).toBe(1);
    const lenient = setup({ expired: [running({ deaths: 1 })], poisonAfterDeaths: 3 });
    await lenient.supervisor.sweep();
    expect(lenient.applied).toEqual([
      expect.objectContaining({ error: expect.objectContaining({ code: 'DEADLINE_EXCEEDED', retryable: true }) }),
    ]);
    const strict = setup({ expired: [running()], poisonAfterDeaths: 1 });
    await strict.supervisor.sweep();
    expect(strict.applied).toEqual([expect.objectContaining({ error: expect.objectContaining({ code: 'POISONED' }) })]);
  });

  it('never fails an attempt that never started: a new deadline, and its job again when it is gone', async () => {
    for (const liveness of ['queued', 'active', 'gone'] as const) {
      const { supervisor, applied, extended, redriven } = setup({
        expired: [
          claim(),
          claim({
            phase: 'undo',
            fence: { status: 'COMPENSATING', attempt: 2, compStatus: 'SCHEDULED', compAttempt: 2 },
          }),
        ],
        liveness,
      });
      await supervisor.sweep();
      expect({ liveness, applied }).toEqual({ liveness, applied: [] });
      expect(extended.map(([, ms]) => ms)).toEqual([2_000 + 5_000, 3_000 + 5_000]);
      expect(redriven).toHaveLength(liveness === 'gone' ? 2 : 0);
    }
  });

  it('gives started attempts more time for a while after its own sweep failed (their agents could not report)', async () => {
    const { supervisor, store, applied, extended } = setup({ expired: [running()] });
    store.claimExpired.mockRejectedValueOnce(
      Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }),
    );
    await (supervisor as unknown as { tick(): Promise<void> }).tick();
    await supervisor.onModuleDestroy();
    await supervisor.sweep();
    expect(applied).toEqual([]);
    expect(extended.map(([, ms]) => ms)).toEqual([5_000 + 1_000]);
  });

  it("fails a fan-out item's started attempt past its deadline, naming the item, and re-enqueues an item's lost job", async () => {
    const item = claim({ item: 149, fence: { status: 'RUNNING', attempt: 2, compStatus: null, compAttempt: 0 } });
    const { supervisor, applied } = setup({ expired: [item] });
    await supervisor.sweep();
    expect(applied).toEqual([
      expect.objectContaining({ type: 'StepFailed', step: 'pay', attempt: 2, item: 149, error: expect.anything() }),
    ]);
    expect((applied[0] as { error: { message: string } }).error.message).toContain('"pay" (item 149)');
    const overdue = setup({ overdue: [claim({ item: 7 })], liveness: 'gone' });
    await overdue.supervisor.sweep();
    expect(overdue.redriven).toEqual([expect.objectContaining({ step: 'pay', item: 7, attempt: 2 })]);
  });

  it('reconciles a step that waits for its child saga, and checks it again later unless it settled', async () => {
    const waiting = claim({
      step: 'deliver',
      attempt: 1,
      fence: { status: 'WAITING', attempt: 1, compStatus: null, compAttempt: 0 },
    });
    const pending = setup({ expired: [waiting], liveness: 'queued' });
    await pending.supervisor.sweep();
    expect(pending.reconciled).toEqual([['s1', 'deliver']]);
    expect(pending.applied).toEqual([]);
    expect(pending.extended).toEqual([[waiting, CHILD_CHECK_MS]]);
    const settled = setup({ expired: [waiting], reconcile: 'settled' });
    await settled.supervisor.sweep();
    expect(settled.extended).toEqual([]);
    expect(settled.supervisor.stats.childrenReconciled).toBe(1);
  });

  it('re-enqueues an overdue attempt under the same job only when its job is gone', async () => {
    const gone = setup({ overdue: [claim()], liveness: 'gone' });
    await gone.supervisor.sweep();
    expect(gone.redriven).toEqual([{ sagaId: 's1', type: 't', version: 1, step: 'pay', phase: 'run', attempt: 2 }]);
    for (const liveness of ['queued', 'active'] as const) {
      const live = setup({ overdue: [claim()], liveness });
      await live.supervisor.sweep();
      expect(live.redriven).toEqual([]);
    }
  });

  it('does nothing while the queue does not answer (no attempt is burnt), stops asking it this sweep, goes on', async () => {
    const { supervisor, applied, redriven, extended } = setup({
      expired: [claim(), claim({ sagaId: 's2' }), running({ sagaId: 's4' })],
      overdue: [claim({ sagaId: 's3' })],
      liveness: new Error('Command timed out'),
    });
    const report = await supervisor.sweep();
    expect(report).toEqual({ expired: 3, overdue: 1, purged: 0, starts: 0, schedules: 0, full: false });
    // The started attempt needs no queue: it dies all the same.
    expect(applied).toEqual([
      expect.objectContaining({ type: 'StepFailed', error: expect.objectContaining({ code: 'DEADLINE_EXCEEDED' }) }),
    ]);
    expect([redriven, extended]).toEqual([[], []]);
    // The two expired claims asked at once (their actions run side by side); the overdue one, later, did not ask.
    expect(supervisor.stats.errors).toBe(2);
  });

  it('sweeps again at once when a claim came back full', async () => {
    const { supervisor } = setup({ expired: Array.from({ length: 100 }, () => claim()), liveness: 'queued' });
    expect((await supervisor.sweep()).full).toBe(true);
  });

  it('deletes finished sagas past the retention in batches, and only when retention is on', async () => {
    const off = setup({ purgeable: 5 });
    expect((await off.supervisor.sweep()).purged).toBe(0);
    expect(off.store.purgeFinished).not.toHaveBeenCalled();

    const on = setup({ retentionMs: 30 * 86_400_000, purgeable: 1_500 });
    const report = await on.supervisor.sweep();
    expect(on.store.purgeFinished).toHaveBeenCalledWith(30 * 86_400_000, 1_000);
    // A full batch: more may be waiting, so the supervisor sweeps again at once.
    expect(report).toMatchObject({ purged: 1_000, full: true });
    expect(on.supervisor.stats.sagasPurged).toBe(1_000);
  });
});
