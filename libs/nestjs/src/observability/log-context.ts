import { AsyncLocalStorage } from 'node:async_hooks';
import { traceIdOf } from './tracing';

/** What every log line about a saga carries (see apps/orchestrator/src/logging.ts, which adds it to each line). */
export interface SagaLogFields {
  sagaId: string;
  step?: string;
  phase?: string;
  attempt?: number;
  traceId?: string;
}

const storage = new AsyncLocalStorage<SagaLogFields>();

/**
 * Runs `fn` with `fields` as the saga log context: each line logged meanwhile (by any logger, through the pino
 * mixin) names the saga, step, attempt and trace. Inner fields extend outer ones (an apply inside an attempt).
 */
export function withSagaLog<T>(fields: SagaLogFields & { traceparent?: string | null }, fn: () => T): T {
  const { traceparent, ...rest } = fields;
  const traceId = traceIdOf(traceparent);
  const outer = storage.getStore();
  const merged: SagaLogFields = {
    ...(outer?.sagaId === rest.sagaId ? outer : {}),
    ...definedOnly(rest),
    sagaId: rest.sagaId,
    ...(traceId ? { traceId } : {}),
  };
  return storage.run(merged, fn);
}

/** The saga log context of the current call, if any. */
export function sagaLogFields(): SagaLogFields | undefined {
  return storage.getStore();
}

function definedOnly<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
