import type { NextFunction, Request, RequestHandler, Response } from 'express';
import express from 'express';
import helmet from 'helmet';
import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import type { ApiErrorCode } from './api-error';

/**
 * The request limits of the engine's routes, as middleware applied to them only (see SagaModule.configure): a body
 * limit, JSON only, limits on nesting and string length, security headers. Each refusal is answered here, in the
 * API's error shape, so that it does not depend on the app's exception filters.
 */
export interface RequestLimits {
  bodyLimitBytes: number;
  jsonMaxDepth: number;
  jsonMaxStringLength: number;
}

/** Sends `{ statusCode, error, message, code }` and ends the request. */
export function sendApiError(res: Response, statusCode: number, code: ApiErrorCode, message: string): void {
  if (res.headersSent) return;
  res.status(statusCode).json({ statusCode, error: STATUS_CODES[statusCode] ?? 'Error', message, code });
}

/**
 * The body's middleware of the engine's JSON routes, in order, for after the key check (see SagaModule.configure):
 * nothing of a body is read before the key is known.
 */
export function bodyLimits(limits: RequestLimits) {
  const parse = express.json({ limit: limits.bodyLimitBytes, strict: true });
  return [
    refuseDeclaredOversize(limits.bodyLimitBytes),
    requireJson,
    (req: Request, res: Response, next: NextFunction) =>
      // An app that parses bodies itself (Nest's default) has done it already, before the key check: express.json
      // skips them then, and SagaModule warns at start (create the app with `bodyParser: false`).
      parse(req, res, (error?: unknown) => (error ? bodyError(res, error) : next())),
    limitJsonShape(limits.jsonMaxDepth, limits.jsonMaxStringLength),
  ];
}

/**
 * Several middleware functions as one, run in order by an Express router of their own (so `next()`, `next(error)`,
 * a throw and an answer mean exactly what they mean in Express). Nest registers each middleware of
 * `forRoutes(controllers)` once per route, and Express tests every registered path against every request: six
 * functions over the engine's routes were six times the layers to walk, on every request of the app (issue 20).
 */
export function inOrder(...middleware: RequestHandler[]): RequestHandler {
  const router = express.Router();
  router.use(...middleware);
  return router;
}

/** Errors of the body parser: say what is wrong, never echo the input. */
function bodyError(res: Response, error: unknown): void {
  const type = (error as { type?: string }).type ?? '';
  if (type === 'entity.too.large') {
    res.setHeader('Connection', 'close');
    sendApiError(res, 413, 'BODY_TOO_LARGE', 'request body is larger than the limit');
  } else if (type === 'encoding.unsupported' || type === 'charset.unsupported') {
    sendApiError(res, 415, 'UNSUPPORTED_MEDIA_TYPE', 'unsupported content encoding or charset');
  } else {
    sendApiError(res, 400, 'BODY_INVALID', 'request body is not valid JSON');
  }
}

/**
 * Security headers of every engine route, the dashboard's CSP included: its scripts and styles are files from the
 * same origin, so no inline script is needed or allowed.
 */
export const securityHeaders = helmet({
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
});

/**
 * A body whose declared length is over the limit is refused at once and the connection closed, without reading it
 * (the body parser would read it all first, so a client trickling a huge body could hold the connection).
 */
function refuseDeclaredOversize(limit: number) {
  return (req: Request, res: Response, next: NextFunction): void => {
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > limit) {
      res.setHeader('Connection', 'close');
      sendApiError(res, 413, 'BODY_TOO_LARGE', 'request body is larger than the limit');
      return;
    }
    next();
  };
}

/** Bodies must be JSON; anything else is a 415 rather than a confusing "type must be a string". */
function requireJson(req: Request, res: Response, next: NextFunction): void {
  const hasBody = req.headers['content-length'] !== undefined && req.headers['content-length'] !== '0';
  const chunked = req.headers['transfer-encoding'] !== undefined;
  if ((hasBody || chunked) && !req.is('application/json')) {
    sendApiError(res, 415, 'UNSUPPORTED_MEDIA_TYPE', 'request body must be application/json');
    return;
  }
  next();
}

/**
 * Requests that Node refuses before Express sees them (headers or URL over `maxHeaderSize`, a request that did not
 * arrive in time, bytes that are not HTTP) get a JSON error like every other, then the connection closes.
 */
export function answerClientError(error: NodeJS.ErrnoException, socket: Duplex): void {
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
  return (req: Request, res: Response, next: NextFunction): void => {
    const problem = shapeProblem(req.body, maxDepth, maxString);
    if (problem) sendApiError(res, 400, 'INPUT_INVALID', problem);
    else next();
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
