import { type INestApplication, ValidationPipe } from '@nestjs/common';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import type { NextFunction, Request, Response } from 'express';
import helmet from 'helmet';
import { STATUS_CODES, type Server } from 'node:http';
import type { Duplex } from 'node:stream';
import type { EngineConfig } from '../config/engine-config';
import { ApiError } from './http/api-error';
import { defaultDashboardDir, serveDashboard } from './dashboard/serve-dashboard';
import { API_KEYS, type ApiKeys, requireKeyMiddleware } from './http/auth';

/**
 * HTTP settings shared by the real bootstrap and the end-to-end tests, so tests exercise what ships:
 * JSON only, a body limit, limits on nesting and string length, strict validation (unknown fields refused, no
 * implicit conversion), security headers, CORS closed unless origins are configured, and a deadline for a request
 * to arrive in full (slow-loris clients get a 408).
 */
export function configureApp(app: INestApplication, config: EngineConfig): void {
  const express = app as NestExpressApplication;
  express.disable('x-powered-by');
  express.set('query parser', 'extended');
  express.use(
    helmet({
      contentSecurityPolicy: {
        useDefaults: false,
        directives: {
          defaultSrc: ["'self'"],
          scriptSrc: ["'self'"],
          styleSrc: ["'self'"],
          imgSrc: ["'self'", 'data:'],
          objectSrc: ["'none'"],
          baseUri: ["'none'"],
          formAction: ["'self'"],
          frameAncestors: ["'none'"],
        },
      },
      frameguard: { action: 'deny' },
      referrerPolicy: { policy: 'no-referrer' },
    }),
  );
  // The dashboard's static files; its scripts and styles are files from this origin, so the CSP above holds.
  serveDashboard(express, config.DASHBOARD_DIR ?? defaultDashboardDir());
  const origins = (config.CORS_ORIGINS ?? '')
    .split(',')
    .map((o) => o.trim())
    .filter(Boolean);
  if (origins.length > 0) {
    app.enableCors({
      origin: origins,
      methods: ['GET', 'POST'],
      allowedHeaders: ['Authorization', 'Content-Type', 'Idempotency-Key'],
      credentials: false,
      maxAge: 600,
    });
  }
  express.use(refuseDeclaredOversize(config.BODY_LIMIT_BYTES));
  express.use(requireJson);
  express.useBodyParser('json', { limit: config.BODY_LIMIT_BYTES, strict: true });
  express.use(limitJsonShape(config.JSON_MAX_DEPTH, config.JSON_MAX_STRING_LENGTH));
  const server = app.getHttpServer() as Server;
  server.requestTimeout = config.REQUEST_TIMEOUT_MS;
  server.headersTimeout = Math.min(config.REQUEST_TIMEOUT_MS, 60_000);
  server.on('clientError', answerClientError);
  app.useGlobalPipes(
    new ValidationPipe({
      whitelist: true,
      forbidNonWhitelisted: true,
      forbidUnknownValues: true,
      transform: true,
      transformOptions: { enableImplicitConversion: false },
      validationError: { target: false, value: false },
    }),
  );
  app.enableShutdownHooks();
  // OpenAPI: the UI at /docs, the document at /docs-json; like every route but /health, they need a key.
  const needKey = requireKeyMiddleware(app.get<ApiKeys>(API_KEYS));
  // /docs, /docs/* (the UI's files; swagger-ui-init.js embeds the whole document), /docs-json, /docs-yaml.
  express.use((req: Request, res: Response, next: NextFunction) =>
    /^\/docs(?:[/-]|$)/.test(req.path) ? needKey(req, res, next) : next(),
  );
  const document = SwaggerModule.createDocument(
    app,
    new DocumentBuilder()
      .setTitle('Saga engine')
      .setDescription('Start and watch sagas, act on them as an operator. Keys: `Authorization: Bearer <key>`.')
      .setVersion('1')
      .addBearerAuth({ type: 'http', scheme: 'bearer', description: 'An API key (SAGA_API_KEYS)' })
      .addSecurityRequirements('bearer')
      .build(),
  );
  SwaggerModule.setup('docs', app, document, { jsonDocumentUrl: 'docs-json' });
}

