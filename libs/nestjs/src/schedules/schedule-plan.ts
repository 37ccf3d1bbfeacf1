import { Cron } from 'croner';

/**
 * The pure part of schedules: which ticks a cron expression has in a time zone, which of the due ones to start
 * after a downtime (catch-up), and what to do with a tick while the previous run is still active (overlap). No I/O
 * and no clock of its own: `now` is given (the database's, when the supervisor sweeps), so it is tested with a
 * fake clock. Cron arithmetic is croner's (no dependencies; time zones and DST through Intl).
 */

/** Persisted (`saga_schedule.overlap`): renaming one needs a migration. */
export const OverlapPolicy = {
  /** The previous run is still active: this tick is skipped (recorded as such). */
  SKIP: 'skip',
  /** Every tick starts its saga, whatever runs. */
  ALLOW: 'allow',
  /** The previous run is still active: this tick waits, and starts when it ends (one at most; more are skipped). */
  BUFFER: 'buffer',
} as const;
export type OverlapPolicy = (typeof OverlapPolicy)[keyof typeof OverlapPolicy];

/** Persisted (`saga_schedule.catch_up`): renaming one needs a migration. */
export const CatchUpPolicy = {
  /** Ticks missed while no supervisor ran are skipped; a tick is missed when found later than the grace. */
  NONE: 'none',
  /** Of the ticks missed, only the newest starts. */
  LAST: 'last',
  /** Every tick missed starts, oldest first, up to `catchUpLimit` (the newest ones); older ones are skipped. */
  ALL: 'all',
} as const;
export type CatchUpPolicy = (typeof CatchUpPolicy)[keyof typeof CatchUpPolicy];

export const OVERLAP_POLICIES: readonly OverlapPolicy[] = Object.values(OverlapPolicy);
export const CATCH_UP_POLICIES: readonly CatchUpPolicy[] = Object.values(CatchUpPolicy);

/** A cron expression and the IANA time zone its fields are read in. */
export interface CronSpec {
  cron: string;
  timeZone: string;
}

/** Longest cron expression accepted. */
const MAX_CRON_LENGTH = 200;

/**
 * Why a cron expression is refused, or null: 5 fields (minute hour day-of-month month day-of-week) or 6 (seconds
 * first), or a nickname such as `@daily`; croner's own message says what is wrong with a field.
 */
export function cronProblem(cron: unknown): string | null {
  if (typeof cron !== 'string' || cron.trim() === '' || cron.length > MAX_CRON_LENGTH) {
    return `cron must be a cron expression of 5 or 6 fields, such as "0 9 * * 1-5" (at most ${MAX_CRON_LENGTH} characters)`;
  }
  try {
    const parsed = cronOf({ cron, timeZone: 'UTC' });
    if (parsed.nextRun(new Date(0)) === null) return 'cron never fires';
  } catch (error) {
    const detail = error instanceof Error ? error.message.replace(/^CronPattern:\s*/, '') : String(error);
    return `cron is not a valid cron expression: ${detail}`;
  }
  return null;
}

/** Why a time zone is refused, or null: an IANA name that this runtime knows (`Europe/Berlin`, `UTC`). */
export function timeZoneProblem(timeZone: unknown): string | null {
  const message = 'timeZone must be an IANA time zone such as "Europe/Berlin" or "UTC"';
  if (typeof timeZone !== 'string' || timeZone.length === 0 || timeZone.length > 64) return message;
  try {
    new Intl.DateTimeFormat('en-US', { timeZone }).format(0);
    return null;
  } catch {
    return `${message} (got ${JSON.stringify(timeZone)})`;
  }
}

/** croner's evaluator for a spec. Never schedules anything: no function is given, so it holds no timer. */
export function cronOf(spec: CronSpec): Cron {
  return new Cron(spec.cron, { timezone: spec.timeZone, mode: '5-or-6-parts' });
}

