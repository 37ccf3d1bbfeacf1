import type { INestApplication } from '@nestjs/common';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import type { NextFunction, Request, Response } from 'express';
import type { Server } from 'node:http';
import { RESOLVED_OPTIONS } from '../module/tokens';
import type { ResolvedSagaOptions } from '../module/options';
import { SagaModule } from '../module/saga.module';
import { ApiExceptionFilter } from './http/api-exception.filter';
import { Authenticator, requireKeyMiddleware } from './http/auth';
import { answerClientError } from './http/request-limits';

export interface SagaAppSetup {
  /** How long a request may take to arrive in full (headers and body); slower clients get a 408. @defaultValue 30000 */
  requestTimeoutMs?: number;
  /** Origins allowed to call the API from a browser (no wildcard). Unset: no cross-origin access. */
  corsOrigins?: readonly string[];
  /** Serve the OpenAPI UI at `<api path>/docs` and the document at `<api path>/docs-json` (with a key). @defaultValue true */
  docs?: boolean;
  /**
   * Express's `trust proxy`: which proxies in front of the app may name the client's address (X-Forwarded-For).
   * The limit of wrong keys counts per client address; behind a proxy without this, every client is the proxy.
   * A number of hops (`1`), or addresses and subnets (`loopback`, `10.0.0.0/8`). Unset: the app's own setting.
   */
  trustProxy?: number | string;
}

/**
 * What an app that runs the engine's API on its own HTTP server may add, app-wide (the engine's routes carry their
 * own limits, key check and error shape without it): request deadlines against slow clients, JSON answers to
 * requests Node refuses before routing, the API's error shape for unknown routes, CORS, the OpenAPI document of the
 * engine's routes, and graceful shutdown on SIGTERM. The engine's own server (`apps/orchestrator`) calls it; your
 * app may, or may pick what it wants of it.
 */
export function setupSagaApp(app: INestApplication, setup: SagaAppSetup = {}): void {
  const express = app as NestExpressApplication;
  express.disable('x-powered-by');
  if (setup.trustProxy !== undefined) express.set('trust proxy', setup.trustProxy);
  const origins = setup.corsOrigins ?? [];
  if (origins.length > 0) {
    app.enableCors({
      origin: [...origins],
      methods: ['GET', 'POST'],
      allowedHeaders: ['Authorization', 'Content-Type', 'Idempotency-Key'],
      credentials: false,
      maxAge: 600,
    });
  }
  const server = app.getHttpServer() as Server;
  const requestTimeoutMs = setup.requestTimeoutMs ?? 30_000;
  server.requestTimeout = requestTimeoutMs;
  server.headersTimeout = Math.min(requestTimeoutMs, 60_000);
  server.on('clientError', answerClientError);
  app.useGlobalFilters(new ApiExceptionFilter());
  app.enableShutdownHooks();
  if (setup.docs === false) return;
  const options = app.get<ResolvedSagaOptions>(RESOLVED_OPTIONS, { strict: false });
  const base = options.api.path;
  // /docs, /docs/* (the UI's files; swagger-ui-init.js embeds the whole document), /docs-json, /docs-yaml: in any
  // case, with any number of slashes, percent-encoded or not, since routing and static files are lenient.
  const needKey = requireKeyMiddleware(app.get(Authenticator, { strict: false }));
  const docsPath = new RegExp(`^${base.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}/docs(?:[/-]|$)`, 'i');
  express.use((req: Request, res: Response, next: NextFunction) =>
    docsPath.test(normalizedPath(req.path)) ? needKey(req, res, next) : next(),
  );
  const document = SwaggerModule.createDocument(
    app,
    new DocumentBuilder()
      .setTitle('Saga engine')
      .setDescription(
        'Start and watch sagas, act on them as an operator. `Authorization: Bearer <key>` with an API key, or ' +
          '`Authorization: Bearer <token>` with an OIDC access token when single sign-on is configured.',
      )
      .setVersion('1')
      .addBearerAuth({ type: 'http', scheme: 'bearer', description: 'An API key (SAGA_API_KEYS)' }, 'bearer')
      .addBearerAuth(
        {
          type: 'http',
          scheme: 'bearer',
          bearerFormat: 'JWT',
          description:
            'An OIDC/JWT access token of the configured issuer (SAGA_OIDC_ISSUER), for the configured audience, ' +
            'its role in the role claim (SAGA_OIDC_ROLE_CLAIM)',
        },
        'oidc',
      )
      .addSecurityRequirements('bearer')
      .addSecurityRequirements('oidc')
      .build(),
    { include: [SagaModule] },
  );
  SwaggerModule.setup(`${base.replace(/^\//, '')}${base ? '/' : ''}docs`, app, document, {
    jsonDocumentUrl: `${base.replace(/^\//, '')}${base ? '/' : ''}docs-json`,
  });
}

/**
 * A path as lenient routing may read it: percent-decoded (twice, for `%252F`), backslashes as slashes, runs of
 * slashes as one, `.` segments dropped. Only for deciding that a path needs a key: over-matching costs nothing.
 */
export function normalizedPath(path: string): string {
  let decoded = path;
  for (let i = 0; i < 2; i++) {
    try {
      decoded = decodeURIComponent(decoded);
    } catch {
      break;
    }
  }
  return decoded
    .replace(/\\/g, '/')
    .replace(/\/\.(?=\/|$)/g, '')
    .replace(/\/{2,}/g, '/');
}
