import { DEADLINE_EXCEEDED, type ErrorInfo, OUTPUT_INVALID, POISONED, type StepPhase } from '@saga-engine/core';
import { plainToInstance } from 'class-transformer';
import { type ValidationError, validateSync } from 'class-validator';

/*
 * What the agent and the supervisor of `@saga-engine/nestjs` do around a handler, that `@saga-engine/core` does not
 * export (it is not pure: promises, signals). Copied here so that the kit needs no Nest; `agent-semantics.spec.ts`
 * checks each against its original, so that a change there fails here.
 */

/** Margin the supervisor adds to a step's timeout before it declares an attempt lost (`saga-store.ts`). */
export const DEADLINE_GRACE_MS = 5_000;

/** The codes of the supervisor's failures for a started attempt that did not report by its deadline (core). */
export { DEADLINE_EXCEEDED, POISONED };

/** Deaths after which the supervisor POISONs a step, unless told otherwise (`SAGA_POISON_AFTER_DEATHS`). */
export const DEFAULT_POISON_AFTER_DEATHS = 2;

/**
 * The supervisor's failure for a started attempt whose agent died while it ran: the step's `deaths`-th death (this
 * one included) of `limit` (`supervisor.ts`, `onDied`).
 */
export function deadlineExceeded(
  step: string,
  phase: StepPhase,
  attempt: number,
  deaths = 1,
  limit = DEFAULT_POISON_AFTER_DEATHS,
): ErrorInfo {
  const what = `attempt ${attempt} of ${phase === 'run' ? 'step' : 'compensation of step'} "${step}"`;
  if (deaths >= limit) {
    return {
      name: 'Poisoned',
      code: POISONED,
      retryable: false,
      message:
        `${what} did not report by its deadline: the step's agent died, or it hung, ${deaths} ` +
        `time${deaths === 1 ? '' : 's'} (the limit is ${limit}); it is not retried`,
    };
  }
  return {
    name: 'DeadlineExceeded',
    code: DEADLINE_EXCEEDED,
    retryable: true,
    message: `${what} did not report by its deadline: its agent died, or the step hung (death ${deaths} of ${limit})`,
  };
}

/** The reason an attempt's signal aborts with at its timeout, as `AbortSignal.timeout` gives. */
export function timeoutReason(): DOMException {
  return new DOMException('The operation was aborted due to timeout', 'TimeoutError');
}

/** Rejects with a TimeoutError when the signal aborts first; a handler that ignores its signal is abandoned. */
export async function raceAbort<T>(work: Promise<T>, signal: AbortSignal, timeoutMs: number): Promise<T> {
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
 * What does not fit a step's `output` class, named as the agent names it (`output.trackingId must be a string`,
 * see `validateStepOutput` in `@saga-engine/nestjs`): unknown fields refused, nothing converted; a fan-out's class
 * is each item's (`item`: one item's output; else a list, `output[2]...`). [] without a class. Synchronous (the
 * kit's skip is), with the same options as the agent's check.
 */
export function outputProblems(
  step: { outputClass?: (new () => unknown) | null; fanOut?: unknown },
  value: unknown,
  item = false,
): string[] {
  const cls = step.outputClass;
  if (!cls) return [];
  const one = (v: unknown, path: string): string[] => {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) return [`${path} must be an object (${cls.name})`];
    const instance = plainToInstance(cls as new () => object, v, { enableImplicitConversion: false });
    const errors = validateSync(instance, {
      whitelist: true,
      forbidNonWhitelisted: true,
      forbidUnknownValues: true,
      validationError: { target: false, value: false },
    });
    return flatten(errors, path);
  };
  if (!step.fanOut || item) return one(value, 'output');
  if (!Array.isArray(value)) return ['output must be an array (the output of each item)'];
  return value.flatMap((v, index) => one(v, `output[${index}]`)).slice(0, 10);
}

/** The agent's OUTPUT_INVALID failure of an attempt whose output its class refuses (`step-executor.ts`). */
export function outputInvalid(
  step: { name: string; outputClass?: (new () => unknown) | null },
  problems: string[],
  item?: number,
): ErrorInfo {
  const what = item === undefined ? `step "${step.name}"` : `item ${item} of step "${step.name}"`;
  return {
    name: 'OutputInvalidError',
    code: OUTPUT_INVALID,
    message: `the output of ${what} does not fit its output class ${step.outputClass!.name}: ${problems.slice(0, 5).join('; ')}`,
    retryable: false,
  };
}

function flatten(errors: ValidationError[], prefix: string): string[] {
  return errors.flatMap((error) => {
    const path = `${prefix}.${error.property}`;
    const own = Object.values(error.constraints ?? {}).map((message) =>
      message.startsWith(`${error.property} `)
        ? `${path}${message.slice(error.property.length)}`
        : `${path}: ${message}`,
    );
    return [...own, ...flatten(error.children ?? [], path)];
  });
}
