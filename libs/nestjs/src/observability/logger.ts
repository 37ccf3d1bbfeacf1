import type { DynamicModule } from '@nestjs/common';
import { LoggerModule } from 'nestjs-pino';
import type { DestinationStream, LoggerOptions } from 'pino';
import { type EngineConfig } from '../config/engine-config';
import { isEnvelope } from '../security/input-cipher';
import { sagaLogFields } from './log-context';

/** Nest's level names to pino's. */
const PINO_LEVEL: Record<EngineConfig['LOG_LEVEL'], string> = {
  error: 'error',
  warn: 'warn',
  log: 'info',
  debug: 'debug',
  verbose: 'trace',
};

/** A field whose name says it holds a secret; its value is logged as `[redacted]`, however deep. */
export const SECRET_KEY =
  /pass(word|phrase)?|secret|token|api[-_]?key|authorization|cookie|credential|private[-_]?key/i;
const REDACTED = '[redacted]';

/**
 * pino settings of both apps: JSON lines at `LOG_LEVEL`; every line logged while a saga is being worked on carries
 * `sagaId`, `step`, `phase`, `attempt` and `traceId` (from the runtime's log context, see withSagaLog); request
 * headers that authenticate, request bodies and saga inputs, sealed sensitive values, and any field named like a
 * secret are redacted.
 */
export function pinoOptions(level: EngineConfig['LOG_LEVEL']): LoggerOptions {
  return {
    level: PINO_LEVEL[level],
    mixin: () => ({ ...sagaLogFields() }),
    redact: {
      paths: [
        'req.headers.authorization',
        'req.headers.cookie',
        'req.headers["x-api-key"]',
        'res.headers["set-cookie"]',
        // Saga inputs may carry sensitive fields: no line of ours logs one, and none may by accident.
        'req.body',
        'input',
        '*.input',
      ],
      censor: REDACTED,
    },
    formatters: { log: (object) => redactSecrets(object, 0) as Record<string, unknown> },
  };
}

/** The nestjs-pino module (Nest's Logger then writes through pino, once `app.useLogger(app.get(Logger))`). */
export function loggerModule(level: EngineConfig['LOG_LEVEL'], destination?: DestinationStream): DynamicModule {
  const options = pinoOptions(level);
  return LoggerModule.forRoot({
    // No line per request: polling clients (and probes, scrapes) would drown the lines about sagas. The redaction
    // of request headers still covers any line that logs a request.
    pinoHttp: destination ? [{ ...options, autoLogging: false }, destination] : { ...options, autoLogging: false },
  });
}

function redactSecrets(value: unknown, depth: number): unknown {
  if (depth > 6 || value === null || typeof value !== 'object') return value;
  if (isEnvelope(value)) return REDACTED; // a sealed sensitive field: not even its ciphertext
  if (Array.isArray(value)) return value.map((v) => redactSecrets(v, depth + 1));
  // Plain objects only: requests, errors and the like go to their serializers as they are.
  const proto: unknown = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) return value;
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(value)) {
    out[key] = SECRET_KEY.test(key) && v !== undefined && v !== null ? REDACTED : redactSecrets(v, depth + 1);
  }
  return out;
}
