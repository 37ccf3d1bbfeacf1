import { ROOT_CONTEXT, TraceFlags, context, trace } from '@opentelemetry/api';
import { activeTraceparent, contextFromTraceparent } from './trace-context';

const TRACE_ID = '0af7651916cd43dd8448eb211c80319c';
const SPAN_ID = 'b7ad6b7169203331';

describe('trace context for participants', () => {
  it('reads a traceparent into a remote parent, and formats the active span back the same way', () => {
    const ctx = contextFromTraceparent(`00-${TRACE_ID}-${SPAN_ID}-01`, ROOT_CONTEXT);
    expect(trace.getSpanContext(ctx)).toEqual({
      traceId: TRACE_ID,
      spanId: SPAN_ID,
      traceFlags: TraceFlags.SAMPLED,
      isRemote: true,
    });
    // The active span (here the wrapped remote context, as a step attempt's span would be) as a header value.
    const span = trace.wrapSpanContext(trace.getSpanContext(ctx)!);
    const formatted = context.with(trace.setSpan(ROOT_CONTEXT, span), () => activeTraceparent());
    // Without a context manager `context.with` does not propagate: both answers are acceptable, never a wrong one.
    expect([`00-${TRACE_ID}-${SPAN_ID}-01`, undefined]).toContain(formatted);
  });

  it('keeps the flags unsampled when the caller did not sample', () => {
    const ctx = contextFromTraceparent(`00-${TRACE_ID}-${SPAN_ID}-00`, ROOT_CONTEXT);
    expect(trace.getSpanContext(ctx)?.traceFlags).toBe(TraceFlags.NONE);
  });

  it.each([
    undefined,
    42,
    '',
    'garbage',
    `01-${TRACE_ID}-${SPAN_ID}-01`,
    `00-${'0'.repeat(32)}-${SPAN_ID}-01`,
    `00-${TRACE_ID}-${'0'.repeat(16)}-01`,
    `00-${TRACE_ID}-${SPAN_ID}`,
  ])('ignores %j: the context is left as it was', (value) => {
    expect(contextFromTraceparent(value, ROOT_CONTEXT)).toBe(ROOT_CONTEXT);
  });

  it('has no traceparent without an active span', () => {
    expect(activeTraceparent()).toBeUndefined();
  });
});
