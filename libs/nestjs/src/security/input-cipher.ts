import { SagaConfigError } from '../module/options';
import { createCipheriv, createDecipheriv, createHash, createHmac, randomBytes } from 'node:crypto';

/** What the API, logs and events show in place of a sensitive value. */
export const REDACTED = '[REDACTED]';

/**
 * A sealed sensitive value as stored in `saga_instance.input`: `{"$enc":"v1:<kid>:<base64(iv|tag|ciphertext)>"}`.
 * AES-256-GCM with a random 12-byte IV; the additional data binds it to its saga and path, so an envelope copied
 * into another saga or field does not open. `kid` names the key, so that retired keys can still open old rows.
 */
export interface Envelope {
  $enc: string;
}

const VERSION = 'v1';
const IV_BYTES = 12;
const TAG_BYTES = 16;
const KEY_TEXT = /^(?:[0-9a-fA-F]{64}|[A-Za-z0-9+/]{43}=)$/;

export class SensitiveDataError extends Error {
  override readonly name = 'SensitiveDataError' as const;
}

export function isEnvelope(value: unknown): value is Envelope {
  return (
    typeof value === 'object' &&
    value !== null &&
    !Array.isArray(value) &&
    Object.keys(value).length === 1 &&
    typeof (value as Envelope).$enc === 'string'
  );
}

/** A 32-byte key from 64 hex digits or 44 base64 characters; null when it is neither. */
export function parseEncryptionKey(text: string): Buffer | null {
  const trimmed = text.trim();
  if (!KEY_TEXT.test(trimmed)) return null;
  const key = Buffer.from(trimmed, trimmed.length === 64 ? 'hex' : 'base64');
  return key.length === 32 ? key : null;
}

/** A fresh key in the form SAGA_ENCRYPTION_KEY takes (base64). */
export function generateEncryptionKey(): string {
  return randomBytes(32).toString('base64');
}

/** A short public name of a key (not secret: a truncated hash), written in each envelope. */
export function keyId(key: Buffer): string {
  return createHash('sha256').update('saga-engine key id\n').update(key).digest('hex').slice(0, 8);
}

/**
 * Seals and opens the sensitive fields of saga inputs. One current key (new envelopes) and any number of retired
 * keys (opening only), so that a key can be rotated without re-encrypting the rows in flight.
 */
export class InputCipher {
  readonly kid: string;
  private readonly keys = new Map<string, Buffer>();
  private readonly hashKey: Buffer;

  constructor(
    private readonly current: Buffer,
    retired: readonly Buffer[] = [],
  ) {
    if (current.length !== 32) throw new Error('the encryption key must be 32 bytes');
    this.kid = keyId(current);
    for (const key of retired) this.keys.set(keyId(key), key);
    this.keys.set(this.kid, current);
    this.hashKey = createHmac('sha256', current).update('saga-engine request hash').digest();
  }

  /** From SAGA_ENCRYPTION_KEY and SAGA_ENCRYPTION_KEYS_OLD (already validated by loadConfig); null when unset. */
  static fromConfig(config: { SAGA_ENCRYPTION_KEY?: string; SAGA_ENCRYPTION_KEYS_OLD?: string }): InputCipher | null {
    const retired = (config.SAGA_ENCRYPTION_KEYS_OLD ?? '').split(',');
    return InputCipher.fromKeys(config.SAGA_ENCRYPTION_KEY ?? null, retired);
  }

  /** The cipher of `key` (null: none) and the retired keys that still open older values. */
  static fromKeys(key: string | null, retiredKeys: readonly string[] = []): InputCipher | null {
    if (!key) return null;
    const current = parseEncryptionKey(key);
    if (!current) throw new Error('the encryption key must be 32 bytes as 64 hex digits or 44 base64 characters');
    const retired = retiredKeys
      .map((k) => k.trim())
      .filter(Boolean)
      .map((k) => {
        const parsed = parseEncryptionKey(k);
        if (!parsed) throw new Error('the retired encryption keys must be keys like the current one');
        return parsed;
      });
    return new InputCipher(current, retired);
  }

  encrypt(value: unknown, context: string): Envelope {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.current, iv, { authTagLength: TAG_BYTES });
    cipher.setAAD(Buffer.from(context));
    const body = Buffer.concat([cipher.update(JSON.stringify(value ?? null), 'utf8'), cipher.final()]);
    const sealed = Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64');
    return { $enc: `${VERSION}:${this.kid}:${sealed}` };
  }

  /** The value; a SensitiveDataError (never the ciphertext, never a partial plaintext) when it cannot be opened. */
  decrypt(envelope: Envelope, context: string): unknown {
    const [version, kid, sealed, ...rest] = envelope.$enc.split(':');
    if (version !== VERSION || rest.length > 0 || sealed === undefined) {
      throw new SensitiveDataError('sealed value has an unknown format');
    }
    const key = this.keys.get(kid);
    if (!key) {
      throw new SensitiveDataError(
        `sealed with key ${kid}, which is neither SAGA_ENCRYPTION_KEY nor one of SAGA_ENCRYPTION_KEYS_OLD`,
      );
    }
    const raw = Buffer.from(sealed, 'base64');
    if (raw.length < IV_BYTES + TAG_BYTES) throw new SensitiveDataError('sealed value is truncated');
    try {
      const decipher = createDecipheriv('aes-256-gcm', key, raw.subarray(0, IV_BYTES), { authTagLength: TAG_BYTES });
      decipher.setAAD(Buffer.from(context));
      decipher.setAuthTag(raw.subarray(IV_BYTES, IV_BYTES + TAG_BYTES));
      const text = Buffer.concat([decipher.update(raw.subarray(IV_BYTES + TAG_BYTES)), decipher.final()]);
      return JSON.parse(text.toString('utf8'));
    } catch {
      throw new SensitiveDataError(`sealed value with key ${kid} does not authenticate (tampered, or another saga's)`);
    }
  }

  /** A copy of `input` with the value at each path sealed (paths that are absent are left absent). */
  seal(input: unknown, paths: readonly string[], sagaId: string): unknown {
    if (paths.length === 0) return input;
    const copy = structuredClone(input);
    for (const path of paths) {
      const at = locate(copy, path);
      if (at && at.value !== undefined && !isEnvelope(at.value)) {
        at.parent[at.key] = this.encrypt(at.value, `${sagaId}\n${path}`);
      }
    }
    return copy;
  }

  /** A copy of a stored input with each sealed path opened, for a step's `ctx.input`. */
  open(input: unknown, paths: readonly string[], sagaId: string): unknown {
    if (paths.length === 0) return input;
    const copy = structuredClone(input);
    for (const path of paths) {
      const at = locate(copy, path);
      if (at && isEnvelope(at.value)) at.parent[at.key] = this.decrypt(at.value, `${sagaId}\n${path}`);
    }
    return copy;
  }

  /** An HMAC keyed by (a key derived from) the current key: a digest of a secret that cannot be brute-forced. */
  mac(data: string): string {
    return createHmac('sha256', this.hashKey).update(data).digest('hex');
  }
}

