import { useEffect, useState } from 'react';
import { type BulkActionName, type BulkFilter, type BulkJob, describeFailure } from '../api';
import { useSession } from '../hooks';
import { useEscape } from './ActionDialog';
import { StatusBadge } from './common';

const VERB: Record<BulkActionName, string> = { retry: 'Retry', cancel: 'Cancel', resolve: 'Resolve' };
const CONSEQUENCE: Record<BulkActionName, string> = {
  retry: 'Each FAILED saga resumes where it stopped; the others are skipped.',
  cancel: 'Each saga that can still be cancelled stops and undoes what it did; the others are skipped.',
  resolve:
    "Each saga's FAILED compensation of this step is declared done by hand: make sure the effects were undone. " +
    'The others are skipped.',
};
const ENDED = new Set(['COMPLETED', 'CANCELLED', 'FAILED']);

/**
 * A bulk action on every saga the list's filter matches: counts them first (a dry run), asks for a reason (audited
 * with each saga) and, for a resolve, the step; then starts the job and shows its progress until it ends. Closing
 * the dialog leaves the job running.
 */
export function BulkActionDialog({
  action,
  filter,
  onClose,
}: {
  action: BulkActionName;
  filter: BulkFilter;
  onClose: () => void;
}) {
  const { api } = useSession();
  const [matched, setMatched] = useState<number | null>(null);
  const [reason, setReason] = useState('');
  const [step, setStep] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [job, setJob] = useState<BulkJob | null>(null);
  useEscape(onClose, busy);
  const filterKey = JSON.stringify(filter);

  useEffect(() => {
    let live = true;
    api
      // The filter by value: the list makes a new object at each render.
      .post<{ matched: number }>('/v1/bulk-actions', {
        action,
        filter: JSON.parse(filterKey) as BulkFilter,
        dryRun: true,
      })
      .then((dry) => live && setMatched(dry.matched))
      .catch((failure: unknown) => live && setError(describeFailure(failure)));
    return () => {
      live = false;
    };
  }, [api, action, filterKey]);

  const jobId = job?.id;
  const jobEnded = job ? ENDED.has(job.status) : false;
  useEffect(() => {
    if (!jobId || jobEnded) return;
    const timer = setInterval(() => {
      api
        .get<BulkJob>(`/v1/bulk-actions/${jobId}`)
        .then(setJob)
        .catch((failure: unknown) => setError(describeFailure(failure)));
    }, 1000);
    return () => clearInterval(timer);
  }, [api, jobId, jobEnded]);

  const trimmed = reason.trim();
  const stepOk = action !== 'resolve' || /^[a-z][a-z0-9]*(-[a-z0-9]+)*$/.test(step.trim());
  const submit = async (e: React.FormEvent) => {
    e.preventDefault();
    if (!trimmed || !stepOk || !matched) return;
    setBusy(true);
    setError(null);
    try {
      const started = await api.post<BulkJob>('/v1/bulk-actions', {
        action,
        ...(action === 'resolve' ? { step: step.trim() } : {}),
        filter,
        reason: trimmed,
      });
      setJob(started);
    } catch (failure) {
      setError(describeFailure(failure));
    } finally {
      setBusy(false);
    }
  };

  return (
    <div className="modal-backdrop">
      <form
        className="modal"
        role="dialog"
        aria-modal="true"
        aria-labelledby="bulk-title"
        data-testid="bulk-dialog"
        onSubmit={(e) => void submit(e)}
      >
        <h2 id="bulk-title">{VERB[action]} all matching sagas</h2>
        <p className="consequence" data-testid="bulk-count">
          {matched === null
            ? 'Counting the sagas this filter matches…'
            : `${matched} saga${matched === 1 ? '' : 's'} match this filter now. ${CONSEQUENCE[action]}`}
        </p>
        {job ? (
          <div data-testid="bulk-progress" data-status={job.status}>
            <p>
              <StatusBadge status={job.status} /> {job.processed} of {job.matched} processed: {job.done} done,{' '}
              {job.skipped} skipped, {job.failed} failed
            </p>
            <progress max={Math.max(job.matched, 1)} value={job.processed} />
            {job.errors.length > 0 && (
              <ul className="error-text">
                {job.errors.slice(0, 5).map((e) => (
                  <li key={e.sagaId}>
                    <span className="mono">{e.sagaId.slice(0, 8)}</span> {e.code}: {e.message}
                  </li>
                ))}
              </ul>
            )}
            {job.lastError && <p className="error-text">{job.lastError}</p>}
          </div>
        ) : (
          <>
            {action === 'resolve' && (
              <label>
                Step whose compensation is resolved in each saga
                <input name="step" value={step} onChange={(e) => setStep(e.target.value)} placeholder="charge-card" />
              </label>
            )}
            <label>
              Reason (required, audited with each saga)
              <textarea
                name="reason"
                value={reason}
                maxLength={500}
                rows={3}
                autoFocus
                onChange={(e) => setReason(e.target.value.replace(/[\r\n]+/g, ' '))}
                placeholder="e.g. the ledger is fixed, INC-88"
              />
            </label>
          </>
        )}
        {error && (
          <div className="banner error" role="alert">
            {error}
          </div>
        )}
        <div className="modal-buttons">
          <button type="button" onClick={onClose} disabled={busy}>
            {job ? 'Close' : 'Back'}
          </button>
          {!job && (
            <button
              type="submit"
              className={action === 'retry' ? 'primary' : 'danger'}
              disabled={busy || !trimmed || !stepOk || !matched}
            >
              {busy ? 'Working…' : `${VERB[action]} ${matched ?? '…'} saga${matched === 1 ? '' : 's'}`}
            </button>
          )}
        </div>
      </form>
    </div>
  );
}
