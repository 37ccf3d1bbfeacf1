import type { NextFunction, Request, Response } from 'express';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { BearerTokens, OidcPublicConfig } from '../http/oidc';
import { securityHeaders } from '../http/request-limits';

/**
 * Where this package's build puts the dashboard (`dist/dashboard`, beside the compiled code; `npm run build`
 * makes it in this repository): from `dist/api/dashboard` or, in tests, `src/api/dashboard`.
 */
export function defaultDashboardDir(): string {
  const candidates = [resolve(__dirname, '../../dashboard'), resolve(__dirname, '../../../dist/dashboard')];
  return candidates.find((dir) => existsSync(join(dir, 'index.html'))) ?? candidates[0];
}

const ASSET = /^\/assets\/[A-Za-z0-9._-]+$/;
/** The built page refers to its files under the path it was built for. */
const BUILT_BASE = '/dashboard/';

/**
 * Serves the dashboard's static files at `<api path>/dashboard`: hashed files under `assets/` are immutable
 * (cached a year), every other path is the single page (index.html, never cached, so a deploy shows at once) and
 * the app routes in the browser. Under an API path other than the root, the page's references to its files are
 * rewritten to that path once. The page needs no key (it holds no data); everything it shows comes from the API
 * with one. Nothing here can read outside `dir`: asset names are one path segment of safe characters.
 */
export function dashboardMiddleware(dir: string, apiPath: string, oidc: OidcPublicConfig | null = null) {
  const base = `${apiPath}/dashboard`;
  const index = join(dir, 'index.html');
  let page: string | null = null;
  return (req: Request, res: Response, next: NextFunction): void => {
    if (req.method !== 'GET' && req.method !== 'HEAD') return next();
    // The full path, whatever the mount point made of req.path.
    const full = req.originalUrl.split('?')[0];
    const rest = full.toLowerCase().startsWith(base.toLowerCase()) ? full.slice(base.length) : full;
    if (rest.startsWith('/assets/')) {
      // Source maps would hand out the sources: never served, even when a build left some beside the files.
      if (!ASSET.test(rest) || rest.toLowerCase().endsWith('.map')) return notFound(res);
      res.setHeader('Cache-Control', 'public, max-age=31536000, immutable');
      res.sendFile(rest.slice(1), { root: dir, dotfiles: 'deny' }, (error) => {
        if (error && !res.headersSent) notFound(res);
      });
      return;
    }
    if (!existsSync(index)) {
      res
        .status(404)
        .type('text/plain')
        .send(`The dashboard is not built (no ${index}): run npm run build, or set api.dashboardDir.\n`);
      return;
    }
    page ??= withOidc(readFileSync(index, 'utf8').replaceAll(`"${BUILT_BASE}`, `"${base}/`), oidc);
    res.setHeader('Cache-Control', 'no-cache');
    res.type('html').send(page);
  };
}

/**
 * The dashboard's public SSO settings, as a meta tag of its page (no inline script: the CSP allows none), read by
 * its login screen: the issuer, the client id, the scopes. Nothing secret: a public client with PKCE has no secret.
 */
function withOidc(page: string, oidc: OidcPublicConfig | null): string {
  if (!oidc) return page;
  const content = JSON.stringify(oidc).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
  return page.replace('</head>', `  <meta name="saga-oidc" content="${content}" />\n  </head>`);
}

/**
 * The dashboard's security headers: the API's, and with SSO a CSP that lets the page fetch from the identity
 * provider too (its discovery document and token endpoint: the authorization-code flow runs in the browser).
 */
export function dashboardHeaders(tokens: BearerTokens | null) {
  if (!tokens || !tokens.publicConfig()) return [securityHeaders];
  return [
    securityHeaders,
    (_req: Request, res: Response, next: NextFunction) => {
      const csp = res.getHeader('Content-Security-Policy');
      if (typeof csp === 'string') {
        res.setHeader('Content-Security-Policy', `${csp};connect-src 'self' ${tokens.connectOrigins().join(' ')}`);
      }
      next();
    },
  ];
}

function notFound(res: Response): void {
  res.status(404).json({ statusCode: 404, error: 'Not Found', message: 'no such file', code: 'NOT_FOUND' });
}
