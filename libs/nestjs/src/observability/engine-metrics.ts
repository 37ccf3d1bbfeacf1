import { Injectable } from '@nestjs/common';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { SagaStatus, StepPhase } from '@saga-engine/core';

/** Statuses after which a saga counts as finished (FAILED too: it waits for an operator, nothing runs). */
const FINISHED: readonly string[] = [
  SagaStatus.COMPLETED,
  SagaStatus.COMPENSATED,
  SagaStatus.CANCELLED,
  SagaStatus.FAILED,
];

/** Values read at scrape time (PostgreSQL, the queue); each may throw, then its gauge keeps its last value. */
export interface ScrapeSources {
  failedSagas?: () => Promise<number>;
  queue?: () => Promise<{ counts: Record<string, number>; oldestWaitingAgeSeconds: number }>;
  /** This process's circuit breakers (ParticipantPolicies.states()). */
  circuits?: () => { participant: string; state: string }[];
  /** What this process knows of PostgreSQL and Redis: 0 up, 1 degraded, 2 down (DependencyMonitor). */
  dependencies?: () => { dependency: string; value: number }[];
}

/** `saga_participant_circuit_state`'s values: 0 closed, 1 half-open, 2 open (isolated by hand counts as open). */
export const CIRCUIT_STATE_VALUE: Record<string, number> = { closed: 0, 'half-open': 1, open: 2, isolated: 2 };

/**
 * The engine's Prometheus metrics, in a Registry of its own per application instance (not prom-client's global
 * one), so several engines in one process (the tests) do not collide. Fed by the scheduler (sagas, retries,
 * compensations), the agent (attempts, outcomes, durations) and the supervisor (re-drives); FAILED sagas and the
 * queue are read at scrape time. libs/engine stays free of it.
 */
@Injectable()
export class EngineMetrics {
  readonly registry = new Registry();
  private readonly sources: ScrapeSources = {};

