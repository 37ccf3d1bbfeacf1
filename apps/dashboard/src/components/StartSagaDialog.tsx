import { useState } from 'react';
import { ApiFailure, type JsonSchema, type SagaDefinitionView, type SagaInstance, describeFailure } from '../api';
import { useSession } from '../hooks';
import { navigate } from '../router';
import { useEscape } from './ActionDialog';

/** How a schema property is edited: a plain control for scalars, JSON text for anything nested. */
type FieldKind = 'text' | 'number' | 'integer' | 'boolean' | 'enum' | 'json';

interface Field {
  name: string;
  kind: FieldKind;
  required: boolean;
  schema: JsonSchema;
}

function typeOf(schema: JsonSchema): string | undefined {
  const t = schema.type;
  if (Array.isArray(t)) return t.find((x) => x !== 'null');
  return t;
}

/** The form's fields, from the input class's JSON Schema; null when it has no properties to build fields from. */
export function formFields(schema: JsonSchema | null | undefined): Field[] | null {
  if (!schema?.properties || Object.keys(schema.properties).length === 0) return null;
  const required = new Set(schema.required ?? []);
  return Object.entries(schema.properties).map(([name, prop]) => {
    const t = typeOf(prop);
    const kind: FieldKind = Array.isArray(prop.enum)
      ? 'enum'
      : t === 'string'
        ? 'text'
        : t === 'number'
          ? 'number'
          : t === 'integer'
            ? 'integer'
            : t === 'boolean'
              ? 'boolean'
              : 'json';
    return { name, kind, required: required.has(name), schema: prop };
  });
}

/**
 * The input the form holds, or the field it cannot read. Empty optional fields are left out; the API validates the
 * rest against the type's schema and names any field it refuses.
 */
export function readForm(fields: Field[], values: Record<string, string | boolean>): Record<string, unknown> | string {
  const input: Record<string, unknown> = {};
  for (const f of fields) {
    const raw = values[f.name];
    if (f.kind === 'boolean') {
      input[f.name] = raw === true;
      continue;
    }
    const text = typeof raw === 'string' ? raw.trim() : '';
    if (text === '') {
      if (f.required) return `${f.name} is required`;
      continue;
    }
    if (f.kind === 'number' || f.kind === 'integer') {
      const n = Number(text);
      if (!Number.isFinite(n) || (f.kind === 'integer' && !Number.isInteger(n))) {
        return `${f.name} must be ${f.kind === 'integer' ? 'an integer' : 'a number'}`;
      }
      input[f.name] = n;
    } else if (f.kind === 'json') {
      try {
        input[f.name] = JSON.parse(text);
      } catch {
        return `${f.name} must be JSON (an object, a list, a number, "text" in quotes...)`;
      }
    } else if (f.kind === 'enum') {
      // Enum values may be numbers: send the value the schema lists, not its text.
      input[f.name] = (f.schema.enum ?? []).find((v) => String(v) === text) ?? text;
    } else {
      input[f.name] = text;
    }
  }
  return input;
}

/**
 * Starts a saga of one type from a form built from its input schema (one control per field; JSON for nested
 * values, or for the whole input when the type has no schema). Optional idempotency key and delayed start.
 */
export function StartSagaDialog({ type, onClose }: { type: SagaDefinitionView; onClose: () => void }) {
  const { api } = useSession();
  const fields = formFields(type.inputSchema);
  const [values, setValues] = useState<Record<string, string | boolean>>({});
  const [rawInput, setRawInput] = useState('{}');
  const [key, setKey] = useState('');
  const [startIn, setStartIn] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  useEscape(onClose, busy);

  const submit = async (e: React.FormEvent) => {
    e.preventDefault();
    let input: unknown;
    if (fields) {
      const read = readForm(fields, values);
      if (typeof read === 'string') return setError(read);
      input = read;
    } else {
      try {
        input = JSON.parse(rawInput);
      } catch {
        return setError('input must be a JSON object');
      }
    }
    setBusy(true);
    setError(null);
    try {
      const saga = await api.post<SagaInstance>('/v1/sagas', {
        type: type.name,
        input,
        ...(key.trim() ? { idempotencyKey: key.trim() } : {}),
        ...(startIn.trim() ? { startIn: startIn.trim() } : {}),
      });
      onClose();
      navigate(`/sagas/${saga.id}`);
    } catch (failure) {
      setError(failure instanceof ApiFailure && failure.status === 400 ? failure.message : describeFailure(failure));
      setBusy(false);
    }
  };

  const set = (name: string, value: string | boolean) => setValues((v) => ({ ...v, [name]: value }));
  return (
    <div className="modal-backdrop">
      <form
        className="modal"
        role="dialog"
        aria-modal="true"
        aria-labelledby="start-title"
        data-testid="start-saga"
        onSubmit={(e) => void submit(e)}
      >
        <h2 id="start-title">Start {type.name}</h2>
        <p className="consequence">
          Starts a new saga of {type.name} v{type.version} with this input. Its steps run at once (or after the delay),
          on the agents that run this type.
        </p>
        {fields ? (
          fields.map((f) => (
            <label key={f.name} className={f.kind === 'boolean' ? 'check' : undefined}>
              {f.kind === 'boolean' ? (
                <input
                  type="checkbox"
                  name={f.name}
                  checked={values[f.name] === true}
                  onChange={(e) => set(f.name, e.target.checked)}
                />
              ) : null}
              {f.name}
              {f.required ? ' *' : ''}
              {f.schema.description ? <span className="muted-text"> ({f.schema.description})</span> : null}
              {f.kind === 'enum' ? (
                <select
                  name={f.name}
                  value={String(values[f.name] ?? '')}
                  onChange={(e) => set(f.name, e.target.value)}
                >
                  <option value="">—</option>
                  {(f.schema.enum ?? []).map((v) => (
                    <option key={String(v)} value={String(v)}>
                      {String(v)}
                    </option>
                  ))}
                </select>
              ) : f.kind === 'json' ? (
                <textarea
                  name={f.name}
                  rows={3}
                  placeholder="JSON"
                  value={String(values[f.name] ?? '')}
                  onChange={(e) => set(f.name, e.target.value)}
                />
              ) : f.kind !== 'boolean' ? (
                <input
                  name={f.name}
                  type={f.kind === 'text' ? 'text' : 'number'}
                  step={f.kind === 'integer' ? 1 : 'any'}
                  value={String(values[f.name] ?? '')}
                  onChange={(e) => set(f.name, e.target.value)}
                />
              ) : null}
            </label>
          ))
        ) : (
          <label>
            Input (JSON object)
            <textarea name="input" rows={6} value={rawInput} onChange={(e) => setRawInput(e.target.value)} />
          </label>
        )}
        <label>
          Idempotency key (optional: the same key starts one saga only)
          <input name="idempotencyKey" value={key} onChange={(e) => setKey(e.target.value)} />
        </label>
        <label>
          Start in (optional, e.g. 10m, 2h)
          <input name="startIn" value={startIn} onChange={(e) => setStartIn(e.target.value)} />
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
          <button type="submit" className="primary" disabled={busy}>
            {busy ? 'Starting…' : 'Start saga'}
          </button>
        </div>
      </form>
    </div>
  );
}
