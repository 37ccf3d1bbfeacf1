import { useState } from 'react';
import type { ItemPage, SagaEvent, StepView } from '../api';
import { describeFailure } from '../api';
import { usePolling, useSession } from '../hooks';
import { ErrorBanner, Json, StatusBadge, formatTime, statusClass } from './common';

/** Items per page: a fan-out may have 10,000; the page shows a page of them, never a box per item. */
export const ITEMS_PAGE = 50;

/** The order in which the states of items are counted and stacked in the bar. */
const ITEM_STATES = [
  'SUCCEEDED',
  'RUNNING',
  'SCHEDULED',
  'RETRYING',
  'PENDING',
  'FAILED',
  'COMPENSATING',
  'COMPENSATED',
  'COMPENSATION_FAILED',
];

/**
 * A fan-out step's items: the counts by state (one stacked bar, and a chip per state that filters the list), and the
 * items a page at a time (`GET /v1/sagas/{id}/steps/{step}/items`), each with its attempts, error, output and, on
 * demand, its own history. Polls while the saga runs.
 */
export function FanOutItems({ sagaId, step, live }: { sagaId: string; step: StepView; live: boolean }) {
  const { api } = useSession();
  const [status, setStatus] = useState<string | null>(null);
  // afterIndex of each page shown so far: the last is the current page's, the one before it "Previous".
  const [pages, setPages] = useState<number[]>([-1]);
  const [open, setOpen] = useState<number | null>(null);
  const after = pages[pages.length - 1];
  const page = usePolling(
    (signal) =>
      api.get<ItemPage>(
        `/v1/sagas/${encodeURIComponent(sagaId)}/steps/${encodeURIComponent(step.name)}/items?limit=${ITEMS_PAGE}` +
          `&afterIndex=${after}${status ? `&status=${encodeURIComponent(status)}` : ''}`,
        signal,
      ),
    [sagaId, step.name, status, after],
    live ? 3000 : 0,
  );
  const counts = page.data?.counts ?? step.items?.counts ?? {};
  const total = page.data?.total ?? step.items?.total ?? 0;
  const states = [
    ...ITEM_STATES.filter((s) => counts[s]),
    ...Object.keys(counts).filter((s) => !ITEM_STATES.includes(s)),
  ];
  const filter = (next: string | null) => {
    setStatus(next);
    setPages([-1]);
    setOpen(null);
  };
  return (
    <section className="card" data-testid={`items-${step.name}`}>
      <div className="card-head">
        <h2>
          Items of {step.name} <span className="muted-text">({total})</span>
        </h2>
        <span className="muted-text">A fan-out: each item is an attempt history and a compensation of its own.</span>
      </div>
      <div className="item-bar" role="img" aria-label={states.map((s) => `${s} ${counts[s]}`).join(', ')}>
        {states.map((s) => (
          <div
            key={s}
            className={`bar ${statusClass(s)}`}
            style={{ width: `${(100 * counts[s]) / Math.max(total, 1)}%` }}
            title={`${s}: ${counts[s]}`}
          />
        ))}
      </div>
      <div className="chips" data-testid="item-counts">
        <button type="button" className={status === null ? 'chip active' : 'chip'} onClick={() => filter(null)}>
          all {total}
        </button>
        {states.map((s) => (
          <button
            key={s}
            type="button"
            className={status === s ? 'chip active' : 'chip'}
            data-state={s}
            onClick={() => filter(s)}
          >
            {s} {counts[s]}
          </button>
        ))}
      </div>
      <ErrorBanner message={page.error} />
      <table className="steps items">
        <thead>
          <tr>
            <th>#</th>
            <th>Key</th>
            <th>Status</th>
            <th>Attempts</th>
            <th>Compensation</th>
            <th>Output / error</th>
          </tr>
        </thead>
        <tbody>
          {(page.data?.items ?? []).map((item) => (
            <tr
              key={item.index}
              data-item={item.index}
              onClick={() => setOpen(open === item.index ? null : item.index)}
            >
              <td>{item.index}</td>
              <td className="mono">{item.key}</td>
              <td>
                <StatusBadge status={item.status} />
              </td>
              <td>{item.attempts}</td>
              <td>
                {item.compensation ? (
                  <>
                    <StatusBadge status={item.compensation.status} /> ×{item.compensation.attempts}
                  </>
                ) : (
                  '—'
                )}
              </td>
              <td className="payload-cell">
                {item.error != null && <Json value={item.error} label="error" />}
                {item.compensation?.error != null && (
                  <Json value={item.compensation.error} label="compensation error" />
                )}
                {open === item.index ? (
                  <ItemDetail
                    sagaId={sagaId}
                    step={step.name}
                    index={item.index}
                    item={item.item}
                    output={item.output}
                  />
                ) : (
                  <span className="muted-text">details (click)</span>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <div className="pager">
        <button type="button" disabled={pages.length === 1} onClick={() => setPages(pages.slice(0, -1))}>
          Previous
        </button>
        <span className="muted-text" data-testid="items-page">
          page {pages.length}
          {page.data?.items.length
            ? `: items ${page.data.items[0].index}–${page.data.items[page.data.items.length - 1].index}`
            : ''}
        </span>
        <button
          type="button"
          disabled={page.data?.nextAfterIndex == null}
          onClick={() => page.data?.nextAfterIndex != null && setPages([...pages, page.data.nextAfterIndex])}
        >
          Next
        </button>
      </div>
    </section>
  );
}

/** One item, opened: the item itself, its output, and its own history (its attempts and compensations). */
function ItemDetail(props: { sagaId: string; step: string; index: number; item: unknown; output: unknown }) {
  const { api } = useSession();
  const history = usePolling(
    (signal) =>
      api.get<{ items: SagaEvent[] }>(
        `/v1/sagas/${encodeURIComponent(props.sagaId)}/events?step=${encodeURIComponent(props.step)}&item=${props.index}`,
        signal,
      ),
    [props.sagaId, props.step, props.index],
  );
  return (
    <div className="step-detail" data-testid="item-detail" onClick={(e) => e.stopPropagation()}>
      <h4>Item</h4>
      <Json value={props.item} label="item" />
      <h4>Output</h4>
      <Json value={props.output} label="output" />
      <h4>History</h4>
      {history.error && <ErrorBanner message={history.error ?? describeFailure(null)} />}
      <ol className="item-history">
        {(history.data?.items ?? []).map((e) => (
          <li key={e.seq}>
            <span className="mono">{formatTime(e.at)}</span> {e.type}
            {e.attempt !== null ? ` #${e.attempt}` : ''}
          </li>
        ))}
      </ol>
    </div>
  );
}
