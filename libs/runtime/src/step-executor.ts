import { Inject, Injectable, Logger } from '@nestjs/common';
import {
  type SagaEvent,
  type StepDefinition,
  StepPhase,
  isCompensationInFlight,
  isStepInFlight,
  stepOutputs,
} from '@app/engine';
import { toErrorInfo } from '@app/sdk';
import { type SagaSnapshot, SagaStore } from '@app/store';
import type { StepJobData } from '@app/transport';
import { EngineMetrics } from './engine-metrics';
import { RUNTIME_OPTIONS, type RuntimeOptions } from './runtime-tokens';
import { type ApplyResult, SagaRuntime } from './saga-runtime';
import { withSagaLog } from './log-context';
import { inStepSpan } from './tracing';

/** Step outputs are stored as JSONB and shown in the API; keep them to a sane size. */
export const MAX_OUTPUT_BYTES = 256 * 1024;

export type ExecuteResult = 'applied' | 'stale' | 'ignored';

/** Reporting an outcome is retried this many times, from REPORT_RETRY_MS doubling (about 8 s in all). */
const REPORT_ATTEMPTS = 6;
const REPORT_RETRY_MS = 250;

/**
 * The agent's work for one job: run one attempt of a step's action or compensation under its timeout, then hand
 * the outcome to the scheduler. It never decides what comes next.
 */
@Injectable()
export class StepExecutor {
  private readonly logger = new Logger('Agent');
  /** Aborted on shutdown, so handlers that honour their signal stop early. */
  private readonly shutdown = new AbortController();

  constructor(
    private readonly runtime: SagaRuntime,
    private readonly store: SagaStore,
    @Inject(RUNTIME_OPTIONS) private readonly options: RuntimeOptions,
    private readonly metrics: EngineMetrics,
  ) {}

  abortAll(): void {
    this.shutdown.abort(new Error('agent shutting down'));
  }

  /**
   * `committed`: the snapshot whose commit dispatched this attempt, when the scheduler of this process hands the
   * attempt over right after that commit (a local run, see StepWorker); otherwise the job came from the queue.
   */
  execute(job: StepJobData, committed?: SagaSnapshot): Promise<ExecuteResult> {
    const { sagaId, step, phase, attempt, traceparent } = job;
    return withSagaLog({ sagaId, step, phase, attempt, traceparent }, () => this.executeJob(job, committed));
  }

  private async executeJob(job: StepJobData, committed?: SagaSnapshot): Promise<ExecuteResult> {
    // A cached copy is good enough to know the inputs (outputs never change once written), but whether this
    // attempt is still wanted is checked against PostgreSQL unless this process committed it a moment ago.
    let snapshot = committed ?? (job.attempt === 1 ? this.runtime.cache.getFresh(job.sagaId) : undefined);
    if (!snapshot || !isCurrent(snapshot, job)) {
      snapshot = (await this.store.load(job.sagaId)) ?? undefined;
      if (!snapshot || !isCurrent(snapshot, job)) return 'stale';
    }
    const definition = this.runtime.registry.get(snapshot.type, snapshot.definitionVersion);
    const step = definition.stepsByName[job.step];

    let marking: Promise<unknown> | undefined;
    const mark = setTimeout(() => {
      marking = this.runtime
        .apply(job.sagaId, { type: 'StepStarted', step: job.step, phase: job.phase, attempt: job.attempt })
        .catch((error: unknown) =>
          this.logger.warn(`saga ${job.sagaId}: could not record ${job.step} as running: ${String(error)}`),
        );
    }, this.options.runningMarkMs);

    const began = performance.now();
    const failedOf = (e: SagaEvent) => (e.type === 'StepFailed' || e.type === 'CompensationFailed' ? e.error : null);
    const undo = job.phase === StepPhase.UNDO;
    const event = await inStepSpan(
      // The job's (ids only); a job re-driven by the supervisor has none: the saga's own, from PostgreSQL.
      job.traceparent ?? snapshot.traceparent,
      `${undo ? 'compensate' : 'step'} ${job.step}`,
      { 'saga.id': job.sagaId, 'saga.type': snapshot.type, 'saga.step': job.step, 'saga.attempt': job.attempt },
      (traceparent) => this.run(snapshot, step, job, traceparent),
      failedOf,
    ).finally(() => clearTimeout(mark));
    const failed = failedOf(event);
    this.metrics.attempt(snapshot.type, job.step, job.phase, failed, (performance.now() - began) / 1000);
    if (marking) await marking;
    const result = await this.report(job, event);
    if (!result.applied) {
      this.logger.debug(
        `saga ${job.sagaId}: outcome of ${job.step}/${job.phase}#${job.attempt} ignored: ${result.reason}`,
      );
      return 'ignored';
    }
    return 'applied';
  }

