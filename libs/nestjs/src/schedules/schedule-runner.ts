import { Inject, Injectable, Logger, Optional } from '@nestjs/common';
import { SagaOperations } from '../api/sagas/saga-operations';
import { ApiError } from '../api/http/api-error';
import { INPUT_CIPHER } from '../module/tokens';
import { DependencyMonitor } from '../observability/dependency-monitor';
import { EngineMetrics } from '../observability/engine-metrics';
import type { InputCipher } from '../security/input-cipher';
import { type ClaimedSchedule, ScheduleStore } from '../store/schedule-store';
import { openScheduleInput } from './schedule-input';
import { decideOverlap, planTicks, tickKey } from './schedule-plan';

/** Schedules handled at once by one sweep. */
const PARALLEL_SCHEDULES = 4;

/**
 * Fires the schedules' ticks, as part of the supervisor's sweep (any number of orchestrators may run one).
 *
 * **Each tick starts its saga at most once, across orchestrators.** A schedule is claimed by one sweep at a time
 * (`FOR UPDATE SKIP LOCKED` plus a lease); the tick's saga is started with the idempotency key
 * `schedule:<id>:<tick>`, so that a sweep that dies after starting it and before moving `next_fire_at` on, or two
 * sweeps that overlap after a lease ran out, start it once (the second start is a replay of the first); moving on
 * is a compare-and-set on the schedule's revision. Order: start the saga, record the run, move on; a crash between
 * any two steps repeats the earlier ones harmlessly.
 *
 * **And at least once, within the catch-up rule.** A tick is found at the first sweep after it is due (up to one
 * sweep interval late). Ticks that pass while no supervisor runs are handled by the schedule's catch-up policy
 * when one runs again (see planTicks); each skipped tick is recorded, with how many.
 */
@Injectable()
export class ScheduleRunner {
  private readonly logger = new Logger('Schedules');
  readonly stats = { started: 0, skipped: 0, failed: 0 };

  constructor(
    private readonly store: ScheduleStore,
    private readonly operations: SagaOperations,
    private readonly metrics: EngineMetrics,
    @Inject(INPUT_CIPHER) private readonly cipher: InputCipher | null,
    @Optional() private readonly monitor: DependencyMonitor = new DependencyMonitor(),
  ) {}

  /** One batch of due schedules; answers how many it claimed (a full batch: the supervisor sweeps again at once). */
  async sweep(limit: number, leaseMs: number, intervalMs: number): Promise<number> {
    const claimed = await this.store.claimDue(limit, leaseMs);
    let next = 0;
    const lanes = Array.from({ length: Math.min(PARALLEL_SCHEDULES, claimed.length) }, async () => {
      while (next < claimed.length) {
        const schedule = claimed[next++];
        try {
          await this.fire(schedule, intervalMs);
        } catch (error) {
          // Its lease brings it back at a later sweep; the ticks' keys keep a repeat harmless.
          if (!this.monitor.failed('postgres', error, 'schedules')) {
            this.logger.warn(`schedule ${schedule.id}: could not fire its tick: ${String(error)}`);
          }
        }
      }
    });
    await Promise.all(lanes);
    return claimed.length;
  }

  /** Handles what is due of one claimed schedule, on the database's clock (`schedule.now`). */
  async fire(schedule: ClaimedSchedule, intervalMs: number): Promise<void> {
    const now = schedule.now;
    let buffered = schedule.bufferedTick;
    let lastSagaId = schedule.lastSagaId;
    let active = lastSagaId !== null && (await this.store.isActive(lastSagaId));

    // A tick held back by overlap `buffer` starts once the run it waited for has ended.
    if (buffered !== null && !active) {
      const started = await this.start(schedule, buffered);
      if (started !== null) {
        lastSagaId = started;
        active = true;
      }
      buffered = null;
    }

    let nextFireAt = schedule.nextFireAt;
    if (nextFireAt !== null && nextFireAt.getTime() <= now.getTime()) {
      const plan = planTicks(schedule, {
        from: nextFireAt,
        now,
        catchUp: schedule.catchUp,
        limit: schedule.catchUpLimit,
        // A tick found later than this was missed (no supervisor ran): `none` skips it.
        graceMs: Math.max(60_000, 2 * intervalMs),
      });
      if (plan.skipped) {
        const { newest, count, more } = plan.skipped;
        await this.store.recordRun(
          schedule.id,
          newest,
          'skipped',
          null,
          `catch-up '${schedule.catchUp}': ${count}${more ? '+' : ''} missed tick(s) skipped, up to this one`,
        );
        this.stats.skipped += count;
        this.metrics.supervisor('schedule_skipped');
      }
      for (const tick of plan.fire) {
        const decision = decideOverlap(schedule.overlap, active, buffered !== null);
        if (decision === 'start') {
          const started = await this.start(schedule, tick);
          if (started !== null) {
            lastSagaId = started;
            active = true;
          }
        } else if (decision === 'buffer') {
          buffered = tick;
          await this.store.recordRun(schedule.id, tick, 'buffered', null, `waits for saga ${lastSagaId} to end`);
        } else {
          await this.store.recordRun(
            schedule.id,
            tick,
            'skipped',
            null,
            `overlap '${schedule.overlap}': saga ${lastSagaId} is still running`,
          );
          this.stats.skipped++;
          this.metrics.supervisor('schedule_skipped');
        }
      }
      nextFireAt = plan.next;
    }
    const moved = await this.store.advance(schedule, { nextFireAt, bufferedTick: buffered, lastSagaId });
    if (!moved) this.logger.debug(`schedule ${schedule.id} changed while its tick was handled; it is handled again`);
  }

  /**
   * Starts the tick's saga with its key, validated like any start (the type may have changed since the schedule
   * was made). Returns the saga's id (a new one, or the one a repeat of this tick started), or null when the start
   * was refused: the run is recorded `failed` with the reason, and the schedule goes on.
   */
  private async start(schedule: ClaimedSchedule, tick: Date): Promise<string | null> {
    let id: string;
    try {
      const input = openScheduleInput(this.cipher, schedule.input, schedule.id);
      ({ id } = await this.operations.start(schedule.sagaType, input, tickKey(schedule.id, tick)));
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
      await this.store.recordRun(schedule.id, tick, 'failed', null, `${error.code}: ${error.message}`);
      this.stats.failed++;
      this.logger.warn(`schedule ${schedule.id}: the saga of tick ${tick.toISOString()} was refused: ${error.message}`);
      return null;
    }
    await this.store.recordRun(schedule.id, tick, 'started', id, null);
    this.stats.started++;
    this.metrics.supervisor('schedule_started');
    return id;
  }
}