/** The parent object and key of a dotted path, when every object on the way exists. */
function locate(root: unknown, path: string): { parent: Record<string, unknown>; key: string; value: unknown } | null {
  const segments = path.split('.');
  let node: unknown = root;
  for (const segment of segments.slice(0, -1)) {
    if (typeof node !== 'object' || node === null || Array.isArray(node) || isEnvelope(node)) return null;
    if (!Object.prototype.hasOwnProperty.call(node, segment)) return null;
    node = (node as Record<string, unknown>)[segment];
  }
  if (typeof node !== 'object' || node === null || Array.isArray(node)) return null;
  const key = segments[segments.length - 1];
  if (!Object.prototype.hasOwnProperty.call(node, key)) return null;
  const parent = node as Record<string, unknown>;
  return { parent, key, value: parent[key] };
}

/** A copy of `value` in which every envelope reads `[REDACTED]`: what the API returns for stored inputs. */
export function redactSealed(value: unknown): unknown {
  if (isEnvelope(value)) return REDACTED;
  if (Array.isArray(value)) return value.map(redactSealed);
  if (typeof value === 'object' && value !== null) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = redactSealed(v);
    return out;
  }
  return value;
}

/** A copy of `input` with the value at each path replaced by `[REDACTED]` (for plain inputs not yet sealed). */
export function redactPaths(input: unknown, paths: readonly string[]): unknown {
  if (paths.length === 0) return input;
  const copy = structuredClone(input);
  for (const path of paths) {
    const at = locate(copy, path);
    if (at && at.value !== undefined) at.parent[at.key] = REDACTED;
  }
  return copy;
}

/** The strings (of 4 characters or more) found at the given paths: what must not leak into outputs and errors. */
export function secretsAt(input: unknown, paths: readonly string[]): string[] {
  const found: string[] = [];
  const collect = (value: unknown): void => {
    if (typeof value === 'string') {
      if (value.length >= 4) found.push(value);
    } else if (typeof value === 'number' && String(value).length >= 4) {
      found.push(String(value));
    } else if (typeof value === 'object' && value !== null) {
      for (const child of Object.values(value)) collect(child);
    }
  };
  for (const path of paths) {
    const at = locate(input, path);
    if (at) collect(at.value);
  }
  // Longest first, so that a secret containing another is replaced whole.
  return [...new Set(found)].sort((a, b) => b.length - a.length);
}

/**
 * A copy of `value` in which each occurrence of a secret inside a string reads `[REDACTED]`: a step that echoes
 * its input into its output or an error message must not write the secret into PostgreSQL in plain text.
 */
export function scrubSecrets<T>(value: T, secrets: readonly string[]): T {
  if (secrets.length === 0) return value;
  const scrub = (node: unknown): unknown => {
    if (typeof node === 'string') {
      let text = node;
      for (const secret of secrets) if (text.includes(secret)) text = text.split(secret).join(REDACTED);
      return text;
    }
    if (Array.isArray(node)) return node.map(scrub);
    if (typeof node === 'object' && node !== null) {
      const out: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(node)) out[scrub(k) as string] = scrub(v);
      return out;
    }
    return node;
  };
  return scrub(value) as T;
}

/**
 * The cipher for sensitive input fields of `sagas`. A SagaConfigError naming the option when a saga declares
 * sensitive fields and no key is set: the engine never stores them in plain text instead.
 */
export function cipherForSagas(
  key: string | null,
  retiredKeys: readonly string[],
  sagas: readonly { name: string; sensitive: readonly string[] }[],
): InputCipher | null {
  const cipher = InputCipher.fromKeys(key, retiredKeys);
  const sensitive = sagas.filter((s) => s.sensitive.length > 0).map((s) => s.name);
  if (!cipher && sensitive.length > 0) {
    throw new SagaConfigError(
      `Invalid SagaModule options:\n  - encryptionKey (SAGA_ENCRYPTION_KEY) is not set, but saga type(s) ` +
        `${sensitive.join(', ')} declare sensitive input fields: set it to 32 random bytes ` +
        '(openssl rand -base64 32), the same in every process',
    );
  }
  return cipher;
}
