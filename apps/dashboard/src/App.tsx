import { useCallback, useEffect, useMemo, useState } from 'react';
import { Api, ApiFailure, type Role, describeFailure } from './api';
import { SessionContext } from './hooks';
import { completeLogin, isLoginCallback, readOidcConfig } from './oidc';
import { Login } from './pages/Login';
import { Overview } from './pages/Overview';
import { SagaList } from './pages/SagaList';
import { SagaPage } from './pages/SagaPage';
import { SagaTypes } from './pages/SagaTypes';
import { Schedules } from './pages/Schedules';
import { linkProps, useRoute } from './router';

const STORAGE_KEY = 'saga-dashboard-key';
const ROLE_KEY = 'saga-dashboard-role';
/** Set when the bearer token came from single sign-on: a 401 then means the session ended, not a bad key. */
const SSO_KEY = 'saga-dashboard-sso';
const OIDC = readOidcConfig();

function storedRole(value: string | null): Role | null {
  return value === 'viewer' || value === 'operator' || value === 'admin' ? value : null;
}

/** The key lives in sessionStorage: gone when the tab closes, never in a cookie, never sent but as a bearer token. */
export function App() {
  const [key, setKey] = useState<string | null>(() => sessionStorage.getItem(STORAGE_KEY));
  // The role is remembered beside the key so that a reload renders at once; /v1/me checks it again meanwhile.
  const [role, setRole] = useState<Role | null>(() => storedRole(sessionStorage.getItem(ROLE_KEY)));
  const [notice, setNotice] = useState<string | null>(null);
  const [signingIn, setSigningIn] = useState(() => OIDC !== null && isLoginCallback());
  const route = useRoute();

  const logout = useCallback((message: string | null = null) => {
    sessionStorage.removeItem(STORAGE_KEY);
    sessionStorage.removeItem(ROLE_KEY);
    sessionStorage.removeItem(SSO_KEY);
    setKey(null);
    setRole(null);
    setNotice(message);
  }, []);
  const api = useMemo(
    () =>
      key
        ? new Api(key, (message) =>
            logout(
              sessionStorage.getItem(SSO_KEY)
                ? `Your single sign-on session was refused (401: ${message}). Log in again.`
                : `Your key was refused (401: ${message}). Log in again.`,
            ),
          )
        : null,
    [key, logout],
  );

  // Back from the identity provider: redeem the code (PKCE), then the token is used like a key.
  useEffect(() => {
    if (!signingIn || !OIDC) return;
    completeLogin(OIDC)
      .then((session) => {
        sessionStorage.setItem(STORAGE_KEY, session.token);
        sessionStorage.setItem(SSO_KEY, '1');
        sessionStorage.removeItem(ROLE_KEY);
        setNotice(null);
        setRole(null);
        setKey(session.token);
      })
      .catch((e: unknown) => setNotice(`Single sign-on failed: ${e instanceof Error ? e.message : String(e)}`))
      .finally(() => setSigningIn(false));
  }, [signingIn]);

  useEffect(() => {
    if (!api) return;
    api
      .me()
      .then((me) => {
        sessionStorage.setItem(ROLE_KEY, me.role);
        setRole(me.role);
      })
      .catch((e: unknown) => {
        if (!(e instanceof ApiFailure && e.status === 401)) setNotice(describeFailure(e));
      });
  }, [api]);

  if (signingIn) return <p className="muted-text page">Completing single sign-on…</p>;
  if (!api || !role) {
    if (api && !notice) return <p className="muted-text page">Checking your key…</p>;
    return (
      <Login
        oidc={OIDC}
        notice={notice}
        onLogin={(k, r) => {
          sessionStorage.setItem(STORAGE_KEY, k);
          sessionStorage.setItem(ROLE_KEY, r);
          sessionStorage.removeItem(SSO_KEY);
          setNotice(null);
          setKey(k);
          setRole(r);
        }}
      />
    );
  }

  return (
    <SessionContext.Provider value={{ api, role, logout: () => logout(null) }}>
      <header className="topbar">
        <a className="brand" {...linkProps('/')}>
          Saga engine
        </a>
        <nav>
          <a className={route.name === 'overview' ? 'on' : ''} {...linkProps('/')}>
            Overview
          </a>
          <a className={route.name === 'list' || route.name === 'saga' ? 'on' : ''} {...linkProps('/sagas')}>
            Sagas
          </a>
          <a className={route.name === 'types' ? 'on' : ''} {...linkProps('/types')}>
            Saga types
          </a>
          <a className={route.name === 'schedules' ? 'on' : ''} {...linkProps('/schedules')}>
            Schedules
          </a>
        </nav>
        <span className="role" data-testid="role">
          {role}
        </span>
        <button type="button" onClick={() => logout(null)}>
          Log out
        </button>
      </header>
      <main>
        {route.name === 'overview' && <Overview />}
        {route.name === 'list' && <SagaList query={route.query} />}
        {route.name === 'saga' && <SagaPage key={route.id} id={route.id} />}
        {route.name === 'types' && <SagaTypes type={route.type} />}
        {route.name === 'schedules' && <Schedules key={route.id ?? 'list'} id={route.id} />}
      </main>
    </SessionContext.Provider>
  );
}