/** The first `n` ticks strictly after `after`. */
export function nextTicks(spec: CronSpec, after: Date, n: number): Date[] {
  return cronOf(spec).nextRuns(n, after);
}

/** The first tick strictly after `after`, or null when there is none (a cron that never fires again). */
export function nextTick(spec: CronSpec, after: Date): Date | null {
  return cronOf(spec).nextRun(after);
}

/** What a sweep does with a schedule whose `next_fire_at` has passed. */
export interface TickPlan {
  /** The ticks to start now, oldest first. */
  fire: Date[];
  /** The newest tick skipped by the catch-up rule, and how many were skipped (up to `countCap`, then "more"). */
  skipped: { newest: Date; count: number; more: boolean } | null;
  /** The next tick to wait for: the first one after `now`. */
  next: Date | null;
}

/**
 * Which due ticks to start: those from `from` (the oldest tick not handled yet, `next_fire_at`) to `now` included.
 * Normally there is one, found within a sweep of its time, and every policy starts it. After a downtime there are
 * more: `none` starts only the newest, and only if it is no older than `graceMs` (a tick found that late was missed);
 * `last` starts the newest; `all` starts the newest `limit`, oldest first. The rest are skipped (counted up to
 * `countCap`). Never enumerates more than `max(limit, countCap)` ticks, however long the downtime.
 */
export function planTicks(
  spec: CronSpec,
  options: { from: Date; now: Date; catchUp: CatchUpPolicy; limit: number; graceMs: number; countCap?: number },
): TickPlan {
  const { from, now, catchUp, limit, graceMs } = options;
  const countCap = options.countCap ?? 10_000;
  const cron = cronOf(spec);
  const next = cron.nextRun(now);
  if (from.getTime() > now.getTime()) return { fire: [], skipped: null, next: from };
  const take = catchUp === CatchUpPolicy.ALL ? limit : 1;
  // previousRuns is strictly before its reference: + 1 ms makes a tick at `now` itself due.
  const newest = cron
    .previousRuns(take, new Date(now.getTime() + 1))
    .filter((tick) => tick.getTime() >= from.getTime())
    .reverse();
  let fire = newest;
  if (catchUp === CatchUpPolicy.NONE && fire.length > 0 && now.getTime() - fire[0].getTime() > graceMs) fire = [];
  const oldestFired = fire.length > 0 ? fire[0] : null;
  // Skipped: the due ticks from `from` that are not fired (all of them older than the oldest fired one).
  const before = oldestFired ?? new Date(now.getTime() + 1);
  const skippedTicks: Date[] = [];
  let more = false;
  // `from` is a tick unless the cron changed since it was computed.
  let tick: Date | null = cron.match(from) ? from : cron.nextRun(from);
  while (tick !== null && tick.getTime() < before.getTime()) {
    if (skippedTicks.length >= countCap) {
      more = true;
      break;
    }
    skippedTicks.push(tick);
    tick = cron.nextRun(tick);
  }
  const skipped =
    skippedTicks.length > 0
      ? { newest: skippedTicks[skippedTicks.length - 1], count: skippedTicks.length, more }
      : null;
  return { fire, skipped, next };
}

/** What to do with a tick, given whether the schedule's previous run is still active. */
export type OverlapDecision = 'start' | 'skip' | 'buffer';

/** The overlap policy for one tick: `buffered` says whether a tick is already held back (one at most). */
export function decideOverlap(policy: OverlapPolicy, previousActive: boolean, buffered: boolean): OverlapDecision {
  if (!previousActive || policy === OverlapPolicy.ALLOW) return 'start';
  if (policy === OverlapPolicy.BUFFER && !buffered) return 'buffer';
  return 'skip';
}

/** The idempotency key of a tick's saga: the schedule and the tick. Any orchestrator computes the same one. */
export function tickKey(scheduleId: string, tick: Date): string {
  return `schedule:${scheduleId}:${tick.toISOString()}`;
}
