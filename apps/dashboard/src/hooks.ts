import { createContext, useContext, useEffect, useRef, useState } from 'react';
import type { Api, Role } from './api';
import { describeFailure } from './api';

export interface Session {
  api: Api;
  role: Role;
  logout: () => void;
}

export const SessionContext = createContext<Session | null>(null);

export function useSession(): Session {
  const session = useContext(SessionContext);
  if (!session) throw new Error('useSession outside a session');
  return session;
}

export const canOperate = (role: Role) => role === 'operator' || role === 'admin';

export interface Loaded<T> {
  data: T | null;
  error: string | null;
  loading: boolean;
  reload: () => void;
}

/**
 * Loads once and then every `intervalMs` (0: once) while the tab is visible; keeps the last good data when a poll
 * fails, showing the error beside it. Polling, not SSE: the API is plain REST behind a bearer key (EventSource
 * cannot send an Authorization header), and a few-second poll of an indexed page is cheap.
 */
export function usePolling<T>(load: (signal: AbortSignal) => Promise<T>, deps: unknown[], intervalMs = 0): Loaded<T> {
  const [data, setData] = useState<T | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [loading, setLoading] = useState(true);
  const [tick, setTick] = useState(0);
  const loadRef = useRef(load);
  loadRef.current = load;
  // Read when the next poll is due, so that a change of interval (a saga that ended) does not reload at once.
  const intervalRef = useRef(intervalMs);
  intervalRef.current = intervalMs;

  useEffect(() => {
    setData(null);
    setLoading(true);
  }, deps);

  useEffect(() => {
    let stopped = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let controller: AbortController | null = null;
    const run = async () => {
      controller = new AbortController();
      try {
        const value = await loadRef.current(controller.signal);
        if (stopped) return;
        setData(value);
        setError(null);
      } catch (e) {
        if (stopped || (e instanceof DOMException && e.name === 'AbortError')) return;
        setError(describeFailure(e));
      } finally {
        if (!stopped) {
          setLoading(false);
          if (intervalRef.current > 0) timer = setTimeout(() => void tickIfVisible(), intervalRef.current);
        }
      }
    };
    const tickIfVisible = async () => {
      if (intervalRef.current <= 0) return;
      if (document.visibilityState === 'hidden') {
        timer = setTimeout(() => void tickIfVisible(), intervalRef.current);
        return;
      }
      await run();
    };
    void run();
    return () => {
      stopped = true;
      controller?.abort();
      if (timer) clearTimeout(timer);
    };
  }, [...deps, tick, intervalMs > 0]);

  return { data, error, loading, reload: () => setTick((t) => t + 1) };
}
