import { useEffect, useState } from 'react';

/**
 * A small router over the History API: the app has a handful of screens; a library would be more code than this.
 * BASE is where the app is served: `/dashboard`, or under the path the engine's API is mounted on
 * (`/sagas/dashboard`), read from the address the page was loaded from.
 */
export const BASE = /^(.*?\/dashboard)(?=\/|$)/.exec(window.location.pathname)?.[1] ?? '/dashboard';
/** Where the engine's API is: the path before `/dashboard` (empty at the root). */
export const API_ROOT = BASE.slice(0, -'/dashboard'.length);

export type Route =
  | { name: 'overview' }
  | { name: 'list'; query: URLSearchParams }
  | { name: 'saga'; id: string }
  | { name: 'types'; type: string | null }
  | { name: 'schedules'; id: string | null };

export function parseRoute(pathname: string, search: string): Route {
  const path = pathname.startsWith(BASE) ? pathname.slice(BASE.length) : pathname;
  const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
  if (parts[0] === 'sagas' && parts[1]) return { name: 'saga', id: parts[1] };
  if (parts[0] === 'sagas') return { name: 'list', query: new URLSearchParams(search) };
  if (parts[0] === 'types') return { name: 'types', type: parts[1] ?? null };
  if (parts[0] === 'schedules') return { name: 'schedules', id: parts[1] ?? null };
  return { name: 'overview' };
}

const listeners = new Set<() => void>();
window.addEventListener('popstate', () => listeners.forEach((l) => l()));

export function navigate(to: string, replace = false): void {
  const url = to.startsWith(BASE) ? to : `${BASE}${to}`;
  if (replace) window.history.replaceState(null, '', url);
  else window.history.pushState(null, '', url);
  listeners.forEach((l) => l());
}

export function useRoute(): Route {
  const [location, setLocation] = useState(() => [window.location.pathname, window.location.search]);
  useEffect(() => {
    const update = () => setLocation([window.location.pathname, window.location.search]);
    listeners.add(update);
    return () => {
      listeners.delete(update);
    };
  }, []);
  return parseRoute(location[0], location[1]);
}

/** An <a> that navigates in the app (and still opens in a new tab with a modifier key). */
export function linkProps(to: string): { href: string; onClick: (e: React.MouseEvent) => void } {
  const href = `${BASE}${to}`;
  return {
    href,
    onClick: (e) => {
      if (e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
      e.preventDefault();
      navigate(to);
    },
  };
}
