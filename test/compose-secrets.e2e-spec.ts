import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { parseApiKeys } from '../libs/nestjs/src/config/api-keys';
import { loadConfig } from '../libs/nestjs/src/config/engine-config';
import { itIf } from './support/skip';

const ROOT = join(__dirname, '..');
const COMPOSE = readFileSync(join(ROOT, 'docker-compose.yml'), 'utf8');
/** Every secret compose needs: each must be required (`${VAR:?...}`), none given a value or a default. */
const SECRETS = ['POSTGRES_PASSWORD', 'REDIS_PASSWORD', 'SAGA_ENCRYPTION_KEY', 'SAGA_API_KEYS', 'SAGA_SIGNAL_KEY'];

/** The fixed key compose shipped before (in two pieces, so that this file does not hold it whole). */
const OLD_COMPOSE_KEY = ['ZGV2LW9ubHktc2FnYS1l', 'bmNyeXB0aW9uLWtleS0zMmI='].join('');

const composeCli = spawnSync('docker', ['compose', 'version'], { encoding: 'utf8' });
const hasCompose = composeCli.status === 0;

/** The environment of `docker compose config`, without this process's secrets. */
const cleanEnv = (extra: Record<string, string> = {}) => {
  const env: Record<string, string> = { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...extra };
  return env;
};

/**
 * Issue 18, item 2: the repository ships no working secret. docker-compose.yml requires every secret (compose
 * refuses to start without it, naming it), `npm run compose:env` makes them, Redis has a password, the demo's
 * ports are this machine's only, and no file in the repository holds a key that would work.
 */
