/**
 * OpenTelemetry SDK setup for the apps, from the standard `OTEL_*` variables, and nothing when none is set (the
 * engine then calls @opentelemetry/api's no-op tracer, and stores no traceparent). Turned on by
 * `OTEL_EXPORTER_OTLP_ENDPOINT`, `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` or `OTEL_TRACES_EXPORTER` (other than
 * `none`); `OTEL_SDK_DISABLED=true` keeps it off. The exporter, protocol, headers, sampler and resource are the
 * SDK's own reading of `OTEL_*` (OTLP over http/protobuf by default); `OTEL_SERVICE_NAME` defaults to `service`.
 * No auto-instrumentation is loaded: the spans are the engine's (saga, step attempts, compensations) and the
 * participants' own.
 */
export async function startTracingFromEnv(
  service: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<{ shutdown(): Promise<void> } | null> {
  if (!tracingRequested(env)) return null;
  const { NodeSDK } = await import('@opentelemetry/sdk-node');
  const sdk = new NodeSDK({ serviceName: env.OTEL_SERVICE_NAME ?? service, instrumentations: [] });
  sdk.start();
  // After Nest's graceful shutdown has let the event loop drain: flush what is left.
  process.once('beforeExit', () => void sdk.shutdown().catch(() => undefined));
  return sdk;
}

export function tracingRequested(env: NodeJS.ProcessEnv): boolean {
  if (env.OTEL_SDK_DISABLED === 'true') return false;
  const exporter = env.OTEL_TRACES_EXPORTER;
  if (exporter !== undefined && exporter !== '') return exporter !== 'none';
  return Boolean(env.OTEL_EXPORTER_OTLP_ENDPOINT || env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT);
}
