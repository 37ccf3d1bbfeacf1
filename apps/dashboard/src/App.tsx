import { useCallback, useEffect, useMemo, useState } from 'react';
import { Api, ApiFailure, type Role, describeFailure } from './api';
import { SessionContext } from './hooks';
import { Login } from './pages/Login';
import { Overview } from './pages/Overview';
import { SagaList } from './pages/SagaList';
import { SagaPage } from './pages/SagaPage';
import { SagaTypes } from './pages/SagaTypes';
import { Schedules } from './pages/Schedules';
import { linkProps, useRoute } from './router';

const STORAGE_KEY = 'saga-dashboard-key';
const ROLE_KEY = 'saga-dashboard-role';

function storedRole(value: string | null): Role | null {
  return value === 'viewer' || value === 'operator' || value === 'admin' ? value : null;
}

/** The key lives in sessionStorage: gone when the tab closes, never in a cookie, never sent but as a bearer token. */
export function App() {
  const [key, setKey] = useState<string | null>(() => sessionStorage.getItem(STORAGE_KEY));
  // The role is remembered beside the key so that a reload renders at once; /v1/me checks it again meanwhile.
  const [role, setRole] = useState<Role | null>(() => storedRole(sessionStorage.getItem(ROLE_KEY)));
  const [notice, setNotice] = useState<string | null>(null);
  const route = useRoute();

  const logout = useCallback((message: string | null = null) => {
    sessionStorage.removeItem(STORAGE_KEY);
    sessionStorage.removeItem(ROLE_KEY);
    setKey(null);
    setRole(null);
    setNotice(message);
  }, []);
  const api = useMemo(
    () => (key ? new Api(key, (message) => logout(`Your key was refused (401: ${message}). Log in again.`)) : null),
    [key, logout],
  );

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

  if (!api || !role) {
    if (api && !notice) return <p className="muted-text page">Checking your key…</p>;
    return (
      <Login
        notice={notice}
        onLogin={(k, r) => {
          sessionStorage.setItem(STORAGE_KEY, k);
          sessionStorage.setItem(ROLE_KEY, r);
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