  /**
   * Hands the outcome to the scheduler, retrying for a few seconds when PostgreSQL does not answer (a restart,
   * a failover): the step has run, and a lost report means running it again once the supervisor notices. A retry
   * after an ambiguous commit (it committed, the answer was lost) is harmless: the engine finds it stale.
   */
  private async report(job: StepJobData, event: SagaEvent): Promise<ApplyResult> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.runtime.apply(job.sagaId, event);
      } catch (error) {
        if (attempt >= REPORT_ATTEMPTS) throw error;
        this.logger.warn(
          `saga ${job.sagaId}: could not record ${event.type} of ${job.step}, retrying: ${String(error)}`,
        );
        await new Promise((resolve) => setTimeout(resolve, REPORT_RETRY_MS * 2 ** (attempt - 1)));
      }
    }
  }

  private async run(
    snapshot: SagaSnapshot,
    step: StepDefinition,
    job: StepJobData,
    traceparent: string | undefined,
  ): Promise<SagaEvent> {
    const undo = job.phase === StepPhase.UNDO;
    const timeoutMs = undo ? step.compensationTimeoutMs : step.timeoutMs;
    const timeout = AbortSignal.timeout(timeoutMs);
    const signal = AbortSignal.any([timeout, this.shutdown.signal]);
    const definition = this.runtime.registry.get(snapshot.type, snapshot.definitionVersion);
    const key = `${snapshot.id}:${step.name}`;
    const ctx = {
      sagaId: snapshot.id,
      sagaType: snapshot.type,
      step: step.name,
      input: snapshot.state.input,
      steps: stepOutputs(definition, snapshot.state),
      attempt: job.attempt,
      key,
      undoKey: `${key}:undo`,
      signal,
      traceparent,
      output: snapshot.state.steps[step.name]?.output ?? undefined,
    };
    try {
      const handler = undo ? step.compensate : step.run;
      if (!handler) throw new Error(`step "${step.name}" has no ${undo ? 'compensation' : 'action'}`);
      const value = await raceAbort(
        Promise.resolve().then(() => handler(ctx)),
        signal,
        timeoutMs,
      );
      if (undo) return { type: 'CompensationSucceeded', step: step.name, attempt: job.attempt };
      return { type: 'StepSucceeded', step: step.name, attempt: job.attempt, output: normalizeOutput(value) };
    } catch (thrown) {
      const error = toErrorInfo(thrown);
      return undo
        ? { type: 'CompensationFailed', step: step.name, attempt: job.attempt, error }
        : { type: 'StepFailed', step: step.name, attempt: job.attempt, error };
    }
  }
}

/** Whether the job is the attempt the saga currently waits for (and not a stale duplicate). */
export function isCurrent(snapshot: SagaSnapshot, job: StepJobData): boolean {
  const step = snapshot.state.steps[job.step];
  if (!step) return false;
  if (job.phase === StepPhase.RUN) return isStepInFlight(step) && step.attempt === job.attempt;
  return isCompensationInFlight(step) && step.compensation?.attempt === job.attempt;
}

/** Rejects with a TimeoutError when the signal aborts first; a handler that ignores its signal is abandoned. */
async function raceAbort<T>(work: Promise<T>, signal: AbortSignal, timeoutMs: number): Promise<T> {
  let onAbort = (): void => undefined;
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => reject(abortError(signal, timeoutMs));
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
  });
  try {
    return await Promise.race([work, aborted]);
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
}

function abortError(signal: AbortSignal, timeoutMs: number): Error {
  const reason = signal.reason as { name?: string } | undefined;
  if (reason?.name === 'TimeoutError') {
    const error = new Error(`timed out after ${timeoutMs} ms`);
    error.name = 'TimeoutError';
    return error;
  }
  const error = new Error('aborted: agent shutting down');
  error.name = 'AbortError';
  return error;
}

/**
 * Outputs are stored as JSON: undefined becomes null, Dates become strings. An output that cannot be stored is a
 * failure whose effect is unknown (the step did run), so it is retryable: retries exhausted, its undo runs.
 */
export function normalizeOutput(value: unknown): unknown {
  if (value === undefined) return null;
  let text: string;
  try {
    text = JSON.stringify(value);
  } catch (error) {
    throw outputError(`step output is not JSON-serializable: ${String(error)}`);
  }
  if (text === undefined) return null;
  if (Buffer.byteLength(text) > MAX_OUTPUT_BYTES) {
    throw outputError(`step output is larger than ${MAX_OUTPUT_BYTES} bytes`);
  }
  return JSON.parse(text);
}

function outputError(message: string): Error & { code: string } {
  return Object.assign(new Error(message), { code: 'OUTPUT_INVALID' });
}
