import type { Role } from './engine-config';

/**
 * An API key, what it may do and, optionally, which saga types it is limited to. `viewer` reads; `operator` also
 * starts, signals, cancels, retries and manages schedules; `admin` all (the audit, metrics, resolving a
 * compensation by hand).
 */
export interface SagaApiKey {
  /**
   * The name the operator gives the key (`ci-bot`, `drones`): events and the audit name the key by it
   * (`by: key ci-bot (operator)`), never by the key or a hash of it. Unique; letters, digits, `.`, `_`, `-`.
   */
  name: string;
  /** The secret: at least 32 characters without spaces, `:` or `,` (`openssl rand -base64 32 | tr -d =`). */
  key: string;
  role: Role;
  /**
   * Limits the key to these saga types: it sees, starts and acts on sagas and schedules of these types only
   * (others answer 404 as if they did not exist), and routes that span every type (the audit, metrics,
   * participants) answer 403. Unset: every type.
   */
  sagaTypes?: readonly string[];
}

/** Keys shorter than this are refused at start: 32 characters of a generated key hold well over 128 bits. */
export const MIN_KEY_LENGTH = 32;
const KEY_PATTERN = /^[^\s:,]+$/;
const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const TYPE_PATTERN = /^[a-z][a-z0-9]*(-[a-z0-9]+)*$/;
const ROLE_NAMES: readonly Role[] = ['viewer', 'operator', 'admin'];

/**
 * Reads `SAGA_API_KEYS`: `name:key:role[:type|type]` entries separated by commas, such as
 * `ci-bot:<key>:operator,dash:<key>:viewer:order|refund`. Problems name the variable and the entry (its position,
 * and its name when it has one), never the key.
 */
export function parseApiKeySpec(spec: string, variable = 'SAGA_API_KEYS'): { keys: SagaApiKey[]; problems: string[] } {
  const keys: SagaApiKey[] = [];
  const problems: string[] = [];
  const entries = spec
    .split(',')
    .map((entry) => entry.trim())
    .filter(Boolean);
  for (const [i, entry] of entries.entries()) {
    const parts = entry.split(':');
    const where = `${variable} entry ${i + 1}`;
    if (parts.length === 2 && (ROLE_NAMES as readonly string[]).includes(parts[1])) {
      problems.push(
        `${where} is "key:role", the old format: name each key, "name:key:role" (such as ci-bot:<key>:operator)`,
      );
      continue;
    }
    if (parts.length !== 3 && parts.length !== 4) {
      problems.push(`${where} must be "name:key:role" or "name:key:role:type|type" (roles: viewer, operator, admin)`);
      continue;
    }
    const [name, key, role, types] = parts;
    keys.push({
      name,
      key,
      role: role as Role,
      ...(types !== undefined ? { sagaTypes: types.split('|').map((t) => t.trim()) } : {}),
    });
  }
  if (problems.length === 0) problems.push(...checkApiKeys(keys, variable));
  return { keys, problems };
}

/** The problems of a list of keys (from the environment or from `api.keys`), each naming `where` and the entry. */
export function checkApiKeys(keys: readonly SagaApiKey[], where: string): string[] {
  const problems: string[] = [];
  if (keys.length === 0) problems.push(`${where} must hold at least one key`);
  const names = new Set<string>();
  const secrets = new Set<string>();
  for (const [i, entry] of keys.entries()) {
    const name = (entry as Partial<SagaApiKey>)?.name;
    const label =
      typeof name === 'string' && NAME_PATTERN.test(name) ? `${where} key "${name}"` : `${where} entry ${i + 1}`;
    if (typeof name !== 'string' || !NAME_PATTERN.test(name)) {
      problems.push(`${label}: a name is required, 1-64 letters, digits, '.', '_' or '-' (such as ci-bot)`);
    } else if (names.has(name)) {
      problems.push(`${label}: the name is used twice (names must be unique)`);
    } else {
      names.add(name);
    }
    const key: unknown = entry?.key;
    if (typeof key !== 'string' || !KEY_PATTERN.test(key)) {
      problems.push(`${label}: the key must be a string without spaces, ':' or ','`);
    } else if (key.length < MIN_KEY_LENGTH) {
      problems.push(
        `${label}: the key is ${key.length} characters, keys need at least ${MIN_KEY_LENGTH} ` +
          '(make one with: openssl rand -base64 32 | tr -d =)',
      );
    } else if (secrets.has(key)) {
      problems.push(`${label}: the same key is given twice`);
    } else {
      secrets.add(key);
    }
    if (!ROLE_NAMES.includes(entry?.role)) problems.push(`${label}: role must be viewer, operator or admin`);
    const types = entry?.sagaTypes;
    if (types !== undefined) {
      if (!Array.isArray(types) || types.length === 0) {
        problems.push(`${label}: sagaTypes must list at least one saga type`);
      } else if (!types.every((t) => typeof t === 'string' && t.length <= 64 && TYPE_PATTERN.test(t))) {
        problems.push(`${label}: saga types must be kebab-case saga type names, separated by '|'`);
      }
    }
  }
  return problems;
}

/** `SAGA_API_KEYS` read into keys; throws an Error naming every problem. */
export function parseApiKeys(spec: string | undefined, variable = 'SAGA_API_KEYS'): SagaApiKey[] {
  const { keys, problems } = parseApiKeySpec(spec ?? '', variable);
  if (problems.length > 0) throw new Error(`Invalid configuration:\n  - ${problems.join('\n  - ')}`);
  return keys;
}
