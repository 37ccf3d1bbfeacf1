import { context, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  type ReadableSpan,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { startTestEngine, type TestEngine } from './support/test-engine';
import { droneInput } from './support/drone-input';

/**
 * One trace per saga: an in-memory exporter sees the saga's root span, a span per step attempt and compensation
 * under it (carried through the BullMQ job as a traceparent), and each participant's span under its step's span.
 */
describe('tracing (e2e)', () => {
  const exporter = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
  let engine: TestEngine;

  beforeAll(async () => {
    context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
    trace.setGlobalTracerProvider(provider);
    engine = await startTestEngine({ demo: true });
  });
  afterAll(async () => {
    await engine?.close();
    await provider.shutdown();
    trace.disable();
    context.disable();
  });
  beforeEach(() => exporter.reset());

  async function run(body: Record<string, unknown>) {
    const res = await engine.as('operator').post('/v1/sagas').send({ type: 'drone-delivery', input: body });
    expect(res.status).toBe(201);
    return engine.waitForStatus(res.body.id, ['COMPLETED', 'COMPENSATED', 'FAILED']);
  }

  const spansOf = (sagaId: string) => {
    const spans = exporter.getFinishedSpans();
    const root = spans.find((s) => s.name === 'saga drone-delivery' && s.attributes['saga.id'] === sagaId);
    expect(root).toBeDefined();
    return { root: root!, spans: spans.filter((s) => s.spanContext().traceId === root!.spanContext().traceId) };
  };
  const parentOf = (span: ReadableSpan) => span.parentSpanContext?.spanId;

  it('puts a completed saga in one trace: a span per step, the participant under its step', async () => {
    const saga = await run(droneInput());
    expect(saga.status).toBe('COMPLETED');
    const { root, spans } = spansOf(saga.id);
    const steps = spans.filter((s) => s.name.startsWith('step '));
    expect(steps.map((s) => s.name).sort()).toEqual(
      ['verify-account', 'create-delivery', 'register-package', 'schedule-drone', 'charge-account', 'notify-customer']
        .map((n) => `step ${n}`)
        .sort(),
    );
    for (const step of steps) {
      expect(parentOf(step)).toBe(root.spanContext().spanId);
      expect(step.attributes).toMatchObject({ 'saga.id': saga.id, 'saga.attempt': 1 });
    }
    const charge = steps.find((s) => s.name === 'step charge-account')!;
    const participant = spans.find((s) => s.name === 'participant account.charge');
    expect(participant).toBeDefined();
    expect(parentOf(participant!)).toBe(charge.spanContext().spanId);
    // The demo services run their handlers in another async context (a TCP socket's): the parent can only come
    // from the traceparent the microservice() invoker put in the message's metadata.
    expect(participant!.parentSpanContext?.isRemote).toBe(true);
    // Every participant span sits under a step span of the same trace.
    const participants = spans.filter((s) => s.name.startsWith('participant '));
    expect(participants.length).toBe(6);
    const stepIds = new Set(steps.map((s) => s.spanContext().spanId));
    expect(participants.every((p) => stepIds.has(parentOf(p)!))).toBe(true);
    // The traceparent is stored with the instance (ids only).
    const [row] = await engine.db.query<{ trace_parent: string }>(
      `SELECT trace_parent FROM saga_instance WHERE id = $1`,
      [saga.id],
    );
    expect(row.trace_parent).toBe(
      `00-${root.spanContext().traceId}-${root.spanContext().spanId}-0${root.spanContext().traceFlags}`,
    );
  });

  it('adds the failed attempt and the compensations of a compensated saga to its trace', async () => {
    const saga = await run(droneInput({ faults: { 'charge-account': { fatal: true } } }));
    expect(saga.status).toBe('COMPENSATED');
    const { root, spans } = spansOf(saga.id);
    const failed = spans.find((s) => s.name === 'step charge-account')!;
    expect(failed.status.code).toBe(2); // ERROR
    expect(failed.attributes['saga.error.code']).toBe('FAULT_FATAL');
    const compensations = spans.filter((s) => s.name.startsWith('compensate '));
    const undone = saga.steps.filter((s: any) => s.status === 'COMPENSATED').length;
    expect(compensations.length).toBe(undone);
    expect(compensations.every((c) => parentOf(c) === root.spanContext().spanId)).toBe(true);
  });

  it('carries the trace to the HTTP participant in the traceparent header', async () => {
    const saga = await run(droneInput({ weightKg: 35 }));
    expect(saga.status).toBe('COMPLETED');
    const { spans } = spansOf(saga.id);
    const book = spans.find((s) => s.name === 'step book-ground-transport')!;
    const carrier = spans.find((s) => s.name === 'participant transport.book');
    expect(carrier).toBeDefined();
    expect(carrier!.spanContext().traceId).toBe(book.spanContext().traceId);
    expect(parentOf(carrier!)).toBe(book.spanContext().spanId);
    expect(carrier!.parentSpanContext?.isRemote).toBe(true);
  });
});
