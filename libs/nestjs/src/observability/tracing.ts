import {
  type Context,
  type Span,
  type SpanContext,
  SpanKind,
  SpanStatusCode,
  ROOT_CONTEXT,
  context,
  isSpanContextValid,
  trace,
} from '@opentelemetry/api';

/**
 * Tracing through @opentelemetry/api only: without a registered SDK (no `OTEL_*` variables, see
 * apps/orchestrator/src/otel.ts) every call here is a no-op and no traceparent is written. One trace per saga:
 * its root span's context is stored with the instance (`trace_parent`) and carried in each step job, and every
 * attempt's span is a child of it, active while the step's handler runs.
 */
export const tracer = () => trace.getTracer('saga-engine');

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

/** The W3C traceparent of a span, or undefined when it is not recording a real trace (tracing off). */
export function traceparentOf(span: Span): string | undefined {
  const sc = span.spanContext();
  if (!isSpanContextValid(sc)) return undefined;
  return `00-${sc.traceId}-${sc.spanId}-${(sc.traceFlags & 0xff).toString(16).padStart(2, '0')}`;
}

/** A context whose parent is the span that `traceparent` names (ROOT_CONTEXT when it is absent or malformed). */
export function contextFromTraceparent(traceparent: string | null | undefined): Context {
  const m = traceparent ? TRACEPARENT.exec(traceparent) : null;
  if (!m) return ROOT_CONTEXT;
  const sc: SpanContext = { traceId: m[1], spanId: m[2], traceFlags: parseInt(m[3], 16), isRemote: true };
  return isSpanContextValid(sc) ? trace.setSpanContext(ROOT_CONTEXT, sc) : ROOT_CONTEXT;
}

/** The trace id of a traceparent (for log lines), or undefined. */
export function traceIdOf(traceparent: string | null | undefined): string | undefined {
  return traceparent ? TRACEPARENT.exec(traceparent)?.[1] : undefined;
}

/**
 * The saga's root span `saga <type>`, under whatever is active (the HTTP request's span when HTTP is
 * instrumented). Ended at once: it marks the start; the steps' spans hang under it.
 */
export function startSagaSpan(sagaId: string, type: string): string | undefined {
  const span = tracer().startSpan(`saga ${type}`, {
    kind: SpanKind.INTERNAL,
    attributes: { 'saga.id': sagaId, 'saga.type': type },
  });
  const traceparent = traceparentOf(span);
  span.end();
  return traceparent;
}

/**
 * Runs `fn` inside the span of one step attempt (`step <name>` or `compensate <name>`), child of `parent`, with
 * the span active; the span's status follows `failed(result)`.
 */
export async function inStepSpan<T>(
  parent: string | null | undefined,
  name: string,
  attributes: Record<string, string | number>,
  fn: (traceparent: string | undefined) => Promise<T>,
  failed: (result: T) => { code?: string | null; message?: string } | null,
): Promise<T> {
  const span = tracer().startSpan(name, { kind: SpanKind.CONSUMER, attributes }, contextFromTraceparent(parent));
  try {
    const result = await context.with(trace.setSpan(context.active(), span), () => fn(traceparentOf(span)));
    const error = failed(result);
    if (error) {
      span.setStatus({ code: SpanStatusCode.ERROR, message: error.message });
      if (error.code) span.setAttribute('saga.error.code', error.code);
    }
    return result;
  } catch (error) {
    span.recordException(error as Error);
    span.setStatus({ code: SpanStatusCode.ERROR, message: String(error) });
    throw error;
  } finally {
    span.end();
  }
}
