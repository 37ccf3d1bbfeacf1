// `npm run compose:env`: the secrets docker-compose.yml requires, generated once into `.env` (mode 600) beside it,
// where `docker compose` reads them. The repository holds none: compose refuses to start without them.
//
//   npm run compose:env              writes .env, or leaves an existing one alone (its keys open the data)
//   npm run compose:env -- --print   prints a fresh set instead (to paste into a secret store)
//   npm run compose:env -- --out F   writes F instead of .env
//
// What it makes: POSTGRES_PASSWORD (the owner's: migrations only), SAGA_DB_PASSWORD (the engine's role, saga_app)
// and REDIS_PASSWORD (hex, URL-safe), SAGA_ENCRYPTION_KEY (32 random bytes,
// base64: keep it, rows sealed with it need it to open), and two API keys in SAGA_API_KEYS: `admin` (the admin key,
// also in SAGA_ADMIN_KEY for `curl` and the dashboard) and `drones` (operator, limited to the drone-delivery saga:
// the demo's drones report DeliveryCompleted with it, as SAGA_SIGNAL_KEY).
import { randomBytes } from 'node:crypto';
import { existsSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const print = args.includes('--print');
const outAt = args.indexOf('--out');
const out = outAt >= 0 ? resolve(args[outAt + 1] ?? '') : join(root, '.env');

/** An API key: 32 random bytes, base64url (43 characters, no `:` or `,`). */
const apiKey = () => `sk_${randomBytes(32).toString('base64url')}`;

export function composeSecrets() {
  const admin = apiKey();
  const drones = apiKey();
  return {
    POSTGRES_PASSWORD: randomBytes(24).toString('hex'),
    SAGA_DB_PASSWORD: randomBytes(24).toString('hex'),
    REDIS_PASSWORD: randomBytes(24).toString('hex'),
    SAGA_ENCRYPTION_KEY: randomBytes(32).toString('base64'),
    SAGA_API_KEYS: `admin:${admin}:admin,drones:${drones}:operator:drone-delivery`,
    SAGA_ADMIN_KEY: admin,
    SAGA_SIGNAL_KEY: drones,
  };
}

const text = (secrets) =>
  [
    '# Secrets for docker-compose.yml, made by `npm run compose:env`. Never commit this file.',
    '# SAGA_ENCRYPTION_KEY opens the sensitive fields of every saga: keep it (and a copy) as long as the data.',
    ...Object.entries(secrets).map(([name, value]) => `${name}=${value}`),
    '',
  ].join('\n');

if (print) {
  process.stdout.write(text(composeSecrets()));
} else if (existsSync(out)) {
  console.log(`${out} exists: left as it is (its keys open the data made with them). Delete it for new ones.`);
} else {
  writeFileSync(out, text(composeSecrets()), { mode: 0o600, flag: 'wx' });
  console.log(`wrote ${out} (mode 600): docker compose up reads it. The admin key: grep SAGA_ADMIN_KEY ${out}`);
}
