import type { LoggerService } from '@nestjs/common';
import pino, { type DestinationStream, type Logger, type LoggerOptions } from 'pino';
import PinoPretty from 'pino-pretty';
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

/** Nest's own start-up chatter, which goes to debug: a person wants the engine's few lines, not 50 routes. */
const QUIET_CONTEXTS = new Set([
  'RouterExplorer',
  'RoutesResolver',
  'InstanceLoader',
  'NestFactory',
  'NestApplication',
]);

export interface SagaLoggerOptions {
  /** Lines below this level are dropped. @defaultValue 'log' */
  level?: EngineConfig['LOG_LEVEL'];
  /**
   * `json`: one JSON object per line (for log shippers); `pretty`: readable lines (for a person); `auto`: pretty
   * when `destination` is a terminal, JSON otherwise. Never both in one stream. @defaultValue 'auto'
   */
  format?: 'auto' | 'json' | 'pretty';
  /** Where lines go. @defaultValue process.stdout */
  destination?: DestinationStream & { isTTY?: boolean };
}

/**
 * A Nest LoggerService over pino for processes that run the engine: `app.useLogger(new SagaLogger({ ... }))`. Every
 * line logged while a saga is being worked on carries `sagaId`, `step`, `phase`, `attempt` and `traceId`; secrets
 * are redacted (see pinoOptions). Nest's route mapping and module loading go to debug. The engine itself logs
 * through Nest's Logger, so an app that keeps its own logger gets the engine's lines there instead.
 */
export class SagaLogger implements LoggerService {
  readonly pino: Logger;

  constructor(options: SagaLoggerOptions = {}) {
    const destination = options.destination ?? process.stdout;
    const format = options.format ?? 'auto';
    const pretty = format === 'pretty' || (format === 'auto' && destination.isTTY === true);
    this.pino = pino(
      pinoOptions(options.level ?? 'log'),
      pretty
        ? PinoPretty({
            destination: destination as NodeJS.WritableStream,
            colorize: destination.isTTY === true,
            sync: true,
            translateTime: 'HH:MM:ss.l',
            ignore: 'pid,hostname,context',
            messageFormat: '{if context}[{context}] {end}{msg}',
          })
        : destination,
    );
  }

  log(message: unknown, ...rest: unknown[]): void {
    this.write('info', message, rest);
  }
  error(message: unknown, ...rest: unknown[]): void {
    // Nest passes (message, stack, context); a stack is kept as `stack`.
    const [stack, context] = rest.length >= 2 ? rest : [undefined, rest[0]];
    this.write('error', message, [context], typeof stack === 'string' ? { stack } : {});
  }
  warn(message: unknown, ...rest: unknown[]): void {
    this.write('warn', message, rest);
  }
  debug(message: unknown, ...rest: unknown[]): void {
    this.write('debug', message, rest);
  }
  verbose(message: unknown, ...rest: unknown[]): void {
    this.write('trace', message, rest);
  }
  fatal(message: unknown, ...rest: unknown[]): void {
    this.write('fatal', message, rest);
  }

  private write(level: pino.Level, message: unknown, rest: unknown[], extra: Record<string, unknown> = {}): void {
    const last = rest[rest.length - 1];
    const context = typeof last === 'string' ? last : undefined;
    const effective = context && QUIET_CONTEXTS.has(context) && level === 'info' ? 'debug' : level;
    const fields = { ...(context ? { context } : {}), ...extra };
    if (message instanceof Error) this.pino[effective]({ ...fields, err: message }, message.message);
    else if (typeof message === 'object' && message !== null) this.pino[effective]({ ...fields, ...message });
    else this.pino[effective](fields, String(message));
  }
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
