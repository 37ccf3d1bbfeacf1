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

/**
 * Identifies a start request for idempotency: the same key must come with the same type and input. With `mac`
 * (an HMAC keyed by the encryption key, for sagas with sensitive fields) the stored digest cannot be brute-forced
 * back to a short secret such as a card number, as a plain SHA-256 could.
 */
export function requestHash(type: string, input: unknown, mac?: (data: string) => string): string {
  const data = `${type}\n${canonicalJson(input)}`;
  return mac ? `hmac:${mac(data)}` : createHash('sha256').update(data).digest('hex');
}
