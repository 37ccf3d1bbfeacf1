import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { UsageError } from './errors';
import type { CliIo } from './io';

export const DEFAULT_URL = 'http://127.0.0.1:3000';
/** Where `npm start` (and the orchestrator without `SAGA_API_KEYS`) writes this machine's admin key. */
export const LOCAL_ADMIN_KEY_FILE = join('.saga-data', 'admin.key');

/** The global flags that say where the engine is and which key to use. */
export interface ConnectionFlags {
  url?: string;
  key?: string;
  keyFile?: string;
}

export interface Connection {
  url: string;
  /** Where the URL came from: `--url`, `SAGA_URL` or `the default`. */
  urlSource: string;
  apiKey: string;
  /** Where the key came from (`--key`, `--key-file <path>`, `SAGA_API_KEY`, the local admin key): never the key. */
  keySource: string;
}

/**
 * The engine's URL and the API key, from the flags, else the environment, else the defaults:
 *
 * - URL: `--url`, `SAGA_URL`, `http://127.0.0.1:3000`.
 * - Key: `--key`, `--key-file`, `SAGA_API_KEY`, `./.saga-data/admin.key` (what `npm start` writes). `--key` and
 *   `--key-file` together are a usage error; so is no key at all.
 */
export function resolveConnection(flags: ConnectionFlags, io: CliIo): Connection {
  const envUrl = nonEmpty(io.env.SAGA_URL);
  const [url, urlSource] =
    flags.url !== undefined ? [flags.url, '--url'] : envUrl ? [envUrl, 'SAGA_URL'] : [DEFAULT_URL, 'the default'];
  return { url, urlSource, ...resolveKey(flags, io) };
}

function resolveKey(flags: ConnectionFlags, io: CliIo): { apiKey: string; keySource: string } {
  if (flags.key !== undefined && flags.keyFile !== undefined) {
    throw new UsageError('--key and --key-file: pass one of them');
  }
  if (flags.key !== undefined) return { apiKey: flags.key, keySource: '--key' };
  if (flags.keyFile !== undefined) {
    return {
      apiKey: readKeyFile(resolve(io.cwd, flags.keyFile), `--key-file ${flags.keyFile}`),
      keySource: `--key-file ${flags.keyFile}`,
    };
  }
  const envKey = nonEmpty(io.env.SAGA_API_KEY);
  if (envKey) return { apiKey: envKey, keySource: 'SAGA_API_KEY' };
  const local = resolve(io.cwd, LOCAL_ADMIN_KEY_FILE);
  if (existsSync(local)) {
    return {
      apiKey: readKeyFile(local, LOCAL_ADMIN_KEY_FILE),
      keySource: `the local admin key ${LOCAL_ADMIN_KEY_FILE}`,
    };
  }
  throw new UsageError(
    `no API key: pass --key-file <path> (or --key <key>), or set SAGA_API_KEY; ` +
      `on the machine that runs \`npm start\`, run saga where ${LOCAL_ADMIN_KEY_FILE} is`,
  );
}

/** The key in a file (first line, trimmed), or a usage error naming the file, never its content. */
function readKeyFile(path: string, what: string): string {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    throw new UsageError(`${what}: cannot read the file (${typeof code === 'string' ? code : 'error'})`);
  }
  const key = text.split(/\r?\n/)[0].trim();
  if (key === '') throw new UsageError(`${what}: the file is empty`);
  return key;
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === '' ? undefined : value.trim();
}
