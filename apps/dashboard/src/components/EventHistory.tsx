import { useEffect, useState } from 'react';
import type { SagaEvent } from '../api';
import { describeFailure } from '../api';
import { useSession } from '../hooks';
import { Json, formatTime } from './common';

const PAGE = 100;

/**
 * The history, a page at a time (GET /v1/sagas/{id}/events?afterSeq=&limit=), oldest first. Only one page is in the
 * DOM, so a saga with tens of thousands of events opens as fast as one with ten. A filter narrows the page shown.
 */
export function EventHistory({
  sagaId,
  version,
  eventCountHint,
}: {
  sagaId: string;
  /** The saga's `updatedAt`: when it changes (a retry, a resolve, a step), the page shown is read again. */
  version: string;
  eventCountHint: number | null;
}) {
  const { api } = useSession();
  // The afterSeq of each page visited, so "Previous" can go back without the API paging backwards.
  const [stack, setStack] = useState<number[]>([0]);
  const [page, setPage] = useState<{ items: SagaEvent[]; nextAfterSeq: number | null } | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [filter, setFilter] = useState('');
  const afterSeq = stack[stack.length - 1];
  useEffect(() => {
    const controller = new AbortController();
    api
      .get<{ items: SagaEvent[]; nextAfterSeq: number | null }>(
        `/v1/sagas/${encodeURIComponent(sagaId)}/events?afterSeq=${afterSeq}&limit=${PAGE}`,
        controller.signal,
      )
      .then((p) => {
        setPage(p);
        setError(null);
      })
      .catch((e: unknown) => {
        if (!controller.signal.aborted) setError(describeFailure(e));
      });
    return () => controller.abort();
  }, [api, sagaId, afterSeq, version]);
  const needle = filter.trim().toLowerCase();
  const shown = (page?.items ?? []).filter(
    (e) => !needle || `${e.type} ${e.step ?? ''} ${JSON.stringify(e.data ?? '')}`.toLowerCase().includes(needle),
  );
  return (
    <section className="card" data-testid="event-history">
      <div className="card-head">
        <h2>History</h2>
        <span className="muted-text">
          {page && page.items.length > 0
            ? `events ${page.items[0].seq}–${page.items[page.items.length - 1].seq}${eventCountHint ? ` of ${eventCountHint}` : ''}`
            : ''}
        </span>
        <input
          type="search"
          placeholder="Filter this page (type, step, data)"
          value={filter}
          onChange={(e) => setFilter(e.target.value)}
          aria-label="Filter events"
        />
      </div>
      {error && (
        <div className="banner error" role="alert">
          {error}
        </div>
      )}
      <table className="events">
        <thead>
          <tr>
            <th>#</th>
            <th>At</th>
            <th>Event</th>
            <th>Step</th>
            <th>Attempt</th>
            <th>Data</th>
          </tr>
        </thead>
        <tbody>
          {shown.map((e) => (
            <tr key={e.seq}>
              <td>{e.seq}</td>
              <td className="nowrap">{formatTime(e.at)}</td>
              <td>{e.type}</td>
              <td>{e.step ?? ''}</td>
              <td>{e.attempt ?? ''}</td>
              <td>{e.data && Object.keys(e.data).length > 0 ? <Json value={e.data} label="data" /> : ''}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <div className="pager">
        <button type="button" disabled={stack.length <= 1} onClick={() => setStack(stack.slice(0, -1))}>
          ← Previous
        </button>
        <button
          type="button"
          disabled={!page || page.nextAfterSeq === null}
          onClick={() => page?.nextAfterSeq != null && setStack([...stack, page.nextAfterSeq])}
        >
          Next →
        </button>
      </div>
    </section>
  );
}
