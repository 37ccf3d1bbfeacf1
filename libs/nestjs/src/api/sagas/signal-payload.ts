/** A signal's payload is stored as a step's output: bounded, so that one request cannot bloat a saga's row. */
export const SIGNAL_PAYLOAD_MAX_BYTES = 64 * 1024;
/** Nesting limit of a payload (objects and arrays), against pathological documents. */
export const SIGNAL_PAYLOAD_MAX_DEPTH = 32;
/** Signal names: as the SDK's `waitFor` accepts them. */
export const SIGNAL_NAME_PATTERN = /^[A-Za-z0-9._-]{1,100}$/;

/**
 * Checks the body of `POST /v1/sagas/{id}/signals/{name}`: `{ "payload"?: object }` and nothing else. Returns the
 * payload (`{}` when absent), or the problem, naming the field.
 */
export function signalPayload(body: unknown): { payload: Record<string, unknown> } | { problem: string } {
  if (body === undefined || body === null) return { payload: {} };
  if (typeof body !== 'object' || Array.isArray(body)) return { problem: 'body must be a JSON object' };
  const unknown = Object.keys(body).filter((key) => key !== 'payload');
  if (unknown.length > 0) return { problem: `property ${unknown[0]} should not exist` };
  const { payload } = body as { payload?: unknown };
  if (payload === undefined) return { payload: {} };
  if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) {
    return { problem: 'payload must be a JSON object' };
  }
  if (depthOf(payload, 0) > SIGNAL_PAYLOAD_MAX_DEPTH) {
    return { problem: `payload must be nested at most ${SIGNAL_PAYLOAD_MAX_DEPTH} levels deep` };
  }
  const bytes = Buffer.byteLength(JSON.stringify(payload));
  if (bytes > SIGNAL_PAYLOAD_MAX_BYTES) {
    return { problem: `payload must be at most ${SIGNAL_PAYLOAD_MAX_BYTES} bytes of JSON (got ${bytes})` };
  }
  return { payload: payload as Record<string, unknown> };
}

/** Depth of a JSON value; stops counting past the limit, so a deep document costs little. */
function depthOf(value: unknown, depth: number): number {
  if (typeof value !== 'object' || value === null) return depth;
  if (depth > SIGNAL_PAYLOAD_MAX_DEPTH) return depth;
  let max = depth + 1;
  for (const child of Object.values(value)) max = Math.max(max, depthOf(child, depth + 1));
  return max;
}
