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
    activeSince = null as number | null,
    retentionMs = null as number | null,
    purgeable = 0,
    starts = [] as ClaimedStart[],
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
      activeSince: jest.fn(async () => activeSince),
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
      { intervalMs: 1_000, scheduleToStartMs: 5_000, retentionMs },
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

  it('fails exactly the claimed attempt with DEADLINE_EXCEEDED when its job is gone or active', async () => {
    for (const liveness of ['gone', 'active'] as const) {
      const { supervisor, applied } = setup({ expired: [claim()], liveness });
      await supervisor.sweep();
      expect(applied).toEqual([
        {
          type: 'StepFailed',
          step: 'pay',
          attempt: 2,
          error: expect.objectContaining({ name: 'DeadlineExceeded', code: 'DEADLINE_EXCEEDED', retryable: true }),
        },
      ]);
    }
    const { supervisor, applied } = setup({ expired: [claim({ phase: 'undo', attempt: 1 })] });
    await supervisor.sweep();
    expect(applied).toEqual([expect.objectContaining({ type: 'CompensationFailed', step: 'pay', attempt: 1 })]);
  });

  it('gives an active attempt whose job was taken again lately (after a participant limit held it back) a deadline from then', async () => {
    const takenAt = Date.now() - 500;
    const { supervisor, applied, extended } = setup({ expired: [claim()], liveness: 'active', activeSince: takenAt });
    await supervisor.sweep();
    expect(applied).toEqual([]);
    expect(extended).toHaveLength(1);
    // pay's timeout (2 s) plus the 5 s grace, from when it was taken.
    expect(extended[0][1]).toBeGreaterThan(6_000);
    expect(extended[0][1]).toBeLessThanOrEqual(6_500);
    // Taken longer ago than that: it did not report in time.
    const late = setup({ expired: [claim()], liveness: 'active', activeSince: Date.now() - 7_100 });
    await late.supervisor.sweep();
    expect(late.applied).toEqual([expect.objectContaining({ type: 'StepFailed', step: 'pay', attempt: 2 })]);
  });

  it("fails a fan-out item's lost attempt, naming the item, and re-enqueues an item's lost job with its index", async () => {
    const item = claim({ item: 149 });
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

  it('gives an attempt whose job still waits a new deadline instead of failing it', async () => {
    const { supervisor, applied, extended } = setup({
      expired: [claim(), claim({ phase: 'undo' })],
      liveness: 'queued',
    });
    await supervisor.sweep();
    expect(applied).toEqual([]);
    expect(extended.map(([, ms]) => ms)).toEqual([2_000 + 5_000, 3_000 + 5_000]);
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

  it('does nothing while Redis does not answer (no attempt is burnt), and goes on with the other claims', async () => {
    const { supervisor, applied, redriven, extended } = setup({
      expired: [claim(), claim({ sagaId: 's2' })],
      overdue: [claim({ sagaId: 's3' })],
      liveness: new Error('ECONNREFUSED'),
    });
    const report = await supervisor.sweep();
    expect(report).toEqual({ expired: 2, overdue: 1, purged: 0, starts: 0, schedules: 0, full: false });
    expect([applied, redriven, extended]).toEqual([[], [], []]);
    expect(supervisor.stats.errors).toBe(3);
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
