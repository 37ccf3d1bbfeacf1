import { Injectable, Logger } from '@nestjs/common';
import { DEPENDENCY_LABEL, type Dependency, unavailability } from './unavailable';

/**
 * How a dependency does: `up`; `degraded`, it answers but not well (PostgreSQL slower than the threshold, Redis
 * refusing writes: out of memory, MISCONF, READONLY); `down`, it does not answer (refused, reset, hung).
 */
export type DependencyLevel = 'up' | 'degraded' | 'down';

/** How often "too busy" (a statement timeout, too many connections) is logged at most. */
const BUSY_LOG_EVERY_MS = 60_000;

/**
 * A caller's "unreachable" within this long after the dependency was seen answering does not mark it down on its
 * own: right after a restart, connections opened before it fail one by one (terminated, reset) while new ones work.
 * The request that failed still gets its 503; a dependency really gone fails the next calls, or the watchdog's
 * next probe (every 500 ms), and is marked down then.
 */
export const ANSWERED_RECENTLY_MS = 1_000;

/** `saga_dependency_state`'s values. */
export const DEPENDENCY_LEVEL_VALUE: Record<DependencyLevel, number> = { up: 0, degraded: 1, down: 2 };

export interface DependencyReading {
  level: DependencyLevel;
  /** Why, when not up (safe for logs and `/health`: no query text, no data). */
  message: string | null;
  /** When the level last changed (Date.now()). */
  since: number;
  /** When it was last confirmed (a probe, or a failure seen by a caller). */
  checkedAt: number;
}

/**
 * What this process knows of PostgreSQL and Redis, and the one place that logs their outages: once when one goes
 * down (or degraded), once when it is back, never once per failed request, step or sweep. Fed by the dependency
 * watchdog's probes, `/health`'s probes, and every caller that saw a dependency fail (`failed`) or answer
 * (`succeeded`). Read by the API (503 at once while PostgreSQL is down), `/health` and `/metrics`
 * (`saga_dependency_state`).
 */
@Injectable()
export class DependencyMonitor {
  private readonly logger = new Logger('Dependencies');
  private readonly readings = new Map<Dependency, DependencyReading>();
  private readonly downListeners = new Set<(dependency: Dependency) => void>();
  /** Failures reported by callers during the current outage of each dependency (said in the "back" line). */
  private readonly failures = new Map<Dependency, number>();
  private readonly busyLoggedAt = new Map<Dependency, number>();
  /** When each dependency last answered: a probe that found it up, or a caller's success. */
  private readonly answeredAt = new Map<Dependency, number>();
  /** The clock (tests set it). */
  now: () => number = Date.now;

  reading(dependency: Dependency): DependencyReading | null {
    return this.readings.get(dependency) ?? null;
  }

  level(dependency: Dependency): DependencyLevel {
    return this.readings.get(dependency)?.level ?? 'up';
  }

  isDown(dependency: Dependency): boolean {
    return this.level(dependency) === 'down';
  }

  /** The dependencies this process has heard of, for the gauge. */
  known(): Dependency[] {
    return [...this.readings.keys()];
  }

  /** Registers `listener` for every transition to down; returns the unsubscribe function. */
  onDown(listener: (dependency: Dependency) => void): () => void {
    this.downListeners.add(listener);
    return () => this.downListeners.delete(listener);
  }

  /**
   * A caller saw `dependency` fail with `error`. Unavailability errors (see `unavailability`) that say the server
   * could not be reached mark it down; "too busy" ones (a statement timeout, too many connections) are only logged,
   * at most once a minute.
   * Returns true when the error was about unavailability (the caller then need not log it: this did, once).
   */
  failed(dependency: Dependency, error: unknown, context?: string): boolean {
    const found = unavailability(error);
    if (!found) return false;
    this.failures.set(dependency, (this.failures.get(dependency) ?? 0) + 1);
    const reason = context ? `${context}: ${found.reason}` : found.reason;
    if (found.unreachable) {
      // A connection that died with the server's last restart, while fresh ones work: not an outage by itself.
      if (this.now() - (this.answeredAt.get(dependency) ?? -Infinity) < ANSWERED_RECENTLY_MS) return true;
      this.record(dependency, 'down', reason);
    } else if (this.now() - (this.busyLoggedAt.get(dependency) ?? 0) >= BUSY_LOG_EVERY_MS) {
      // Busy, not gone (a statement cancelled by its timeout, too many connections): it answers, so the level
      // stays; said at most once a minute.
      this.busyLoggedAt.set(dependency, this.now());
      this.logger.warn(`${DEPENDENCY_LABEL[dependency]} is too busy: ${reason} (logged at most once a minute)`);
    }
    return true;
  }

  /** A caller got an answer from `dependency`: it is reachable (a probe decides whether it is fast enough). */
  succeeded(dependency: Dependency): void {
    this.answeredAt.set(dependency, this.now());
    if (this.level(dependency) === 'down') this.record(dependency, 'up', null);
  }

  /** A probe's verdict (the watchdog, `/health`). Logs only a change of level. */
  record(dependency: Dependency, level: DependencyLevel, message: string | null): void {
    const now = this.now();
    if (level === 'down') this.answeredAt.delete(dependency);
    else this.answeredAt.set(dependency, now);
    const previous = this.readings.get(dependency);
    if (previous && previous.level === level) {
      previous.checkedAt = now;
      if (level !== 'up') previous.message = message ?? previous.message;
      return;
    }
    this.readings.set(dependency, { level, message, since: now, checkedAt: now });
    const name = DEPENDENCY_LABEL[dependency];
    const lasted = previous && previous.level !== 'up' ? ` after ${((now - previous.since) / 1000).toFixed(1)} s` : '';
    if (level === 'down') {
      this.logger.warn(
        `${name} is unavailable (${message ?? 'no answer'}); ` +
          (dependency === 'postgres'
            ? 'requests that need it answer 503 until it is back'
            : 'steps wait in PostgreSQL and are re-driven when it is back') +
          ' (logged once per outage)',
      );
      for (const listener of this.downListeners) listener(dependency);
    } else if (level === 'degraded') {
      this.logger.warn(`${name} is degraded: ${message ?? 'slow'} (logged once until it recovers)`);
    } else if (previous) {
      const failures = this.failures.get(dependency) ?? 0;
      this.logger.log(
        `${name} is ${previous.level === 'down' ? 'available' : 'healthy'} again${lasted}` +
          (failures > 0 ? ` (${failures} failed calls meanwhile)` : ''),
      );
    }
    if (level === 'up') this.failures.delete(dependency);
  }
}
