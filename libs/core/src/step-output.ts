/** Step outputs are stored as JSONB and shown in the API; keep them to a sane size. */
export const MAX_OUTPUT_BYTES = 256 * 1024;

/**
 * Outputs are stored as JSON: undefined becomes null, Dates become strings. An output that cannot be stored is a
 * failure whose effect is unknown (the step did run), so it is retryable: retries exhausted, its undo runs.
 */
export function normalizeOutput(value: unknown): unknown {
  if (value === undefined) return null;
  let text: string;
  try {
    text = JSON.stringify(value);
  } catch (error) {
    throw outputError(`step output is not JSON-serializable: ${String(error)}`);
  }
  if (text === undefined) return null;
  if (Buffer.byteLength(text) > MAX_OUTPUT_BYTES) {
    throw outputError(`step output is larger than ${MAX_OUTPUT_BYTES} bytes`);
  }
  const parsed: unknown = JSON.parse(text);
  const problem = jsonbProblem(parsed);
  if (problem) throw outputError(`step output ${problem}`);
  return parsed;
}

/** Deeper outputs are refused (PostgreSQL's jsonb and the API's readers have limits of their own). */
export const MAX_OUTPUT_DEPTH = 64;
const LONE_SURROGATE = /[\ud800-\udfff]/u;

/**
 * What PostgreSQL's jsonb would refuse, found before the commit (a refused commit would fail the report again and
 * again): U+0000 and lone surrogates in strings or keys, and nesting deeper than MAX_OUTPUT_DEPTH. Iterative.
 */
function jsonbProblem(value: unknown): string | null {
  const stack: [unknown, number][] = [[value, 0]];
  while (stack.length > 0) {
    const [node, depth] = stack.pop()!;
    if (typeof node === 'string') {
      if (node.includes('\u0000')) return 'holds a NUL character (\\u0000)';
      if (LONE_SURROGATE.test(node)) return 'holds a string that is not valid Unicode';
    } else if (typeof node === 'object' && node !== null) {
      if (depth >= MAX_OUTPUT_DEPTH) return `is nested deeper than ${MAX_OUTPUT_DEPTH} levels`;
      for (const [key, child] of Object.entries(node)) {
        if (key.includes('\u0000') || LONE_SURROGATE.test(key)) return 'has a key that PostgreSQL cannot store';
        stack.push([child, depth + 1]);
      }
    }
  }
  return null;
}

/**
 * An error as a participant reported it, made storable: U+0000 and lone surrogates (which jsonb refuses) become
 * U+FFFD. Its length is already bounded by toErrorInfo.
 */
export function storableError<T>(error: T): T {
  const clean = (node: unknown): unknown => {
    if (typeof node === 'string') return node.replaceAll('\u0000', '\ufffd').replace(/[\ud800-\udfff]/gu, '\ufffd');
    if (Array.isArray(node)) return node.map(clean);
    if (typeof node === 'object' && node !== null) {
      return Object.fromEntries(Object.entries(node).map(([k, v]) => [clean(k), clean(v)]));
    }
    return node;
  };
  return clean(error) as T;
}

function outputError(message: string): Error & { code: string } {
  return Object.assign(new Error(message), { code: 'OUTPUT_INVALID' });
}
