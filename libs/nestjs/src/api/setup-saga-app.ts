import type { INestApplication } from '@nestjs/common';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import type { NextFunction, Request, Response } from 'express';
import type { Server } from 'node:http';
import { RESOLVED_OPTIONS } from '../module/tokens';
import type { ResolvedSagaOptions } from '../module/options';
import { SagaModule } from '../module/saga.module';
import { ApiExceptionFilter } from './http/api-exception.filter';
import { API_KEYS, type ApiKeys, requireKeyMiddleware } from './http/auth';
import { BEARER_TOKENS, type BearerTokens } from './http/oidc';
import { answerClientError } from './http/request-limits';

export interface SagaAppSetup {
  /** How long a request may take to arrive in full (headers and body); slower clients get a 408. @defaultValue 30000 */
  requestTimeoutMs?: number;
  /** Origins allowed to call the API from a browser (no wildcard). Unset: no cross-origin access. */
  corsOrigins?: readonly string[];
  /** Serve the OpenAPI UI at `<api path>/docs` and the document at `<api path>/docs-json` (with a key). @defaultValue true */
  docs?: boolean;
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
  // /docs, /docs/* (the UI's files; swagger-ui-init.js embeds the whole document), /docs-json, /docs-yaml.
  const tokens = app.get<BearerTokens | null>(BEARER_TOKENS, { strict: false });
  const needKey = requireKeyMiddleware(app.get<ApiKeys>(API_KEYS, { strict: false }), tokens);
  const docsPath = new RegExp(`^${base.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}/docs(?:[/-]|$)`, 'i');
  express.use((req: Request, res: Response, next: NextFunction) =>
    docsPath.test(req.path) ? needKey(req, res, next) : next(),
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
