import { createHash } from 'node:crypto';

/** JSON with object keys sorted, so that the same input always hashes the same. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const entries = Object.keys(value)
    .filter((k) => (value as Record<string, unknown>)[k] !== undefined)
    .sort()
    .map((k) => `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k])}`);
  return `{${entries.join(',')}}`;
}

/** Identifies a start request for idempotency: the same key must come with the same type and input. */
export function requestHash(type: string, input: unknown): string {
  return createHash('sha256').update(type).update('\n').update(canonicalJson(input)).digest('hex');
}
