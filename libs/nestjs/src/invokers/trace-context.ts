import { type Context, context, trace, TraceFlags } from '@opentelemetry/api';

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

/**
 * The W3C `traceparent` of the active span (the step attempt's, in an agent), or undefined when there is none
 * (tracing off). Formatted here rather than through the global propagator, so that it does not depend on which
 * propagator the process registered.
 */
export function activeTraceparent(): string | undefined {
  const span = trace.getActiveSpan();
  if (!span) return undefined;
  const { traceId, spanId, traceFlags } = span.spanContext();
  if (!trace.isSpanContextValid(span.spanContext())) return undefined;
  return `00-${traceId}-${spanId}-${(traceFlags & 0xff).toString(16).padStart(2, '0')}`;
}

/**
 * The context a participant continues a caller's trace in: the active one with the remote parent from
 * `traceparent` (a header, or a message's metadata). A missing or malformed value leaves the context as it is.
 */
export function contextFromTraceparent(traceparent: unknown, base: Context = context.active()): Context {
  if (typeof traceparent !== 'string') return base;
  const match = TRACEPARENT.exec(traceparent.trim().toLowerCase());
  if (!match) return base;
  const spanContext = {
    traceId: match[1],
    spanId: match[2],
    traceFlags: parseInt(match[3], 16) & TraceFlags.SAMPLED,
    isRemote: true,
  };
  return trace.isSpanContextValid(spanContext) ? trace.setSpanContext(base, spanContext) : base;
}
