import { useState } from 'react';
import { Api, ApiFailure, type Role, describeFailure } from '../api';
import { type OidcConfig, beginLogin } from '../oidc';

export function Login({
  onLogin,
  notice,
  oidc,
}: {
  onLogin: (key: string, role: Role) => void;
  notice: string | null;
  oidc: OidcConfig | null;
}) {
  const [key, setKey] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const sso = async () => {
    setBusy(true);
    setError(null);
    try {
      await beginLogin(oidc!); // navigates away
    } catch (failure) {
      setError(
        `Could not reach the identity provider: ${failure instanceof Error ? failure.message : String(failure)}`,
      );
      setBusy(false);
    }
  };
  const submit = async (e: React.FormEvent) => {
    e.preventDefault();
    const trimmed = key.trim();
    if (!trimmed) return;
    setBusy(true);
    setError(null);
    try {
      const { role } = await new Api(trimmed).me();
      onLogin(trimmed, role);
    } catch (failure) {
      setError(
        failure instanceof ApiFailure && failure.status === 401
          ? `This API key was refused (401 ${failure.message}). Check the key: it is one of SAGA_API_KEYS.`
          : describeFailure(failure),
      );
      setBusy(false);
    }
  };
  return (
    <main className="login">
      <form className="card" onSubmit={(e) => void submit(e)}>
        <h1>Saga engine</h1>
        {notice && (
          <div className="banner warn" role="status">
            {notice}
          </div>
        )}
        {oidc && (
          <>
            <button
              type="button"
              className="primary"
              data-testid="sso-login"
              disabled={busy}
              onClick={() => void sso()}
            >
              Log in with single sign-on
            </button>
            <p className="muted-text">Or with an API key:</p>
          </>
        )}
        <p className="muted-text">
          Paste an API key. It is kept in this tab only (session storage) and sent as a bearer token to the REST API.
        </p>
        <label>
          API key
          <input
            type="password"
            name="apiKey"
            autoComplete="off"
            value={key}
            onChange={(e) => setKey(e.target.value)}
            autoFocus
          />
        </label>
        {error && (
          <div className="banner error" role="alert" data-testid="login-error">
            {error}
          </div>
        )}
        <button type="submit" className="primary" disabled={busy || !key.trim()}>
          {busy ? 'Checking…' : 'Log in'}
        </button>
        <details className="key-help" data-testid="key-help">
          <summary>Where is my key?</summary>
          <ul>
            <li>
              Started with <code>npm start</code>: an admin key was made once, in <code>.saga-data/admin.key</code> of
              the engine&apos;s directory (<code>cat .saga-data/admin.key</code>). It stays the same until you delete
              the file.
            </li>
            <li>
              With Docker Compose: <code>docker compose exec orchestrator cat .saga-data/admin.key</code>.
            </li>
            <li>
              Otherwise: ask whoever configured the engine&apos;s keys (<code>SAGA_API_KEYS</code>, or{' '}
              <code>api.keys</code> of <code>SagaModule</code>).
            </li>
          </ul>
        </details>
      </form>
    </main>
  );
}