  readonly sagasStarted = new Counter({
    name: 'saga_started_total',
    help: 'Sagas started (an idempotent replay is not a start), by saga type.',
    labelNames: ['type'],
    registers: [this.registry],
  });
  readonly sagasFinished = new Counter({
    name: 'saga_finished_total',
    help: 'Sagas that reached COMPLETED, COMPENSATED, CANCELLED or FAILED, by saga type and status.',
    labelNames: ['type', 'status'],
    registers: [this.registry],
  });
  readonly sagaDuration = new Histogram({
    name: 'saga_duration_seconds',
    help: 'From start to COMPLETED, COMPENSATED, CANCELLED or FAILED, by saga type and status.',
    labelNames: ['type', 'status'],
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600],
    registers: [this.registry],
  });
  readonly stepAttempts = new Counter({
    name: 'saga_step_attempts_total',
    help:
      'Step attempts run by agents, by saga type, step, phase (run or undo), outcome (succeeded or failed) ' +
      'and error code (the error code, else its class name; empty on success).',
    labelNames: ['type', 'step', 'phase', 'outcome', 'error'],
    registers: [this.registry],
  });
  readonly stepDuration = new Histogram({
    name: 'saga_step_duration_seconds',
    help: 'Duration of one step attempt in an agent, by saga type, step, phase and outcome.',
    labelNames: ['type', 'step', 'phase', 'outcome'],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
    registers: [this.registry],
  });
  readonly participantThrottled = new Counter({
    name: 'saga_participant_throttled_total',
    help:
      'Calls to a participant held back by its cluster-wide limits (concurrency or rate) in this process, by ' +
      'participant: nothing was sent; the attempt ran later and did not count as a failure.',
    labelNames: ['participant'],
    registers: [this.registry],
  });
  readonly compensations = new Counter({
    name: 'saga_compensations_total',
    help: 'Compensations started (first attempt of a step undo dispatched), by saga type and step.',
    labelNames: ['type', 'step'],
    registers: [this.registry],
  });
  readonly retries = new Counter({
    name: 'saga_retries_total',
    help: 'Retries dispatched (attempt 2 and later of a step or compensation), by saga type, step and phase.',
    labelNames: ['type', 'step', 'phase'],
    registers: [this.registry],
  });
  readonly supervisorActions = new Counter({
    name: 'saga_supervisor_redrives_total',
    help:
      'What the supervisor did: deadline_exceeded (a started attempt found without an outcome: its agent died or ' +
      'hung), attempt_poisoned (the same, once too often: the step is not retried), job_reenqueued (an attempt ' +
      'that never started enqueued again), deadline_extended (an attempt not started yet got more time), ' +
      'signal_timed_out (a wait ended ' +
      'without its signal), timer_fired (a sleep ended), delayed_start (a DELAYED saga started), ' +
      'schedule_started / schedule_skipped (a schedule tick started its saga, or was skipped), ' +
      "child_reconciled (a child saga's end, cancel or undo that a crash left undone was done again).",
    labelNames: ['action'],
    registers: [this.registry],
  });
  readonly bulkSagas = new Counter({
    name: 'saga_bulk_sagas_total',
    help:
      'Sagas acted on by bulk jobs (POST /v1/bulk-actions), by action (retry, cancel, resolve) and outcome: done (the ' +
      'action was accepted), skipped (the saga was no longer in a state for it), failed (refused otherwise).',
    labelNames: ['action', 'outcome'],
    registers: [this.registry],
  });
  readonly strandedSagas = new Gauge({
    name: 'saga_version_unavailable_sagas',
    help:
      'Sagas in use (not ended) on a saga type version that no live agent runs, by type and version, as the ' +
      "supervisor's last check found them: they wait until that version's code is deployed again.",
    labelNames: ['type', 'version'],
    registers: [this.registry],
  });
  readonly supervisorLastSweep = new Gauge({
    name: 'saga_supervisor_last_sweep_timestamp_seconds',
    help: 'Unix time of the last sweep this process finished (0: none yet, or no supervisor here).',
    registers: [this.registry],
  });

  constructor() {
    const sources = this.sources;
    new Gauge({
      name: 'saga_failed',
      help: 'Sagas in FAILED now (waiting for an operator), read from PostgreSQL at scrape time.',
      registers: [this.registry],
      async collect() {
        // A source that fails (PostgreSQL away) shows NaN rather than failing the whole scrape.
        if (sources.failedSagas) this.set(await sources.failedSagas().catch(() => NaN));
      },
    });
    const oldest = new Gauge({
      name: 'saga_queue_oldest_waiting_age_seconds',
      help: 'Age of the oldest step job waiting to be taken by an agent (0 when none waits), at scrape time.',
      registers: [this.registry],
    });
    new Gauge({
      name: 'saga_queue_jobs',
      help: 'Step jobs in the queue by state (waiting, delayed, active, prioritized), at scrape time.',
      labelNames: ['state'],
      registers: [this.registry],
      async collect() {
        const read = await sources.queue?.().catch(() => null);
        if (!read) return;
        const { counts, oldestWaitingAgeSeconds } = read;
        for (const [state, count] of Object.entries(counts)) this.set({ state }, count);
        oldest.set(oldestWaitingAgeSeconds);
      },
    });
    new Gauge({
      name: 'saga_participant_circuit_state',
      help:
        "State of this process's circuit breaker per participant: 0 closed, 1 half-open, 2 open (calls fail fast " +
        'with CIRCUIT_OPEN). Only processes that run steps (agents) have breakers.',
      labelNames: ['participant'],
      registers: [this.registry],
      collect() {
        for (const { participant, state } of sources.circuits?.() ?? []) {
          this.set({ participant }, CIRCUIT_STATE_VALUE[state] ?? 2);
        }
      },
    });
    new Gauge({
      name: 'saga_dependency_state',
      help:
        'What this process knows of each dependency: 0 up, 1 degraded (PostgreSQL slower than DB_SLOW_MS, Redis ' +
        'refusing writes), 2 down (no answer: the API answers 503 while PostgreSQL is).',
      labelNames: ['dependency'],
      registers: [this.registry],
      collect() {
        for (const { dependency, value } of sources.dependencies?.() ?? []) this.set({ dependency }, value);
      },
    });
    collectDefaultMetrics({ register: this.registry });
  }

  /** Registers what is read at scrape time (the orchestrator's wiring). */
  setSources(sources: ScrapeSources): void {
    Object.assign(this.sources, sources);
  }

  /** The text exposition format; a scrape-time source that fails shows NaN (FAILED sagas) or its last value. */
  async render(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  // --- called by the runtime ----------------------------------------------------------------------------------

  sagaStarted(type: string): void {
    this.sagasStarted.inc({ type });
  }

  /** After a committed transition from `before` to `after` of saga `id` (a uuid v7: it carries its start time). */
  sagaTransitioned(id: string, type: string, before: string | null, after: string): void {
    if (before === after || !FINISHED.includes(after)) return;
    this.sagasFinished.inc({ type, status: after });
    const startedMs = uuidV7Millis(id);
    if (startedMs !== null)
      this.sagaDuration.observe({ type, status: after }, Math.max(0, Date.now() - startedMs) / 1000);
  }

  dispatched(type: string, step: string, phase: StepPhase, attempt: number): void {
    if (attempt > 1) this.retries.inc({ type, step, phase });
    else if (phase === StepPhase.UNDO) this.compensations.inc({ type, step });
  }

  attempt(
    type: string,
    step: string,
    phase: StepPhase,
    error: { code?: string | null; name?: string | null } | null,
    seconds: number,
  ): void {
    const outcome = error ? 'failed' : 'succeeded';
    const code = error ? error.code || error.name || 'Error' : '';
    this.stepAttempts.inc({ type, step, phase, outcome, error: code });
    this.stepDuration.observe({ type, step, phase, outcome }, seconds);
  }

  supervisor(
    action:
      | 'deadline_exceeded'
      | 'attempt_poisoned'
      | 'job_reenqueued'
      | 'deadline_extended'
      | 'signal_timed_out'
      | 'timer_fired'
      | 'delayed_start'
      | 'schedule_started'
      | 'schedule_skipped'
      | 'child_reconciled',
  ): void {
    this.supervisorActions.inc({ action });
  }

  swept(): void {
    this.supervisorLastSweep.set(Date.now() / 1000);
  }
}

/** The creation time in a uuid v7 (its first 48 bits), or null for another kind of id. */
export function uuidV7Millis(id: string): number | null {
  const hex = id.replace(/-/g, '');
  if (hex.length !== 32 || hex[12] !== '7') return null;
  const ms = parseInt(hex.slice(0, 12), 16);
  return Number.isFinite(ms) ? ms : null;
}