describe('compose ships no secret (e2e)', () => {
  it('requires every secret with ${VAR:?...}, and gives none a value or a default', () => {
    for (const name of SECRETS) {
      const uses = [...COMPOSE.matchAll(new RegExp(`\\$\\{${name}([^}]*)\\}`, 'g'))].map((m) => m[1]);
      expect({ name, used: uses.length > 0 }).toEqual({ name, used: true });
      for (const use of uses) expect({ name, use }).toEqual({ name, use: ':?run npm run compose:env' });
    }
    // No literal value for a secret anywhere in the file (a key: value that is not a ${...} reference).
    const doc = parse(COMPOSE, { merge: true }) as Record<string, any>;
    const literal: string[] = [];
    const walk = (value: unknown, path: string) => {
      if (value && typeof value === 'object') {
        for (const [k, v] of Object.entries(value)) walk(v, `${path}.${k}`);
      } else if (typeof value === 'string') {
        const key = path.split('.').pop() ?? '';
        if (/PASSWORD|SECRET|_KEY|KEYS|AUTH/.test(key) && !/^\$\{[A-Z_]+:\?[^}]+\}$/.test(value)) literal.push(path);
        const withoutRefs = value.replace(/\$\{[^}]*\}/g, '');
        if (/:\/\/[^/@]*:[^@/]+@/.test(withoutRefs)) literal.push(path);
      }
    };
    walk(doc, 'compose');
    expect(literal).toEqual([]);
  });

  it('Redis has a password, the engine and the demo reach it with that password', () => {
    const doc = parse(COMPOSE, { merge: true }) as {
      services: Record<string, any>;
      'x-engine-env': Record<string, string>;
    };
    expect(doc.services.redis.command.join(' ')).toContain('--requirepass ${REDIS_PASSWORD:?');
    expect(doc['x-engine-env'].REDIS_URL).toBe('redis://:${REDIS_PASSWORD:?run npm run compose:env}@redis:6379');
    for (const service of ['orchestrator', 'agent-1', 'agent-2', 'demo']) {
      expect(doc.services[service].environment.REDIS_URL).toContain('${REDIS_PASSWORD:?');
    }
  });

  it('publishes ports on this machine only (the demo services always; the API unless SAGA_BIND says otherwise)', () => {
    const doc = parse(COMPOSE, { merge: true }) as { services: Record<string, { ports?: string[] }> };
    const published = Object.entries(doc.services).flatMap(([name, s]) => (s.ports ?? []).map((p) => [name, p]));
    expect(published).toEqual([
      ['orchestrator', '${SAGA_BIND:-127.0.0.1}:3000:3000'],
      ['demo', '127.0.0.1:3100:3100'],
    ]);
  });

  it('npm run compose:env writes working secrets once (mode 600), and never overwrites them', () => {
    const dir = mkdtempSync(join(tmpdir(), 'compose-env-'));
    const out = join(dir, '.env');
    const run = () =>
      execFileSync(process.execPath, [join(ROOT, 'scripts/compose-env.mjs'), '--out', out], { encoding: 'utf8' });
    expect(run()).toContain('wrote');
    const first = readFileSync(out, 'utf8');
    expect(statSync(out).mode & 0o777).toBe(0o600);
    expect(run()).toContain('left as it is');
    expect(readFileSync(out, 'utf8')).toBe(first);
    const env = Object.fromEntries(
      first
        .split('\n')
        .filter((line) => /^[A-Z_]+=/.test(line))
        .map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]),
    );
    expect(Object.keys(env)).toEqual(expect.arrayContaining(SECRETS));
    // The engine accepts them as they are; the signal key is an ordinary named key of SAGA_API_KEYS.
    const config = loadConfig({ SAGA_API_KEYS: env.SAGA_API_KEYS, SAGA_ENCRYPTION_KEY: env.SAGA_ENCRYPTION_KEY });
    const keys = parseApiKeys(config.SAGA_API_KEYS);
    expect(keys.map((k) => [k.name, k.role, k.sagaTypes])).toEqual([
      ['admin', 'admin', undefined],
      ['drones', 'operator', ['drone-delivery']],
    ]);
    expect(keys.find((k) => k.name === 'drones')?.key).toBe(env.SAGA_SIGNAL_KEY);
    expect(keys.find((k) => k.name === 'admin')?.key).toBe(env.SAGA_ADMIN_KEY);
    // Fresh every time.
    const printed = execFileSync(process.execPath, [join(ROOT, 'scripts/compose-env.mjs'), '--print'], {
      encoding: 'utf8',
    });
    expect(printed).not.toContain(env.SAGA_ENCRYPTION_KEY);
  });

  itIf(hasCompose, 'docker compose is not installed (apt-get install docker-compose-plugin)')(
    'docker compose config refuses to start without the secrets, naming the first missing one',
    () => {
      const refused = spawnSync('docker', ['compose', '-f', join(ROOT, 'docker-compose.yml'), 'config', '-q'], {
        cwd: mkdtempSync(join(tmpdir(), 'compose-none-')),
        env: cleanEnv(),
        encoding: 'utf8',
      });
      expect(refused.status).not.toBe(0);
      expect(refused.stderr).toMatch(/(POSTGRES_PASSWORD|REDIS_PASSWORD|SAGA_[A-Z_]+).*npm run compose:env/);
      const secrets = Object.fromEntries(
        execFileSync(process.execPath, [join(ROOT, 'scripts/compose-env.mjs'), '--print'], { encoding: 'utf8' })
          .split('\n')
          .filter((line) => /^[A-Z_]+=/.test(line))
          .map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]),
      );
      const accepted = spawnSync('docker', ['compose', '-f', join(ROOT, 'docker-compose.yml'), 'config', '-q'], {
        env: cleanEnv(secrets),
        encoding: 'utf8',
      });
      expect(accepted.stderr).toBe('');
      expect(accepted.status).toBe(0);
    },
  );

  it('no file of the repository holds a key that would work', () => {
    const files = execFileSync('git', ['ls-files', '-z'], { cwd: ROOT, encoding: 'utf8' })
      .split('\0')
      .filter((f) => f && !/(^|\/)(package-lock\.json|CHANGELOG\.md)$|\.(png|jpg|ico|woff2?)$/.test(f));
    const found: string[] = [];
    for (const file of files) {
      let text: string;
      try {
        text = readFileSync(join(ROOT, file), 'utf8');
      } catch {
        continue;
      }
      // The fixed encryption key compose used to ship, and any other literal SAGA_ENCRYPTION_KEY value.
      if (text.includes(OLD_COMPOSE_KEY)) found.push(`${file}: the old compose key`);
      for (const m of text.matchAll(/SAGA_ENCRYPTION_KEY[=:]\s*['"]?([A-Za-z0-9+/]{43}=|[0-9a-fA-F]{64})\b/g)) {
        found.push(`${file}: SAGA_ENCRYPTION_KEY=${m[1].slice(0, 6)}...`);
      }
      // A SAGA_API_KEYS value with a literal key of 32+ characters (tests and examples build theirs in code).
      for (const m of text.matchAll(/SAGA_API_KEYS[=:]\s*['"]?([^\s'"`$<]+)/g)) {
        if (/:[^\s:,<>$]{32,}:(viewer|operator|admin)/.test(m[1]))
          found.push(`${file}: SAGA_API_KEYS=${m[1].slice(0, 12)}...`);
      }
      // Private keys, and the shapes of well-known cloud tokens.
      if (/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(text)) found.push(`${file}: a private key`);
      if (/\b(AKIA[0-9A-Z]{16}|ghp_[A-Za-z0-9]{36}|xox[bp]-[A-Za-z0-9-]{20,})\b/.test(text))
        found.push(`${file}: a token`);
    }
    expect(found).toEqual([]);
  });
});
