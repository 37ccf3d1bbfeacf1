import type { ConditionContext, ErrorInfo, SleepUntil, StepDefinition } from './types';

/** The error of a sleep step whose `until` threw or returned something that is not a point in time: definite. */
export const SLEEP_UNTIL_ERROR = 'SLEEP_UNTIL_ERROR';

// A date-time with an explicit offset: a local time would mean something else on each agent's machine.
const ISO_WITH_OFFSET = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})$/i;

/**
 * A sleep step's wake-up time as the agent computes it before the sleep begins: the ISO-8601 instant its `until`
 * returned, undefined for a sleep of a fixed length (its timer is set on the database clock), or the error to fail
 * the step with (a definite "no": the same function over the same data would answer the same). `until` is code,
 * so the agent evaluates it, once, like a `when`; the engine only ever sees the time, as data.
 */
export function evaluateSleepUntil(
  step: Pick<StepDefinition, 'name' | 'until'>,
  ctx: ConditionContext<unknown, Record<string, unknown>>,
): string | undefined | ErrorInfo {
  if (!step.until) return undefined;
  let value: unknown;
  try {
    value = step.until(ctx);
  } catch (thrown) {
    const detail = thrown instanceof Error ? thrown.message : String(thrown);
    return untilError(`the until of step "${step.name}" threw: ${detail}`);
  }
  const at = wakeTime(value);
  if (typeof at === 'string') return untilError(`the until of step "${step.name}" returned ${at}`);
  return at.toISOString();
}

/** The instant a `SleepUntil` names, or why it names none. */
export function wakeTime(value: unknown): Date | string {
  let at: Date;
  if (value instanceof Date) at = value;
  else if (typeof value === 'number') at = new Date(value);
  else if (typeof value === 'string') {
    if (!ISO_WITH_OFFSET.test(value)) {
      return `${JSON.stringify(value.slice(0, 60))}, not an ISO-8601 date-time with an offset ("2026-12-24T18:00:00Z")`;
    }
    at = new Date(value);
  } else {
    return `${value === null ? 'null' : typeof value}, not a Date, an ISO-8601 string or epoch milliseconds`;
  }
  if (Number.isNaN(at.getTime())) return 'an invalid date';
  return at;
}

function untilError(message: string): ErrorInfo {
  return { name: 'SleepUntilError', code: SLEEP_UNTIL_ERROR, message, retryable: false };
}

export type { SleepUntil };
