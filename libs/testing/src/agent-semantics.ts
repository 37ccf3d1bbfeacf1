import type { ErrorInfo, StepPhase } from '@saga-engine/core';

/*
 * What the agent and the supervisor of `@saga-engine/nestjs` do around a handler, that `@saga-engine/core` does not
 * export (it is not pure: promises, signals). Copied here so that the kit needs no Nest; `agent-semantics.spec.ts`
 * checks each against its original, so that a change there fails here.
 */

/** Margin the supervisor adds to a step's timeout before it declares an attempt lost (`saga-store.ts`). */
export const DEADLINE_GRACE_MS = 5_000;

/** The code of the supervisor's failure for an attempt that did not report by its deadline (`supervisor.ts`). */
export const DEADLINE_EXCEEDED = 'DEADLINE_EXCEEDED';

/** The supervisor's failure for an attempt whose agent died while it ran (its job `active`). */
export function deadlineExceeded(step: string, phase: StepPhase, attempt: number): ErrorInfo {
  const what = phase === 'run' ? 'step' : 'compensation of step';
  return {
    name: 'DeadlineExceeded',
    code: DEADLINE_EXCEEDED,
    retryable: true,
    message: `attempt ${attempt} of ${what} "${step}" did not report by its deadline (its agent stopped answering, or the step hung)`,
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
