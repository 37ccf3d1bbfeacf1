import type { SagaEvent, SagaInstance } from '../api';
import { formatDuration, formatTime } from './common';

export interface Attempt {
  step: string;
  phase: 'action' | 'compensation';
  attempt: number;
  /** When the attempt began, if known (an agent reported StepStarted, or the step's first start). */
  start: number | null;
  /** When the previous attempt of the same step and phase failed: from then until `start`, the backoff wait. */
  waitFrom: number | null;
  end: number | null;
  outcome: 'running' | 'succeeded' | 'failed' | 'timed out' | 'resolved';
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
    if (!e.step) continue;
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
      default:
        break;
    }
  }
  return order;
}

function errorText(error: unknown): string | null {
  if (!error || typeof error !== 'object') return null;
  const e = error as { code?: unknown; message?: unknown };
  return [typeof e.code === 'string' ? e.code : null, typeof e.message === 'string' ? e.message : null]
    .filter(Boolean)
    .join(': ');
}

/**
 * A Gantt of attempts over the saga's life: a bar per attempt (green succeeded, red failed, purple compensation),
 * a dashed line for the wait before a retry. One row per attempt, so a 50-step saga is a few dozen rows.
 */
export function Timeline({ saga, attempts, partial }: { saga: SagaInstance; attempts: Attempt[]; partial: boolean }) {
  const t0 = Date.parse(saga.createdAt);
  const ends = attempts.flatMap((a) => [a.end ?? 0, a.start ?? 0]);
  const t1 = Math.max(t0 + 1, saga.completedAt ? Date.parse(saga.completedAt) : Date.now(), ...ends);
  const pct = (t: number) => `${(((t - t0) / (t1 - t0)) * 100).toFixed(3)}%`;
  const width = (a: number, b: number) => `${Math.max(0.3, ((b - a) / (t1 - t0)) * 100).toFixed(3)}%`;
  if (attempts.length === 0) return <p className="muted-text">No attempt has reported yet.</p>;
  return (
    <div className="timeline" data-testid="timeline">
      <div className="timeline-scale">
        <span>{formatTime(saga.createdAt)}</span>
        <span>{formatDuration(t1 - t0)} in all</span>
      </div>
      {partial && <p className="muted-text">Built from the first pages of the history only (it is very long).</p>}
      <table>
        <thead>
          <tr>
            <th>Step</th>
            <th>Attempt</th>
            <th>Outcome</th>
            <th>Duration</th>
            <th className="gantt-col">When</th>
          </tr>
        </thead>
        <tbody>
          {attempts.map((a) => {
            const start = a.start ?? a.waitFrom ?? a.end ?? t0;
            const end = a.end ?? Date.now();
            return (
              <tr key={`${a.step}-${a.phase}-${a.attempt}`} data-attempt={`${a.step}:${a.phase}:${a.attempt}`}>
                <td>
                  {a.phase === 'compensation' ? 'undo ' : ''}
                  {a.step}
                </td>
                <td>{a.outcome === 'resolved' ? '—' : a.attempt}</td>
                <td>
                  <span className={`outcome ${a.outcome.replace(' ', '-')}`}>{a.outcome}</span>
                  {a.error && <div className="error-text">{a.error}</div>}
                </td>
                <td>{a.start !== null && a.end !== null ? formatDuration(a.end - a.start) : '—'}</td>
                <td className="gantt-col">
                  <div className="gantt">
                    {a.waitFrom !== null && a.start !== null && a.start > a.waitFrom && (
                      <div
                        className="wait"
                        style={{ left: pct(a.waitFrom), width: width(a.waitFrom, a.start) }}
                        title={`backoff wait ${formatDuration(a.start - a.waitFrom)}`}
                      />
                    )}
                    <div
                      className={`bar ${a.phase} ${a.outcome.replace(' ', '-')}`}
                      style={{ left: pct(start), width: width(start, end) }}
                      title={`${formatTime(new Date(start).toISOString())} → ${a.end ? formatTime(new Date(a.end).toISOString()) : 'now'}`}
                    />
                  </div>
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}
