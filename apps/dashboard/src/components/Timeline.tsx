import { useState } from 'react';
import type { SagaInstance } from '../api';
import type { Attempt } from './attempts';
import { formatDuration, formatTime } from './common';

const ROW_LIMIT = 300;

/**
 * A Gantt of attempts over the saga's life: a bar per attempt (green succeeded, red failed, purple compensation),
 * a dashed line for the wait before a retry. One row per attempt, so a 50-step saga is a few dozen rows.
 */
export function Timeline({ saga, attempts, partial }: { saga: SagaInstance; attempts: Attempt[]; partial: boolean }) {
  // A step retried for hours has thousands of attempts: show the first rows, the rest on demand.
  const [limit, setLimit] = useState(ROW_LIMIT);
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
          {attempts.slice(0, limit).map((a) => {
            const start = a.start ?? a.waitFrom ?? a.end ?? t0;
            const end = a.end ?? Date.now();
            return (
              <tr key={`${a.step}-${a.phase}-${a.attempt}`} data-attempt={`${a.step}:${a.phase}:${a.attempt}`}>
                <td>
                  {a.phase === 'compensation' ? 'undo ' : ''}
                  {a.step}
                </td>
                <td>{a.outcome === 'resolved' || a.outcome === 'skipped' ? '—' : a.attempt}</td>
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
      {attempts.length > limit && (
        <button type="button" className="link" onClick={() => setLimit(attempts.length)}>
          Show all {attempts.length.toLocaleString()} attempts ({(attempts.length - limit).toLocaleString()} more)
        </button>
      )}
    </div>
  );
}
