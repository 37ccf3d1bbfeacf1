import { useEffect, useState } from 'react';
import { describeFailure } from '../api';

export interface ActionSpec {
  /** Button and title, e.g. "Cancel saga". */
  title: string;
  /** What will happen, in plain words, shown before the operator confirms. */
  consequence: string;
  confirmLabel: string;
  danger?: boolean;
  /**
   * Also ask for a JSON value (a skipped step's output): parsed before `run`, which gets it. `initial` pre-fills it
   * (a skeleton of the step's output schema).
   */
  json?: { label: string; placeholder: string; initial?: string };
  run: (reason: string, json?: unknown) => Promise<unknown>;
}

/** Asks for a reason (audited), says what will happen, and only then acts. */
export function ActionDialog({ spec, onClose, onDone }: { spec: ActionSpec; onClose: () => void; onDone: () => void }) {
  const [reason, setReason] = useState('');
  const [jsonText, setJsonText] = useState(spec.json?.initial ?? '');
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
    let value: unknown;
    if (spec.json) {
      try {
        value = JSON.parse(jsonText);
      } catch {
        setError(`${spec.json.label}: not valid JSON (write null for none).`);
        return;
      }
    }
    setBusy(true);
    setError(null);
    try {
      await (spec.json ? spec.run(trimmed, value) : spec.run(trimmed));
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
        {spec.json && (
          <label>
            {spec.json.label}
            <textarea
              name="json"
              className="json"
              value={jsonText}
              rows={spec.json.initial ? Math.min(12, spec.json.initial.split('\n').length + 1) : 4}
              spellCheck={false}
              onChange={(e) => setJsonText(e.target.value)}
              placeholder={spec.json.placeholder}
            />
          </label>
        )}
        {error && (
          <div className="banner error" role="alert">
            {error}
          </div>
        )}
        <div className="modal-buttons">
          <button type="button" onClick={onClose} disabled={busy}>
            Back
          </button>
          <button
            type="submit"
            className={spec.danger ? 'danger' : 'primary'}
            disabled={busy || !trimmed || (spec.json !== undefined && !jsonText.trim())}
          >
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
