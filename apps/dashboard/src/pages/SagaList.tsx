import { useState } from 'react';
import {
  type BulkActionName,
  type BulkFilter,
  SAGA_STATUSES,
  type SagaDefinitionView,
  type SagaSummary,
  type SearchAttributeView,
  UUID,
} from '../api';
import { BulkActionDialog } from '../components/BulkActionDialog';
import { ErrorBanner, StatusBadge, formatDuration, formatTime } from '../components/common';
import { canOperate, usePolling, useSession } from '../hooks';
import { linkProps, navigate } from '../router';

const PAGE_SIZE = 50;

/** Filters live in the URL (shareable, back button works); the page refreshes every 3 s. */
export function SagaList({ query }: { query: URLSearchParams }) {
  const { api, role } = useSession();
  const [bulk, setBulk] = useState<BulkActionName | null>(null);
  const type = query.get('type') ?? '';
  const statuses = query.getAll('status');
  const after = query.get('createdAfter') ?? '';
  const before = query.get('createdBefore') ?? '';
  const businessKey = query.get('businessKey') ?? '';
  // attr.<name>[.<op>] parameters, as the API takes them (the URL is the API's filter, shareable).
  const attrParams = [...query.entries()].filter(([name]) => name.startsWith('attr.'));
  const [cursors, setCursors] = useState<string[]>([]);
  const [search, setSearch] = useState('');
  const [searchError, setSearchError] = useState<string | null>(null);
  const cursor = cursors[cursors.length - 1] ?? null;
  const types = usePolling((signal) => api.get<SagaDefinitionView[]>('/v1/saga-types', signal), []);
  const filterKey = query.toString();
  const page = usePolling(
    (signal) => {
      const params = new URLSearchParams();
      if (type) params.set('type', type);
      for (const s of statuses) params.append('status', s);
      if (after) params.set('createdAfter', new Date(after).toISOString());
      if (before) params.set('createdBefore', new Date(before).toISOString());
      if (businessKey) params.set('businessKey', businessKey);
      for (const [name, value] of attrParams) params.append(name, value);
      params.set('limit', String(PAGE_SIZE));
      if (cursor) params.set('cursor', cursor);
      return api.get<{ items: SagaSummary[]; nextCursor: string | null }>(`/v1/sagas?${params.toString()}`, signal);
    },
    [filterKey, cursor],
    3000,
  );

  // The filter a bulk action acts on: the list's, as the API reads it.
  const bulkFilter: BulkFilter = {
    ...(type ? { type } : {}),
    ...(statuses.length ? { status: statuses } : {}),
    ...(after ? { createdAfter: new Date(after).toISOString() } : {}),
    ...(before ? { createdBefore: new Date(before).toISOString() } : {}),
  };

  const setFilter = (change: (q: URLSearchParams) => void) => {
    const next = new URLSearchParams(query);
    change(next);
    setCursors([]);
    navigate(`/sagas${next.toString() ? `?${next.toString()}` : ''}`, true);
  };
  const toggleStatus = (status: string) =>
    setFilter((q) => {
      const current = q.getAll('status');
      q.delete('status');
      for (const s of current.includes(status) ? current.filter((c) => c !== status) : [...current, status]) {
        q.append('status', s);
      }
    });
  const openById = async (e: React.FormEvent) => {
    e.preventDefault();
    const id = search.trim();
    if (!UUID.test(id)) {
      setSearchError('A saga id is a UUID, e.g. 01a20002-2f09-7700-8806-cda05e7b3245.');
      return;
    }
    setSearchError(null);
    navigate(`/sagas/${id.toLowerCase()}`);
  };

  return (
    <div className="page" data-testid="saga-list">
      <h1>Sagas</h1>
      <form className="toolbar" onSubmit={(e) => void openById(e)}>
        <input
          type="search"
          placeholder="Open a saga by id (UUID)"
          value={search}
          onChange={(e) => setSearch(e.target.value)}
          aria-label="Saga id"
          className="grow"
        />
        <button type="submit">Open</button>
      </form>
      <ErrorBanner message={searchError} />
      <SearchForm
        key={filterKey}
        query={query}
        attributes={(types.data ?? []).find((t) => t.name === type)?.searchAttributes ?? []}
        onSearch={(next) =>
          setFilter((q) => {
            for (const name of [...q.keys()]) if (name === 'businessKey' || name.startsWith('attr.')) q.delete(name);
            for (const [name, value] of next) q.set(name, value);
          })
        }
      />
      <div className="toolbar filters">
        <label>
          Type
          <select
            value={type}
            onChange={(e) =>
              setFilter((q) => {
                // Attributes are declared per type: another type's conditions would be refused.
                for (const name of [...q.keys()]) if (name.startsWith('attr.')) q.delete(name);
                if (e.target.value) q.set('type', e.target.value);
                else q.delete('type');
              })
            }
          >
            <option value="">all</option>
            {(types.data ?? []).map((t) => (
              <option key={`${t.name}@${t.version}`} value={t.name}>
                {t.name}
              </option>
            ))}
          </select>
        </label>
        <fieldset className="status-filter">
          <legend>Status</legend>
          {SAGA_STATUSES.map((s) => (
            <label key={s} className="check">
              <input type="checkbox" checked={statuses.includes(s)} onChange={() => toggleStatus(s)} /> {s}
            </label>
          ))}
        </fieldset>
        <label>
          Created after
          <input
            type="datetime-local"
            value={after}
            onChange={(e) =>
              setFilter((q) => (e.target.value ? q.set('createdAfter', e.target.value) : q.delete('createdAfter')))
            }
          />
        </label>
        <label>
          Created before
          <input
            type="datetime-local"
            value={before}
            onChange={(e) =>
              setFilter((q) => (e.target.value ? q.set('createdBefore', e.target.value) : q.delete('createdBefore')))
            }
          />
        </label>
        <span className="live" title="This page refreshes every 3 seconds">
          ● live
        </span>
      </div>
      {canOperate(role) && (businessKey || attrParams.length > 0) && (
        // A bulk filter takes type, status and creation time only: acting on "every saga this filter matches" would
        // reach sagas this search does not show.
        <p className="muted-text" data-testid="bulk-unavailable">
          Bulk actions take the type, status and creation filters only: clear the business key and attribute search to
          use them.
        </p>
      )}
      {canOperate(role) && !businessKey && attrParams.length === 0 && (
        <div className="toolbar" data-testid="bulk-actions">
          <span className="muted-text">Every saga this filter matches:</span>
          <button type="button" onClick={() => setBulk('retry')}>
            Retry all
          </button>
          <button type="button" onClick={() => setBulk('cancel')}>
            Cancel all
          </button>
          {role === 'admin' && (
            <button type="button" onClick={() => setBulk('resolve')}>
              Resolve all
            </button>
          )}
        </div>
      )}
      {bulk && <BulkActionDialog action={bulk} filter={bulkFilter} onClose={() => setBulk(null)} />}
      <ErrorBanner message={page.error} />
      <table className="sagas">
        <thead>
          <tr>
            <th>Saga</th>
            <th>Type</th>
            <th>Key</th>
            <th>Status</th>
            <th>Error</th>
            <th>Created</th>
            <th>Duration</th>
          </tr>
        </thead>
        <tbody>
          {(page.data?.items ?? []).map((s) => (
            <tr key={s.id} data-saga={s.id} data-status={s.status}>
              <td>
                <a className="mono" {...linkProps(`/sagas/${s.id}`)}>
                  {s.id}
                </a>
              </td>
              <td>
                {s.type}
                {s.parentId && (
                  <div className="muted-text nowrap" data-testid="child-of">
                    child of{' '}
                    <a className="mono" {...linkProps(`/sagas/${s.parentId}`)}>
                      {s.parentId.slice(0, 8)}
                    </a>
                  </div>
                )}
              </td>
              <td data-testid="saga-key">
                {s.businessKey && <span className="mono">{s.businessKey}</span>}
                {s.attributes && Object.keys(s.attributes).length > 0 && (
                  <div className="muted-text" data-testid="saga-attributes">
                    {Object.entries(s.attributes)
                      .map(([name, value]) => `${name}=${String(value)}`)
                      .join(' · ')}
                  </div>
                )}
              </td>
              <td>
                <StatusBadge status={s.status} />
                {s.status === 'DELAYED' && s.startAt && (
                  <div className="muted-text nowrap" data-testid="starts-at">
                    starts {formatTime(s.startAt)}
                  </div>
                )}
              </td>
              <td className="error-text">{s.error ? `${s.error.step ?? ''}: ${s.error.message ?? ''}` : ''}</td>
              <td className="nowrap">{formatTime(s.createdAt)}</td>
              <td>{formatDuration(Date.parse(s.completedAt ?? s.updatedAt) - Date.parse(s.createdAt))}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {page.data && page.data.items.length === 0 && <p className="muted-text">No saga matches these filters.</p>}
      <div className="pager">
        <button type="button" disabled={cursors.length === 0} onClick={() => setCursors(cursors.slice(0, -1))}>
          ← Newer
        </button>
        <span className="muted-text">page {cursors.length + 1}</span>
        <button
          type="button"
          disabled={!page.data?.nextCursor}
          onClick={() => page.data?.nextCursor && setCursors([...cursors, page.data.nextCursor])}
        >
          Older →
        </button>
      </div>
    </div>
  );
}

const RANGE_TYPES = new Set(['number', 'datetime']);

/**
 * Search by business key (every type) and by the search attributes of the chosen type: equality, and for number
 * and datetime attributes a range (from, to: both included). Applied on submit, into the URL.
 */
function SearchForm({
  query,
  attributes,
  onSearch,
}: {
  query: URLSearchParams;
  attributes: readonly SearchAttributeView[];
  onSearch: (params: [string, string][]) => void;
}) {
  const [values, setValues] = useState<Record<string, string>>(() => {
    const initial: Record<string, string> = {};
    for (const [name, value] of query.entries()) {
      if (name === 'businessKey' || name.startsWith('attr.')) initial[name] = value;
    }
    return initial;
  });
  const field = (name: string) => ({
    value: values[name] ?? '',
    onChange: (e: React.ChangeEvent<HTMLInputElement | HTMLSelectElement>) =>
      setValues({ ...values, [name]: e.target.value }),
  });
  const submit = (e: React.FormEvent) => {
    e.preventDefault();
    onSearch(
      Object.entries(values)
        .filter(([, value]) => value.trim() !== '')
        .map(([name, value]) => [name, value.trim()]),
    );
  };
  return (
    <form className="toolbar filters search-form" onSubmit={submit} data-testid="search-form">
      <label>
        Business key
        <input type="search" placeholder="e.g. ORD-2026-0042" aria-label="Business key" {...field('businessKey')} />
      </label>
      {attributes.map((a) => (
        <label key={a.name} data-attribute={a.name}>
          {a.name} <span className="muted-text">({a.type})</span>
          {a.type === 'boolean' ? (
            <select aria-label={a.name} {...field(`attr.${a.name}`)}>
              <option value="">any</option>
              <option value="true">true</option>
              <option value="false">false</option>
            </select>
          ) : RANGE_TYPES.has(a.type) ? (
            <span className="range">
              <input aria-label={`${a.name} from`} placeholder="from" size={12} {...field(`attr.${a.name}.gte`)} />
              <input aria-label={`${a.name} to`} placeholder="to" size={12} {...field(`attr.${a.name}.lte`)} />
            </span>
          ) : (
            <input aria-label={a.name} placeholder="equals" {...field(`attr.${a.name}`)} />
          )}
        </label>
      ))}
      <button type="submit">Search</button>
    </form>
  );
}
