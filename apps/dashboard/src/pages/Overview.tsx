import { useState } from 'react';
import { ApiFailure, type Participant, SAGA_STATUSES, type SagaSummary, type Stats, type VersionUse } from '../api';
import { FailureRateChart, ThroughputChart } from '../components/Charts';
import { ErrorBanner, StatusBadge, formatTime, shortId } from '../components/common';
import { usePolling, useSession } from '../hooks';
import { linkProps } from '../router';

const WINDOWS = ['15m', '1h', '6h', '24h', '7d'];

export function Overview() {
  const { api } = useSession();
  const [span, setSpan] = useState('1h');
  const stats = usePolling((signal) => api.get<Stats>(`/v1/stats?window=${span}`, signal), [span], 5000);
  const attention = usePolling(
    (signal) => api.get<{ items: SagaSummary[]; nextCursor: string | null }>('/v1/sagas?status=FAILED&limit=8', signal),
    [],
    5000,
  );
  const participants = usePolling(
    async (signal) => {
      try {
        return await api.get<{ items: Participant[] }>('/v1/participants', signal);
      } catch (e) {
        // Older orchestrators have no participant endpoint: no data, not an error.
        if (e instanceof ApiFailure && e.status === 404) return null;
        throw e;
      }
    },
    [],
    10_000,
  );
  // Versions with sagas in use that no live agent runs: a deploy dropped their code while they ran.
  const versions = usePolling((signal) => api.get<{ items: VersionUse[] }>('/v1/saga-versions', signal), [], 15_000);
  const stranded = (versions.data?.items ?? []).filter((v) => !v.runnable && Object.keys(v.instances).length > 0);
  const counts = stats.data?.counts;
  const failed = attention.data?.items ?? [];
  const troubled = (participants.data?.items ?? []).filter((p) => p.state !== 'closed');
  const limited = (participants.data?.items ?? []).filter((p) => p.limits);
  return (
    <div className="page" data-testid="overview">
      <h1>Overview</h1>
      <ErrorBanner message={stats.error ?? attention.error} />
      {stranded.length > 0 && (
        <div className="banner error" role="alert" data-testid="stranded-versions">
          Sagas wait on versions no agent runs:{' '}
          {stranded
            .map(
              (v) =>
                `${v.type} v${v.version} (${Object.entries(v.instances)
                  .map(([status, n]) => `${n} ${status}`)
                  .join(', ')})`,
            )
            .join('; ')}
          . Deploy those versions' code again (keep old versions until their sagas finish), or cancel the sagas.
        </div>
      )}
      <section className="counts">
        {SAGA_STATUSES.map((status) => (
          <a
            key={status}
            className={`count-card ${status === 'FAILED' && (counts?.FAILED ?? 0) > 0 ? 'alarm' : ''}`}
            {...linkProps(`/sagas?status=${status}`)}
            data-count={status}
          >
            <StatusBadge status={status} />
            <strong>{counts ? counts[status].toLocaleString() : '…'}</strong>
          </a>
        ))}
      </section>

      <section className="card attention" data-testid="attention">
        <div className="card-head">
          <h2>Needs attention: FAILED sagas</h2>
          <span className="muted-text">A compensation could not finish; the saga holds until an operator acts.</span>
        </div>
        {failed.length === 0 ? (
          <p className="muted-text">{attention.loading ? 'Loading…' : 'None. Nothing is stuck.'}</p>
        ) : (
          <table>
            <thead>
              <tr>
                <th>Saga</th>
                <th>Type</th>
                <th>Failed step</th>
                <th>Error</th>
                <th>Since</th>
              </tr>
            </thead>
            <tbody>
              {failed.map((s) => (
                <tr key={s.id}>
                  <td>
                    <a {...linkProps(`/sagas/${s.id}`)} className="mono" title={s.id}>
                      {shortId(s.id)}
                    </a>
                  </td>
                  <td>{s.type}</td>
                  <td>{s.error?.step ?? '—'}</td>
                  <td className="error-text">{s.error?.message ?? ''}</td>
                  <td className="nowrap">{formatTime(s.updatedAt)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
        {attention.data?.nextCursor && <a {...linkProps('/sagas?status=FAILED')}>All FAILED sagas →</a>}
      </section>

      <section className="card">
        <div className="card-head">
          <h2>Throughput and failures</h2>
          <div className="segmented" role="group" aria-label="Window">
            {WINDOWS.map((w) => (
              <button key={w} type="button" className={w === span ? 'on' : ''} onClick={() => setSpan(w)}>
                {w}
              </button>
            ))}
          </div>
        </div>
        {stats.data ? (
          <div className="charts">
            <ThroughputChart stats={stats.data} />
            <FailureRateChart stats={stats.data} />
          </div>
        ) : (
          <p className="muted-text">Loading…</p>
        )}
      </section>

      <section className="card" data-testid="participants">
        <div className="card-head">
          <h2>Participants with open circuits</h2>
        </div>
        {participants.error && <ErrorBanner message={participants.error} />}
        {participants.data === null && !participants.loading ? (
          <p className="muted-text">This orchestrator reports no participant data (no GET /v1/participants).</p>
        ) : troubled.length === 0 ? (
          <p className="muted-text">
            {participants.loading
              ? 'Loading…'
              : `All circuits closed (${participants.data?.items.length ?? 0} participants).`}
          </p>
        ) : (
          <table>
            <thead>
              <tr>
                <th>Participant</th>
                <th>Circuit</th>
                <th>Since</th>
                <th>Agents</th>
              </tr>
            </thead>
            <tbody>
              {troubled.map((p) => (
                <tr key={p.name}>
                  <td>{p.name}</td>
                  <td>
                    <span className={`badge ${p.state === 'open' ? 'bad' : 'warn'}`}>{p.state}</span>
                  </td>
                  <td>{formatTime(p.since)}</td>
                  <td>{p.agents}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </section>

      {limited.length > 0 && (
        <section className="card" data-testid="participant-limits">
          <div className="card-head">
            <h2>Participant limits</h2>
          </div>
          <p className="muted-text">Shared by every agent; calls held back wait in line and run later.</p>
          <table>
            <thead>
              <tr>
                <th>Participant</th>
                <th>In flight</th>
                <th>Calls in the last second</th>
                <th>Held back</th>
              </tr>
            </thead>
            <tbody>
              {limited.map((p) => (
                <tr key={p.name} data-testid={`limits-${p.name}`}>
                  <td>{p.name}</td>
                  <td>
                    {p.limits!.concurrency === null
                      ? 'no limit'
                      : `${p.limits!.inFlight ?? 0} / ${p.limits!.concurrency}`}
                  </td>
                  <td>
                    {p.limits!.ratePerSecond === null
                      ? 'no limit'
                      : `${p.limits!.callsLastSecond ?? 0} / ${p.limits!.ratePerSecond} per s`}
                  </td>
                  <td>{p.limits!.throttled}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </section>
      )}
    </div>
  );
}