/**
 * A body whose declared length is over the limit is refused at once and the connection closed, without reading it
 * (the body parser would read it all first, so a client trickling a huge body could hold the connection).
 */
function refuseDeclaredOversize(limit: number) {
  return (req: Request, res: Response, next: NextFunction): void => {
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > limit) {
      res.setHeader('Connection', 'close');
      next(new ApiError(413, 'BODY_TOO_LARGE', 'request body is larger than the limit'));
      return;
    }
    next();
  };
}

/** Bodies must be JSON; anything else is a 415 rather than a confusing "type must be a string". */
function requireJson(req: Request, _res: Response, next: NextFunction): void {
  const hasBody = req.headers['content-length'] !== undefined && req.headers['content-length'] !== '0';
  const chunked = req.headers['transfer-encoding'] !== undefined;
  if ((hasBody || chunked) && !req.is('application/json')) {
    next(new ApiError(415, 'UNSUPPORTED_MEDIA_TYPE', 'request body must be application/json'));
    return;
  }
  next();
}

/**
 * Requests that Node refuses before Express sees them (headers or URL over `maxHeaderSize`, a request that did not
 * arrive in time, bytes that are not HTTP) get a JSON error like every other, then the connection closes.
 */
function answerClientError(error: NodeJS.ErrnoException, socket: Duplex): void {
  if (error.code === 'ECONNRESET' || !socket.writable) {
    socket.destroy();
    return;
  }
  const [statusCode, code, message] =
    error.code === 'HPE_HEADER_OVERFLOW'
      ? [431, 'HEADERS_TOO_LARGE', 'the URL or the headers are larger than the limit']
      : error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? [408, 'REQUEST_TIMEOUT', 'the request did not arrive in time']
        : [400, 'BODY_INVALID', 'the request is not valid HTTP'];
  const body = JSON.stringify({ statusCode, error: STATUS_CODES[statusCode], message, code });
  socket.end(
    `HTTP/1.1 ${statusCode} ${STATUS_CODES[statusCode]}\r\nContent-Type: application/json; charset=utf-8\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}

/**
 * Refuses bodies nested deeper than `maxDepth` or holding a string (value or key) longer than `maxString`, before
 * validation walks them. The message names the limit, never the value.
 */
function limitJsonShape(maxDepth: number, maxString: number) {
  return (req: Request, _res: Response, next: NextFunction): void => {
    const problem = shapeProblem(req.body, maxDepth, maxString);
    next(problem ? new ApiError(400, 'INPUT_INVALID', problem) : undefined);
  };
}

const RESERVED_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

/** In unicode mode a pair is one code point, so this matches only surrogates that stand alone. */
const LONE_SURROGATE = /[\ud800-\udfff]/u;

export function shapeProblem(body: unknown, maxDepth: number, maxString: number): string | null {
  // Iterative, so a hostile depth cannot overflow the stack here.
  const stack: [unknown, number][] = [[body, 0]];
  while (stack.length > 0) {
    const [value, depth] = stack.pop()!;
    if (typeof value === 'string') {
      if (value.length > maxString) return `a string in the body is longer than ${maxString} characters`;
      if (LONE_SURROGATE.test(value)) return 'a string in the body is not valid Unicode';
      // PostgreSQL's jsonb cannot hold U+0000: refused here rather than a 500 when the value is stored.
      if (value.includes('\u0000')) return 'a string in the body contains a NUL character (\\u0000)';
    } else if (typeof value === 'object' && value !== null) {
      if (depth >= maxDepth) return `the body is nested deeper than ${maxDepth} levels`;
      for (const [key, child] of Object.entries(value)) {
        // class-transformer and class-validator see `constructor` on every object: refuse it rather than trust
        // the whitelist (a body with it was accepted).
        if (RESERVED_KEYS.has(key)) return `the body must not use the key "${key}"`;
        if (key.length > maxString) return `a key in the body is longer than ${maxString} characters`;
        if (LONE_SURROGATE.test(key)) return 'a key in the body is not valid Unicode';
        if (key.includes('\u0000')) return 'a key in the body contains a NUL character (\\u0000)';
        stack.push([child, depth + 1]);
      }
    }
  }
  return null;
}
