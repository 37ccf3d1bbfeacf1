import type { SagaEvent } from '../api';

export interface Attempt {
  step: string;
  phase: 'action' | 'compensation';
  attempt: number;
  /** When the attempt began, if known (an agent reported StepStarted, or the step's first start). */
  start: number | null;
  /** When the previous attempt of the same step and phase failed: from then until `start`, the backoff wait. */
  waitFrom: number | null;
  end: number | null;
  outcome: 'running' | 'succeeded' | 'failed' | 'timed out' | 'resolved' | 'skipped';
  error: string | null;
}

/**
 * Attempts per step and phase, from the history: scheduled (or retry scheduled with its backoff `delayMs`), started
 * (slow attempts report it), ended. The wait before a retry is from the retry's scheduling to its due time.
 */
export function buildAttempts(events: SagaEvent[]): Attempt[] {
  const attempts = new Map<string, Attempt>();
  const order: Attempt[] = [];
  const get = (step: string, phase: Attempt['phase'], n: number): Attempt => {
    const key = `${step}|${phase}|${n}`;
    let a = attempts.get(key);
    if (!a) {
      a = { step, phase, attempt: n, start: null, waitFrom: null, end: null, outcome: 'running', error: null };
      attempts.set(key, a);
      order.push(a);
    }
    return a;
  };
  for (const e of events) {
    // An item of a fan-out has its own attempts (the items list shows them); the timeline shows the step as one bar.
    if (!e.step || (e.item !== null && e.item !== undefined)) continue;
    const at = Date.parse(e.at);
    const n = e.attempt ?? 1;
    const data = e.data ?? {};
    const delay = typeof data.delayMs === 'number' ? data.delayMs : 0;
    switch (e.type) {
      case 'StepScheduled':
      case 'StepWaiting':
        get(e.step, 'action', n).start ??= at;
        break;
      case 'CompensationScheduled':
        get(e.step, 'compensation', n).start ??= at;
        break;
      case 'StepRetryScheduled':
      case 'CompensationRetryScheduled': {
        const a = get(e.step, e.type === 'StepRetryScheduled' ? 'action' : 'compensation', n);
        a.waitFrom = at;
        a.start = at + delay;
        break;
      }
      case 'StepStarted':
      case 'CompensationStarted': {
        const phase = e.type === 'CompensationStarted' || data.phase === 'compensation' || data.phase === 'undo';
        get(e.step, phase ? 'compensation' : 'action', n).start = at;
        break;
      }
      case 'StepSucceeded':
      case 'StepFailed':
      case 'SignalTimedOut':
      case 'SignalReceived': {
        const a = get(e.step, 'action', n);
        a.end = at;
        a.outcome = e.type === 'StepFailed' ? 'failed' : e.type === 'SignalTimedOut' ? 'timed out' : 'succeeded';
        a.error = errorText(data.error);
        break;
      }
      case 'CompensationSucceeded':
      case 'CompensationFailed': {
        const a = get(e.step, 'compensation', n);
        a.end = at;
        a.outcome = e.type === 'CompensationSucceeded' ? 'succeeded' : 'failed';
        a.error = errorText(data.error);
        break;
      }
      case 'CompensationResolved': {
        const a = get(e.step, 'compensation', -e.seq);
        a.start = at;
        a.end = at;
        a.outcome = 'resolved';
        a.error = typeof data.reason === 'string' ? `resolved by hand: ${data.reason}` : null;
        break;
      }
      case 'StepSkippedByOperator': {
        // Not an attempt: an operator's decision, shown where the step's attempts are.
        const a = get(e.step, 'action', -e.seq);
        a.start = at;
        a.end = at;
        a.outcome = 'skipped';
        a.error = typeof data.reason === 'string' ? `skipped by hand: ${data.reason}` : null;
        break;
      }
      default:
        break;
    }
  }
  return order;
}

function errorText(error: unknown): string | null {
  if (!error || typeof error !== 'object') return null;
  const e = error as { code?: unknown; message?: unknown };
  const parts = [typeof e.code === 'string' ? e.code : null, typeof e.message === 'string' ? e.message : null];
  const text = parts.filter(Boolean).join(': ');
  return text || null;
}
