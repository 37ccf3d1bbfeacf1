import { useEffect, useMemo, useRef, useState } from 'react';
import {
  type AgentView,
  type SagaDefinitionView,
  type SagaEvent,
  type SagaInstance,
  type StepView,
  TERMINAL,
  describeFailure,
} from '../api';
import { ActionDialog, type ActionSpec } from '../components/ActionDialog';
import { EventHistory } from '../components/EventHistory';
import { FanOutItems } from '../components/FanOutItems';
import { SagaGraph } from '../components/SagaGraph';
import { Timeline } from '../components/Timeline';
import { buildAttempts } from '../components/attempts';
import { outputSkeletonText } from '../components/json-skeleton';
import { ErrorBanner, Json, StatusBadge, formatDuration, formatTime, sagaDurationMs } from '../components/common';
import { canOperate, usePolling, useSession } from '../hooks';
import { linkProps } from '../router';

/** The timeline reads the history up to this many events (5 pages); the History card pages through all of it. */
const TIMELINE_EVENT_LIMIT = 5000;
const EVENTS_PAGE = 1000;

export function SagaPage({ id }: { id: string }) {
  const { api, role } = useSession();
  const [action, setAction] = useState<ActionSpec | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [selected, setSelected] = useState<string | null>(null);
  // Every 2 s while the saga can still change; an ended saga (COMPLETED, COMPENSATED, CANCELLED) never does.
  const [ended, setEnded] = useState(false);
  const saga = usePolling(
    async (signal) => {
      const value = await api.get<SagaInstance>(`/v1/sagas/${encodeURIComponent(id)}`, signal);
      setEnded(TERMINAL.has(value.status));
      return value;
    },
    [id],
    ended ? 0 : 2000,
  );
  const type = saga.data?.type;
  const definition = usePolling(
    (signal) =>
      type ? api.get<SagaDefinitionView>(`/v1/saga-types/${encodeURIComponent(type)}`, signal) : Promise.resolve(null),
    [type],
  );
  // While the saga can move: is any agent running that has its code? (Without one, its steps wait in their queue.)
  const active = saga.data?.status === 'RUNNING' || saga.data?.status === 'COMPENSATING';
  const agents = usePolling(
    (signal) => (active ? api.get<{ items: AgentView[] }>('/v1/agents', signal) : Promise.resolve(null)),
    [active],
    active ? 5000 : 0,
  );
  const events = useHistory(id, saga.data?.updatedAt ?? 'first');
  const attempts = useMemo(() => buildAttempts(events.items), [events.items]);

  if (!saga.data) {
    return (
      <div className="page">
        <ErrorBanner message={saga.error} />
        {!saga.error && <p className="muted-text">Loading…</p>}
      </div>
    );
  }
  const s = saga.data;
  const operator = canOperate(role);
  const failedCompensations = s.steps.filter((step) => step.compensation?.status === 'FAILED');
  const actions: ActionSpec[] = [];
  if (operator && s.status === 'DELAYED') {
    actions.push({
      title: 'Cancel saga',
      confirmLabel: 'Cancel the saga',
      danger: true,
      consequence: 'The saga has not started: nothing ran, nothing is undone. It ends CANCELLED and never starts.',
      run: (reason) => api.post(`/v1/sagas/${s.id}/cancel`, { reason }),
    });
  }
  if (operator && s.status === 'RUNNING') {
    actions.push({
      title: 'Cancel saga',
      confirmLabel: 'Cancel the saga',
      danger: true,
      consequence:
        'The saga stops: no further step starts. A step in flight finishes first; then every step that completed is ' +
        'compensated, in reverse order, and the saga ends CANCELLED. Refused once the saga is past its pivot step.',
      run: (reason) => api.post(`/v1/sagas/${s.id}/cancel`, { reason }),
    });
  }
  if (operator && s.status === 'FAILED') {
    actions.push({
      title: 'Retry saga',
      confirmLabel: 'Retry now',
      consequence:
        'The saga resumes where it stopped: its failed compensations (or a failed step past the pivot) run again, ' +
        'with fresh attempts. Effects already undone are not touched again.',
      run: (reason) => api.post(`/v1/sagas/${s.id}/retry`, { reason }),
    });
  }
  const resolveActions: ActionSpec[] =
    role === 'admin' && s.status === 'FAILED'
      ? failedCompensations.map((step) => ({
          title: `Mark "undo ${step.name}" resolved`,
          confirmLabel: 'Mark resolved',
          danger: true,
          consequence:
            `You state that the effect of "${step.name}" was undone by hand. The engine cannot check this: the ` +
            'compensation is recorded as RESOLVED and the saga goes on compensating the other steps (it may end ' +
            'COMPENSATED or CANCELLED). If the effect is still in place, it stays in place.',
          run: (reason) => api.post(`/v1/sagas/${s.id}/steps/${encodeURIComponent(step.name)}/resolve`, { reason }),
        }))
      : [];
  // Per step: re-run from a completed forward step (operator), skip a failed or pending one (admin). Where the
  // engine would refuse for a reason the page knows (before the pivot, a later step not yet run), no button; any
  // other refusal is shown in the dialog with the engine's reason.
  const defs = new Map((definition.data?.steps ?? []).map((d) => [d.name, d]));
  const pivotStage = (definition.data?.steps ?? [])
    .filter((d) => d.pivot && s.steps.some((st) => st.name === d.name && st.status === 'SUCCEEDED'))
    .reduce<number | null>((min, d) => (min === null || d.stage < min ? d.stage : min), null);
  const stepActions = (step: StepView): ActionSpec[] => {
    const def = defs.get(step.name);
    if (!def) return [];
    const out: ActionSpec[] = [];
    const path = `/v1/sagas/${s.id}/steps/${encodeURIComponent(step.name)}`;
    const completed = step.status === 'SUCCEEDED' || step.status === 'SKIPPED';
    if (
      operator &&
      completed &&
      (s.status === 'FAILED' || s.status === 'COMPLETED') &&
      (pivotStage === null || def.stage > pivotStage)
    ) {
      out.push({
        title: `Retry from ${step.name}`,
        confirmLabel: 'Re-run from here',
        consequence:
          `"${step.name}" and every step after it run again, each with a new idempotency key, so participants ` +
          'apply them as new operations; the steps before it are not re-run. What the earlier run did is not ' +
          'undone. The saga is RUNNING again.',
        run: (reason) => api.post(`${path}/retry`, { reason }),
      });
    }
    const skippable =
      (step.status === 'FAILED' && s.status === 'FAILED') ||
      (step.status === 'RETRYING' && s.status === 'RUNNING') ||
      (step.status === 'PENDING' && (s.status === 'RUNNING' || s.status === 'FAILED'));
    if (role === 'admin' && skippable && !step.items) {
      out.push({
        title: `Skip ${step.name}`,
        confirmLabel: 'Skip the step',
        danger: true,
        consequence:
          `You state that "${step.name}" is done, with the output below, which the later steps read as its output. ` +
          'The engine cannot check this: the step is recorded as SUCCEEDED (skipped) and is never compensated.',
        // A step that declares its output type: a skeleton of it to fill in (the API checks it, a 400 names the
        // fields that do not fit, shown in the dialog).
        json: def.outputSchema
          ? { label: "Output (JSON, of the step's output type)", placeholder: '{}', initial: outputSkeletonText(def) }
          : { label: 'Output (JSON, required; null for none)', placeholder: '{ "trackingId": "T-4711" }' },
        run: (reason, output) => api.post(`${path}/skip`, { reason, output }),
      });
    }
    return out;
  };
  const anyStepActions = s.steps.some((step) => stepActions(step).length > 0);
  const selectedStep = s.steps.find((step) => step.name === selected) ?? null;
  // What made the saga undo: the forward step that failed for good, when the saga's own error is about something
  // else (a compensation that then failed too, or a cancel).
  const failedStep = s.steps.find((step) => step.status === 'FAILED' && step.error != null);
  const undoError = s.steps.find((step) => step.name === s.error?.step)?.compensation?.status === 'FAILED';
  const cause =
    failedStep && (undoError || failedStep.name !== s.error?.step)
      ? { step: failedStep.name, error: failedStep.error }
      : null;

  return (
    <div className="page" data-testid="saga-page">
      <div className="saga-head">
        <div>
          <h1>
            {s.type} <span className="muted-text">v{s.version}</span>
          </h1>
          <div className="mono muted-text">{s.id}</div>
        </div>
        <StatusBadge status={s.status} />
        <div className="actions" data-testid="actions">
          {[...actions, ...resolveActions].map((a) => (
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
      <ErrorBanner message={saga.error} />
      {active && agents.data && !agents.data.items.some((a) => a.sagaTypes.includes(`${s.type}@${s.version}`)) && (
        <div className="banner warn" role="status" data-testid="no-agent">
          No agent that runs {s.type} v{s.version} is running: its steps wait in their queue and run when one starts.
        </div>
      )}
      {notice && (
        <div className="banner ok" role="status">
          {notice}
        </div>
      )}
      <dl className="facts">
        <dt>Created</dt>
        <dd>{formatTime(s.createdAt)}</dd>
        {s.businessKey && (
          <>
            <dt>Business key</dt>
            <dd className="mono" data-testid="saga-business-key">
              <a {...linkProps(`/sagas?businessKey=${encodeURIComponent(s.businessKey)}`)}>{s.businessKey}</a>
            </dd>
          </>
        )}
        {s.attributes && Object.keys(s.attributes).length > 0 && (
          <>
            <dt>Attributes</dt>
            <dd className="links" data-testid="saga-attributes">
              {Object.entries(s.attributes).map(([name, value]) => (
                <span key={name} data-attribute={name}>
                  {name} = <span className="mono">{value === null ? 'null' : String(value)}</span>
                </span>
              ))}
            </dd>
          </>
        )}
        {s.startAt && (
          <>
            <dt>{s.status === 'DELAYED' ? 'Starts' : 'Started'}</dt>
            <dd data-testid="saga-start-at">{formatTime(s.startAt)}</dd>
          </>
        )}
        {s.parentId && (
          <>
            <dt>Parent</dt>
            <dd data-testid="saga-parent">
              <a {...linkProps(`/sagas/${s.parentId}`)} className="mono">
                {s.parentId}
              </a>{' '}
              <span className="muted-text">(its step {s.parentStep ?? '?'} started this saga)</span>
            </dd>
          </>
        )}
        {s.children && s.children.length > 0 && (
          <>
            <dt>Children</dt>
            <dd className="links" data-testid="saga-children">
              {s.children.map((c) => (
                <span key={c.id}>
                  <a {...linkProps(`/sagas/${c.id}`)}>
                    {c.type} <span className="mono">{c.id.slice(0, 8)}</span>
                  </a>{' '}
                  <StatusBadge status={c.status} /> <span className="muted-text">from {c.step}</span>
                </span>
              ))}
            </dd>
          </>
        )}
        <dt>Updated</dt>
        <dd>{formatTime(s.updatedAt)}</dd>
        <dt>Ended</dt>
        <dd>{formatTime(s.completedAt)}</dd>
        <dt>Duration</dt>
        <dd data-testid="saga-duration">
          {formatDuration(sagaDurationMs(s))}
          {s.status === 'FAILED' && !s.completedAt ? ' (stopped: waits for an operator)' : ''}
        </dd>
        {cause && (
          <>
            <dt>Cause</dt>
            <dd className="error-text" data-testid="saga-cause">
              {cause.step}: {describeStepError(cause.error)}
            </dd>
          </>
        )}
        {s.error && (
          <>
            <dt>{cause ? 'Then' : 'Error'}</dt>
            <dd className="error-text" data-testid="saga-error">
              {s.error.step ? `${s.error.step}: ` : ''}
              {s.error.code ? `${s.error.code} ` : ''}
              {s.error.message ?? ''}
            </dd>
          </>
        )}
      </dl>

      <section className="card">
        <div className="card-head">
          <h2>Definition and live status</h2>
          <span className="muted-text">Click a step for its output and errors.</span>
        </div>
        {definition.data ? (
          <SagaGraph
            definition={definition.data}
            steps={s.steps}
            sagaStatus={s.status}
            onSelect={setSelected}
            selected={selected}
          />
        ) : (
          <ErrorBanner message={definition.error} />
        )}
      </section>

      <section className="card">
        <div className="card-head">
          <h2>Input</h2>
        </div>
        <div data-testid="saga-input">
          <Json value={s.input} label="input" />
        </div>
        {s.output !== null && (
          <>
            <h3>Output</h3>
            <Json value={s.output} label="output" />
          </>
        )}
      </section>

      <section className="card" data-testid="steps">
        <div className="card-head">
          <h2>Steps</h2>
        </div>
        <table className="steps">
          <thead>
            <tr>
              <th>Step</th>
              <th>Status</th>
              <th>Attempts</th>
              <th>Compensation</th>
              <th>Output / error</th>
              {anyStepActions && <th>Actions</th>}
            </tr>
          </thead>
          <tbody>
            {s.steps.map((step) => (
              <tr
                key={step.name}
                className={step.name === selected ? 'selected' : ''}
                onClick={() => setSelected(step.name)}
                data-step-row={step.name}
              >
                <td>{step.name}</td>
                <td>
                  <StatusBadge status={step.status} />
                  {step.skipped && (
                    <div className="muted-text" data-testid="step-skipped">
                      skipped by an operator
                    </div>
                  )}
                  {step.status === 'SLEEPING' && step.wakeAt && (
                    <div className="muted-text" data-testid="wakes-at">
                      wakes at {formatTime(step.wakeAt)}
                    </div>
                  )}
                  {step.status === 'WAITING' && step.deadlineAt && (
                    <div className="muted-text">times out at {formatTime(step.deadlineAt)}</div>
                  )}
                  {step.child && (
                    <div data-testid="step-child">
                      child{' '}
                      <a
                        {...linkProps(`/sagas/${step.child.id}`)}
                        onClick={linkProps(`/sagas/${step.child.id}`).onClick}
                      >
                        {step.child.type}
                      </a>{' '}
                      <StatusBadge status={step.child.status} />
                    </div>
                  )}
                  {step.items && (
                    <div className="muted-text" data-testid="step-items">
                      {step.items.counts.SUCCEEDED ?? 0}/{step.items.total} items succeeded
                      {step.items.counts.FAILED ? `, ${step.items.counts.FAILED} failed` : ''}
                      {step.items.counts.COMPENSATED ? `, ${step.items.counts.COMPENSATED} undone` : ''}
                    </div>
                  )}
                </td>
                <td>
                  {step.attempts}
                  {(step.run ?? 0) > 0 && (
                    <div className="muted-text" data-testid="step-run">
                      run {(step.run ?? 0) + 1} (re-run by an operator)
                    </div>
                  )}
                </td>
                <td>
                  {step.compensation ? (
                    <>
                      <StatusBadge status={step.compensation.status} /> ×{step.compensation.attempts}
                    </>
                  ) : (
                    '—'
                  )}
                </td>
                <td className="payload-cell">
                  {step.error !== null && step.error !== undefined && <Json value={step.error} label="error" />}
                  {step.compensation?.error != null && (
                    <Json value={step.compensation.error} label="compensation error" />
                  )}
                  {step.output !== null && step.name === selected && <Json value={step.output} label="output" />}
                  {step.output !== null && step.name !== selected && <span className="muted-text">output (click)</span>}
                </td>
                {anyStepActions && (
                  <td>
                    <div className="step-actions">
                      {stepActions(step).map((a) => (
                        <button
                          key={a.title}
                          type="button"
                          className={a.danger ? 'danger' : 'primary'}
                          aria-label={a.title}
                          title={a.title}
                          onClick={(e) => {
                            e.stopPropagation();
                            setAction(a);
                          }}
                        >
                          {a.title.startsWith('Retry') ? 'Retry from here' : 'Skip'}
                        </button>
                      ))}
                    </div>
                  </td>
                )}
              </tr>
            ))}
          </tbody>
        </table>
        {selectedStep && (
          <div className="step-detail" data-testid="step-detail">
            <h3>{selectedStep.name}</h3>
            <p>
              {formatTime(selectedStep.startedAt)} → {formatTime(selectedStep.finishedAt)}
            </p>
            <h4>Output</h4>
            <Json value={selectedStep.output} label="output" />
            <h4>Error</h4>
            <Json value={selectedStep.error} label="error" />
          </div>
        )}
      </section>

      {s.steps
        .filter((step) => step.items)
        .map((step) => (
          <FanOutItems key={step.name} sagaId={s.id} step={step} live={!TERMINAL.has(s.status)} />
        ))}

      <section className="card">
        <div className="card-head">
          <h2>Timeline of attempts</h2>
        </div>
        <ErrorBanner message={events.error} />
        <Timeline saga={s} attempts={attempts} partial={events.partial} />
      </section>

      <EventHistory sagaId={s.id} version={s.updatedAt} eventCountHint={events.partial ? null : events.items.length} />

      {action && (
        <ActionDialog
          spec={action}
          onClose={() => setAction(null)}
          onDone={() => {
            setNotice(`${action.title}: accepted. The saga gets there asynchronously; this page follows it.`);
            setAction(null);
            saga.reload();
          }}
        />
      )}
    </div>
  );
}

/**
 * The history for the timeline: the first pages, then only what is new (afterSeq = the last seq seen) whenever the
 * saga changes. A finished saga's history is read once.
 */
function useHistory(
  id: string,
  updatedAt: string | null,
): { items: SagaEvent[]; partial: boolean; error: string | null } {
  const { api } = useSession();
  const [state, setState] = useState<{ id: string; items: SagaEvent[]; partial: boolean; error: string | null }>({
    id,
    items: [],
    partial: false,
    error: null,
  });
  const [tick, setTick] = useState(0);
  const busy = useRef(false);
  const wanted = useRef<string | null>(null);
  const loaded = useRef<string | null>(null);
  wanted.current = `${id}@${updatedAt}`;
  const current = state.id === id ? state : { id, items: [], partial: false, error: null };
  useEffect(() => {
    const target = `${id}@${updatedAt}`;
    if (updatedAt === null || busy.current || current.partial || loaded.current === target) return;
    busy.current = true;
    let items = current.items;
    const load = async () => {
      let after = items.length ? items[items.length - 1].seq : 0;
      for (;;) {
        const page = await api.get<{ items: SagaEvent[]; nextAfterSeq: number | null }>(
          `/v1/sagas/${encodeURIComponent(id)}/events?afterSeq=${after}&limit=${EVENTS_PAGE}`,
        );
        items = items.concat(page.items);
        if (page.nextAfterSeq === null) return { items, partial: false };
        if (items.length >= TIMELINE_EVENT_LIMIT) return { items, partial: true };
        after = page.nextAfterSeq;
      }
    };
    load()
      .then((r) => {
        loaded.current = target;
        setState({ id, ...r, error: null });
      })
      .catch((e: unknown) => setState({ ...current, error: describeFailure(e) }))
      .finally(() => {
        busy.current = false;
        // The saga changed while this page was read: read what is new.
        if (wanted.current !== target) setTick((t) => t + 1);
      });
  }, [id, updatedAt, tick]);
  return current;
}

/** A step's error in one line: its code and message (the Json view below the table has the rest). */
function describeStepError(error: unknown): string {
  if (error && typeof error === 'object') {
    const e = error as { code?: unknown; message?: unknown };
    const parts = [typeof e.code === 'string' ? e.code : null, typeof e.message === 'string' ? e.message : null];
    const line = parts.filter(Boolean).join(' ');
    if (line) return line;
  }
  return JSON.stringify(error);
}
