import { useState } from 'react';
import type { ScheduleDetail, ScheduleSummary } from '../api';
import { ActionDialog, type ActionSpec } from '../components/ActionDialog';
import { ErrorBanner, Json, StatusBadge, formatTime } from '../components/common';
import { canOperate, usePolling, useSession } from '../hooks';
import { linkProps } from '../router';

/** Schedules: the list, and one schedule with its next runs, its last runs (their sagas) and its changes. */
export function Schedules({ id }: { id: string | null }) {
  return id ? <ScheduleView id={id} /> : <ScheduleList />;
}

function ScheduleList() {
  const { api } = useSession();
  const list = usePolling((signal) => api.get<{ items: ScheduleSummary[] }>('/v1/schedules', signal), [], 5000);
  const items = list.data?.items ?? [];
  return (
    <div className="page" data-testid="schedules">
      <div className="card-head">
        <h1>Schedules</h1>
        <span className="live" title="This page refreshes every 5 seconds">
          ● live
        </span>
      </div>
      <ErrorBanner message={list.error} />
      <table className="sagas">
        <thead>
          <tr>
            <th>Schedule</th>
            <th>Saga type</th>
            <th>Cron</th>
            <th>Time zone</th>
            <th>State</th>
            <th>Next tick</th>
          </tr>
        </thead>
        <tbody>
          {items.map((s) => (
            <tr key={s.id} data-schedule={s.id} data-paused={String(s.paused)}>
              <td>
                <a className="mono" {...linkProps(`/schedules/${s.id}`)}>
                  {s.description ?? s.id}
                </a>
              </td>
              <td>{s.type}</td>
              <td className="mono">{s.cron}</td>
              <td>{s.timeZone}</td>
              <td>
                {s.paused ? <span className="badge muted">PAUSED</span> : <span className="badge run">ACTIVE</span>}
              </td>
              <td className="nowrap">{formatTime(s.nextFireAt)}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {list.data && items.length === 0 && <p className="muted-text">No schedule yet (POST /v1/schedules).</p>}
    </div>
  );
}

function ScheduleView({ id }: { id: string }) {
  const { api, role } = useSession();
  const [action, setAction] = useState<ActionSpec | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const schedule = usePolling(
    (signal) => api.get<ScheduleDetail>(`/v1/schedules/${encodeURIComponent(id)}`, signal),
    [id],
    3000,
  );
  if (!schedule.data) {
    return (
      <div className="page">
        <ErrorBanner message={schedule.error} />
        {!schedule.error && <p className="muted-text">Loading…</p>}
      </div>
    );
  }
  const s = schedule.data;
  const actions: ActionSpec[] = [];
  if (canOperate(role)) {
    actions.push(
      s.paused
        ? {
            title: 'Resume schedule',
            confirmLabel: 'Resume',
            consequence:
              'The schedule fires again from its next tick after now. The ticks that passed while it was paused ' +
              'are not caught up.',
            run: (reason) => api.patch(`/v1/schedules/${s.id}`, { paused: false, reason }),
          }
        : {
            title: 'Pause schedule',
            confirmLabel: 'Pause',
            danger: true,
            consequence:
              'No tick starts a saga until the schedule is resumed; the sagas it started run on. A tick held back ' +
              'by the overlap policy is dropped.',
            run: (reason) => api.patch(`/v1/schedules/${s.id}`, { paused: true, reason }),
          },
    );
  }
  return (
    <div className="page" data-testid="schedule-page">
      <div className="saga-head">
        <div>
          <h1>{s.description ?? 'Schedule'}</h1>
          <div className="mono muted-text">{s.id}</div>
        </div>
        <span className={`badge ${s.paused ? 'muted' : 'run'}`} data-testid="schedule-state">
          {s.paused ? 'PAUSED' : 'ACTIVE'}
        </span>
        <div className="actions" data-testid="actions">
          {actions.map((a) => (
            <button
              key={a.title}
              type="button"
              className={a.danger ? 'danger' : 'primary'}
              onClick={() => setAction(a)}
            >
              {a.title}
            </button>
          ))}
        </div>
      </div>
      <ErrorBanner message={schedule.error} />
      {notice && (
        <div className="banner ok" role="status">
          {notice}
        </div>
      )}
      <dl className="facts">
        <dt>Saga type</dt>
        <dd>
          <a {...linkProps(`/types/${encodeURIComponent(s.type)}`)}>{s.type}</a>
        </dd>
        <dt>Cron</dt>
        <dd className="mono">
          {s.cron} ({s.timeZone})
        </dd>
        <dt>Overlap</dt>
        <dd>{s.overlap}</dd>
        <dt>Catch-up</dt>
        <dd>
          {s.catchUp}
          {s.catchUp === 'all' ? ` (at most ${s.catchUpLimit})` : ''}
        </dd>
        {s.bufferedTick && (
          <>
            <dt>Buffered tick</dt>
            <dd>{formatTime(s.bufferedTick)}</dd>
          </>
        )}
      </dl>

      <section className="card" data-testid="next-runs">
        <div className="card-head">
          <h2>Next runs</h2>
        </div>
        {s.nextRuns.length === 0 ? (
          <p className="muted-text">None while paused.</p>
        ) : (
          <ol>
            {s.nextRuns.map((tick) => (
              <li key={tick} data-tick={tick}>
                {formatTime(tick)}
              </li>
            ))}
          </ol>
        )}
      </section>

      <section className="card" data-testid="last-runs">
        <div className="card-head">
          <h2>Last runs</h2>
        </div>
        <table className="sagas">
          <thead>
            <tr>
              <th>Tick</th>
              <th>Outcome</th>
              <th>Saga</th>
              <th>Detail</th>
            </tr>
          </thead>
          <tbody>
            {s.lastRuns.map((r) => (
              <tr key={r.tick} data-run={r.tick} data-outcome={r.outcome}>
                <td className="nowrap">{formatTime(r.tick)}</td>
                <td>{r.outcome}</td>
                <td>
                  {r.sagaId ? (
                    <>
                      <a className="mono" {...linkProps(`/sagas/${r.sagaId}`)}>
                        {r.sagaId}
                      </a>{' '}
                      {r.sagaStatus && <StatusBadge status={r.sagaStatus} />}
                    </>
                  ) : (
                    '—'
                  )}
                </td>
                <td className="muted-text">{r.detail ?? ''}</td>
              </tr>
            ))}
          </tbody>
        </table>
        {s.lastRuns.length === 0 && <p className="muted-text">No tick yet.</p>}
      </section>

      <section className="card">
        <div className="card-head">
          <h2>Input</h2>
        </div>
        <Json value={s.input} label="input" />
      </section>

      <section className="card" data-testid="changes">
        <div className="card-head">
          <h2>Changes (audited)</h2>
        </div>
        <ul>
          {s.changes.map((c) => (
            <li key={`${c.at}-${c.action}`}>
              {formatTime(c.at)}: <strong>{c.action}</strong> by key {c.actor} ({c.role}): {c.reason}
            </li>
          ))}
        </ul>
      </section>

      {action && (
        <ActionDialog
          spec={action}
          onClose={() => setAction(null)}
          onDone={() => {
            setNotice(`${action.title}: done.`);
            setAction(null);
            schedule.reload();
          }}
        />
      )}
    </div>
  );
}
