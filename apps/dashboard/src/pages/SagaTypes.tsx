import { useState } from 'react';
import type { RetryPolicy, SagaDefinitionView, StepDefinitionView } from '../api';
import { SagaGraph } from '../components/SagaGraph';
import { StartSagaDialog } from '../components/StartSagaDialog';
import { ErrorBanner, formatDuration } from '../components/common';
import { canOperate, usePolling, useSession } from '../hooks';
import { linkProps } from '../router';

export function SagaTypes({ type }: { type: string | null }) {
  const { api, role } = useSession();
  const [starting, setStarting] = useState<SagaDefinitionView | null>(null);
  const types = usePolling((signal) => api.get<SagaDefinitionView[]>('/v1/saga-types', signal), []);
  const shown = (types.data ?? []).filter((t) => type === null || t.name === type);
  return (
    <div className="page" data-testid="saga-types">
      <h1>Saga types</h1>
      <ErrorBanner message={types.error} />
      {types.data && type === null && (
        <p className="muted-text">
          {types.data.length} registered: {types.data.map((t) => `${t.name} v${t.version}`).join(', ')}
        </p>
      )}
      {shown.map((t) => (
        <section className="card" key={`${t.name}@${t.version}`} data-type={t.name}>
          <div className="card-head">
            <h2>
              <a {...linkProps(`/types/${encodeURIComponent(t.name)}`)}>{t.name}</a>{' '}
              <span className="muted-text">v{t.version}</span>
            </h2>
            {canOperate(role) && (
              <button type="button" className="primary" onClick={() => setStarting(t)}>
                Start saga
              </button>
            )}
            <a {...linkProps(`/sagas?type=${encodeURIComponent(t.name)}`)}>Its sagas →</a>
          </div>
          {t.description && <p>{t.description}</p>}
          {t.input && <p className="muted-text">Input: {t.input}</p>}
          {(t.businessKey || (t.searchAttributes ?? []).length > 0) && (
            <p className="muted-text" data-testid="type-search">
              {t.businessKey && <>Business key: input.{t.businessKey}. </>}
              {(t.searchAttributes ?? []).length > 0 && (
                <>
                  Search attributes:{' '}
                  {(t.searchAttributes ?? [])
                    .map((a) => `${a.name} (${a.type}, from ${a.step ? `step ${a.step}` : 'the input'})`)
                    .join(', ')}
                  .
                </>
              )}
            </p>
          )}
          {t.agents > 0 ? (
            <p className="muted-text" data-testid="type-agents">
              Agents running it: {t.agents}
            </p>
          ) : (
            <div className="banner warn" role="status" data-testid="type-agents">
              No agent that runs {t.name} v{t.version} is running: its sagas wait until one starts.
            </div>
          )}
          <SagaGraph definition={t} />
          <table className="policies">
            <thead>
              <tr>
                <th>Step</th>
                <th>Stage</th>
                <th>Flags</th>
                <th>Timeout</th>
                <th>Retry</th>
                <th>Compensation</th>
              </tr>
            </thead>
            <tbody>
              {t.steps.map((step) => (
                <tr key={step.name}>
                  <td>
                    {step.name}
                    {step.description && <div className="muted-text">{step.description}</div>}
                  </td>
                  <td>
                    {step.stage + 1}
                    {step.group ? ` (${step.group})` : ''}
                  </td>
                  <td>
                    {[
                      step.pivot ? 'pivot' : null,
                      step.conditional ? `when ${step.when ?? ''}` : null,
                      step.signal ? `waits for ${step.signal}` : null,
                    ]
                      .filter(Boolean)
                      .join(', ') || '—'}
                  </td>
                  <td>{step.timeoutMs ? formatDuration(step.timeoutMs) : '—'}</td>
                  <td data-testid="retry-policy">{retryCell(step)}</td>
                  <td>
                    {step.compensation
                      ? `${policy(step.compensationRetry)}${step.compensationTimeoutMs ? `; timeout ${formatDuration(step.compensationTimeoutMs)}` : ''}`
                      : 'none'}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </section>
      ))}
      {starting && <StartSagaDialog type={starting} onClose={() => setStarting(null)} />}
    </div>
  );
}

/** A wait or a sleep is not an attempt that can fail and be retried: its policy does not apply. */
function retryCell(step: StepDefinitionView): string {
  if (step.signal) return 'none (a wait: it ends with its signal or its timeout)';
  if (step.sleep) return 'none (a sleep)';
  return policy(step.retry);
}

/** A retry policy in one line, whatever fields it has (numbers in ms shown as durations). */
function policy(p: RetryPolicy): string {
  const parts: string[] = [];
  for (const [key, value] of Object.entries(p)) {
    if (key === 'maximumAttempts' && value === 0) parts.push('maximumAttempts unlimited');
    else if (Array.isArray(value)) {
      if (value.length) parts.push(`${key}: ${value.join(', ')}`);
    } else if (typeof value === 'number' && /Ms$/.test(key))
      parts.push(`${key.replace(/Ms$/, '')} ${formatDuration(value)}`);
    else if (typeof value === 'number' || typeof value === 'string' || typeof value === 'boolean') {
      parts.push(`${key} ${String(value)}`);
    }
  }
  return parts.join(' · ') || '—';
}
