import { useState } from 'react';

const STATUS_CLASS: Record<string, string> = {
  RUNNING: 'run',
  SCHEDULED: 'run',
  RETRYING: 'warn',
  WAITING: 'run',
  SLEEPING: 'run',
  DELAYED: 'muted',
  COMPENSATING: 'warn',
  COMPLETED: 'ok',
  SUCCEEDED: 'ok',
  COMPENSATED: 'comp',
  RESOLVED: 'comp',
  CANCELLED: 'muted',
  SKIPPED: 'muted',
  PENDING: 'muted',
  FAILED: 'bad',
  COMPENSATION_FAILED: 'bad',
};

export function statusClass(status: string): string {
  return STATUS_CLASS[status] ?? 'muted';
}

export function StatusBadge({ status }: { status: string }) {
  return <span className={`badge ${statusClass(status)}`}>{status}</span>;
}

export function formatTime(iso: string | null | undefined): string {
  if (!iso) return '—';
  const d = new Date(iso);
  return d.toLocaleString(undefined, { hour12: false });
}

/**
 * A saga id short enough for a table cell that still tells sagas apart: ids are UUIDv7, whose first 12 hex digits
 * are the creation time (sagas started in the same millisecond share them), so the random tail is what differs.
 */
export function shortId(id: string): string {
  return id.length > 13 ? `…${id.slice(-12)}` : id;
}

/** How long a saga has run: until it ended, or until it stopped in FAILED (it waits for an operator there). */
export function sagaDurationMs(
  saga: { status: string; createdAt: string; updatedAt: string; completedAt: string | null; startAt?: string | null },
  now = Date.now(),
): number {
  const from = Date.parse(
    saga.startAt && Date.parse(saga.startAt) > Date.parse(saga.createdAt) ? saga.startAt : saga.createdAt,
  );
  if (saga.status === 'DELAYED') return Number.NaN;
  const to = saga.completedAt
    ? Date.parse(saga.completedAt)
    : saga.status === 'FAILED'
      ? Date.parse(saga.updatedAt)
      : now;
  return to - from;
}

export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return '—';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`;
  if (ms < 3_600_000) return `${Math.floor(ms / 60_000)} min ${Math.round((ms % 60_000) / 1000)} s`;
  return `${(ms / 3_600_000).toFixed(1)} h`;
}

/** Payloads above this many characters start collapsed (a preview shows), so one large output cannot swamp a page. */
const COLLAPSE_OVER = 600;
/** And past this many, only this much is rendered until asked: rendering megabytes of text freezes a tab. */
const RENDER_LIMIT = 200_000;

/** JSON shown as text (never HTML), pretty-printed, collapsed when large. */
export function Json({ value, label }: { value: unknown; label?: string }) {
  const text = value === undefined ? 'undefined' : JSON.stringify(value, null, 2);
  const large = text.length > COLLAPSE_OVER;
  const [open, setOpen] = useState(!large);
  const [all, setAll] = useState(false);
  if (value === null || value === undefined) return <span className="muted-text">none</span>;
  const shown = all ? text : text.slice(0, RENDER_LIMIT);
  return (
    <div className="json">
      {large && (
        <button type="button" className="link" onClick={() => setOpen(!open)}>
          {open ? 'Collapse' : `Show ${label ?? 'payload'} (${(text.length / 1024).toFixed(1)} KiB)`}
        </button>
      )}
      {open ? (
        <>
          <pre>{shown}</pre>
          {shown.length < text.length && (
            <button type="button" className="link" onClick={() => setAll(true)}>
              Show the remaining {(text.length - shown.length).toLocaleString()} characters
            </button>
          )}
        </>
      ) : (
        <pre className="preview">{text.slice(0, 160)}…</pre>
      )}
    </div>
  );
}

export function ErrorBanner({ message }: { message: string | null }) {
  if (!message) return null;
  return (
    <div className="banner error" role="alert">
      {message}
    </div>
  );
}
