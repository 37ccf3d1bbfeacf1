import type { NestExpressApplication } from '@nestjs/platform-express';
import type { NextFunction, Request, Response } from 'express';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';

/** Where `npm run build` puts the dashboard: dist/dashboard, i.e. beside dist/apps when running compiled code. */
export function defaultDashboardDir(): string {
  const candidates = [
    resolve(__dirname, '../../../../dashboard'), // dist/apps/orchestrator/src/dashboard -> dist/dashboard
    resolve(__dirname, '../../../../dist/dashboard'), // apps/orchestrator/src/dashboard (ts-node, jest) -> dist/dashboard
  ];
  return candidates.find((dir) => existsSync(join(dir, 'index.html'))) ?? candidates[0];
}

const ASSET = /^\/assets\/[A-Za-z0-9._-]+$/;

/**
 * Serves the dashboard's static files at /dashboard: hashed files under /dashboard/assets/ are immutable (cached a
 * year), every other path is the single page (index.html, never cached, so a deploy shows at once) and the app
 * routes in the browser. The page needs no key (it holds no data); everything it shows comes from /v1 with one.
 * Nothing here can read outside `dir`: asset names are one path segment of safe characters.
 */
export function serveDashboard(app: NestExpressApplication, dir: string): void {
  const index = join(dir, 'index.html');
  app.use('/dashboard', (req: Request, res: Response, next: NextFunction) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') return next();
    if (req.path.startsWith('/assets/')) {
      if (!ASSET.test(req.path)) return notFound(res);
      res.setHeader('Cache-Control', 'public, max-age=31536000, immutable');
      res.sendFile(req.path.slice(1), { root: dir, dotfiles: 'deny' }, (error) => {
        if (error && !res.headersSent) notFound(res);
      });
      return;
    }
    if (!existsSync(index)) {
      res
        .status(404)
        .type('text/plain')
        .send(`The dashboard is not built (no ${index}): run npm run build, or set DASHBOARD_DIR.\n`);
      return;
    }
    res.setHeader('Cache-Control', 'no-cache');
    res.sendFile(index);
  });
}

function notFound(res: Response): void {
  res.status(404).json({ statusCode: 404, error: 'Not Found', message: 'no such file', code: 'NOT_FOUND' });
}
