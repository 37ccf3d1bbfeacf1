import { useEffect, useState } from 'react';
import { describeFailure } from '../api';

export interface ActionSpec {
  /** Button and title, e.g. "Cancel saga". */
  title: string;
  /** What will happen, in plain words, shown before the operator confirms. */
  consequence: string;
  confirmLabel: string;
  danger?: boolean;
  run: (reason: string) => Promise<unknown>;
}

/** Asks for a reason (audited), says what will happen, and only then acts. */
export function ActionDialog({ spec, onClose, onDone }: { spec: ActionSpec; onClose: () => void; onDone: () => void }) {
  const [reason, setReason] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const trimmed = reason.trim();
  useEscape(onClose, busy);
  const submit = async (e: React.FormEvent) => {
    e.preventDefault();
    if (!trimmed) {
      setError('A reason is required: it is written to the audit log and the saga history.');
      return;
    }
    setBusy(true);
    setError(null);
    try {
      await spec.run(trimmed);
      onDone();
    } catch (failure) {
      setError(describeFailure(failure));
      setBusy(false);
    }
  };
  return (
    <div className="modal-backdrop">
      <form
        className="modal"
        role="dialog"
        aria-modal="true"
        aria-labelledby="action-title"
        onSubmit={(e) => void submit(e)}
      >
        <h2 id="action-title">{spec.title}</h2>
        <p className="consequence">{spec.consequence}</p>
        <label>
          Reason (required, audited)
          <textarea
            name="reason"
            value={reason}
            maxLength={500}
            rows={3}
            autoFocus
            onChange={(e) => setReason(e.target.value.replace(/[\r\n]+/g, ' '))}
            placeholder="e.g. customer asked to cancel, ticket 4711"
          />
        </label>
        {error && (
          <div className="banner error" role="alert">
            {error}
          </div>
        )}
        <div className="modal-buttons">
          <button type="button" onClick={onClose} disabled={busy}>
            Back
          </button>
          <button type="submit" className={spec.danger ? 'danger' : 'primary'} disabled={busy || !trimmed}>
            {busy ? 'Working…' : spec.confirmLabel}
          </button>
        </div>
      </form>
    </div>
  );
}

/** Escape closes a dialog, as it does everywhere else (not while its action is in flight). */
export function useEscape(onClose: () => void, busy = false): void {
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if (e.key === 'Escape' && !busy) onClose();
    };
    document.addEventListener('keydown', onKey);
    return () => document.removeEventListener('keydown', onKey);
  }, [onClose, busy]);
}
