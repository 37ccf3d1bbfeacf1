import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { generateEncryptionKey, parseEncryptionKey } from '../security/input-cipher';

/**
 * Secrets for a development machine, kept in a directory (`.saga-data` of the project) so that they survive
 * restarts: made once, read on every later start, until someone deletes the file. Files are mode 600.
 */
export interface LocalSecret {
  value: string;
  /** The file, as a path relative to the working directory when it is under it. */
  file: string;
  /** Made by this start (false: read from the file). */
  created: boolean;
}

/**
 * An admin API key for this machine, for when no keys are configured (the API is never open): `.saga-data/admin.key`,
 * named `admin` (`SAGA_API_KEYS=admin:<it>:admin`).
 * The same key on every start, so a restart keeps the dashboard logged in and `$KEY` valid in every shell.
 */
export function localAdminKey(dir: string): LocalSecret {
  return localSecret(
    join(dir, 'admin.key'),
    () => `sk_${randomBytes(24).toString('base64url')}`,
    (text) => /^[^\s:,]{32,}$/.test(text),
  );
}

/**
 * A key for the sensitive input fields, for a machine without SAGA_ENCRYPTION_KEY: `.saga-data/encryption.key`.
 * Never regenerated while the file exists: losing it loses the sensitive fields of the sagas in flight.
 */
export function localEncryptionKey(dir: string): LocalSecret {
  return localSecret(join(dir, 'encryption.key'), generateEncryptionKey, (text) => parseEncryptionKey(text) !== null);
}

function localSecret(file: string, make: () => string, valid: (text: string) => boolean): LocalSecret {
  const shown = relative(process.cwd(), file).startsWith('..') ? file : relative(process.cwd(), file);
  if (existsSync(file)) {
    const value = readFileSync(file, 'utf8').trim();
    if (!valid(value)) throw new Error(`${shown} does not hold a valid key: delete it to have a new one made`);
    return { value, file: shown, created: false };
  }
  const value = make();
  mkdirSync(join(file, '..'), { recursive: true });
  writeFileSync(file, `${value}\n`, { mode: 0o600, flag: 'wx' });
  return { value, file: shown, created: true };
}
