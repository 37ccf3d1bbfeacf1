import { ConfigError, loadConfig, retentionMs } from './engine-config';
import { parseApiKeys } from './api-keys';
import { resolveSagaOptions } from '../module/options';
import { SagaConfigError } from '../module/options';
import { cipherForSagas } from '../security/input-cipher';

describe('loadConfig', () => {
  it('fills defaults for an empty environment', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({
      DATABASE_URL: undefined, // embedded PostgreSQL (resolveBackends)
      REDIS_URL: undefined, // BullMQ's PostgreSQL backend
      PORT: 3000,
      AGENT_CONCURRENCY: 50,
      BODY_LIMIT_BYTES: 1048576,
      // Time limits (docs/configuration.md#time-limits) and crash containment.
      DB_STATEMENT_TIMEOUT_MS: 5_000,
      DB_CONNECT_TIMEOUT_MS: 2_000,
      DB_SLOW_MS: 500,
      REDIS_COMMAND_TIMEOUT_MS: 1_000,
      SAGA_POISON_AFTER_DEATHS: 2,
    });
    expect(config.SAGA_API_KEYS).toBeUndefined();
  });

  it('treats an empty URL as unset', () => {
    expect(loadConfig({ DATABASE_URL: '', REDIS_URL: '' })).toMatchObject({
      DATABASE_URL: undefined,
      REDIS_URL: undefined,
    });
  });

  it('reads numbers and URLs', () => {
    const config = loadConfig({ PORT: '8080', DATABASE_URL: 'postgresql://u:p@db:5432/x', AGENT_CONCURRENCY: '7' });
    expect(config).toMatchObject({ PORT: 8080, DATABASE_URL: 'postgresql://u:p@db:5432/x', AGENT_CONCURRENCY: 7 });
  });

  it.each([
    [{ PORT: 'abc' }, 'PORT must be an integer between 0 and 65535'],
    [{ PORT: '70000' }, 'PORT must be an integer between 0 and 65535'],
    [{ PORT: '3.5' }, 'PORT must be an integer between 0 and 65535'],
    [{ DATABASE_URL: 'mysql://x' }, 'DATABASE_URL must be a postgres:// URL'],
    [{ REDIS_URL: 'localhost:6379' }, 'REDIS_URL must be a redis:// or rediss:// URL'],
    [{ SAGA_API_KEYS: 'short:admin' }, 'SAGA_API_KEYS entry 1 is "key:role", the old format'],
    [{ SAGA_API_KEYS: `${'k'.repeat(40)}:admin` }, 'SAGA_API_KEYS entry 1 is "key:role", the old format'],
    [{ SAGA_API_KEYS: `ci:${'k'.repeat(40)}:root` }, 'SAGA_API_KEYS key "ci": role must be viewer, operator or admin'],
    [
      { SAGA_API_KEYS: 'ci:sixteen-chars-key0:admin' },
      'SAGA_API_KEYS key "ci": the key is 18 characters, keys need at least 32',
    ],
    [{ SAGA_API_KEYS: `:${'k'.repeat(40)}:admin` }, 'SAGA_API_KEYS entry 1: a name is required'],
    [
      { SAGA_API_KEYS: `a:${'k'.repeat(40)}:admin,a:${'j'.repeat(40)}:viewer` },
      'SAGA_API_KEYS key "a": the name is used twice',
    ],
    [
      { SAGA_API_KEYS: `a:${'k'.repeat(40)}:admin,b:${'k'.repeat(40)}:viewer` },
      'SAGA_API_KEYS key "b": the same key is given twice',
    ],
    [{ SAGA_API_KEYS: `a:${'k'.repeat(40)}:viewer:Order` }, 'SAGA_API_KEYS key "a": saga types must be kebab-case'],
    [{ SAGA_API_KEYS: `a:${'k'.repeat(40)}:viewer:order:x` }, 'SAGA_API_KEYS entry 1 must be "name:key:role"'],
    [{ RATE_LIMIT_PER_MINUTE: '-1' }, 'RATE_LIMIT_PER_MINUTE must be an integer between 0 and 10000000'],
    [{ AUTH_FAILURES_PER_ADDRESS: 'many' }, 'AUTH_FAILURES_PER_ADDRESS must be an integer between 0 and 1000000'],
    [{ TRUST_PROXY: 'yes please' }, 'TRUST_PROXY must be a number of hops'],
    [{ AGENT_CONCURRENCY: '0' }, 'AGENT_CONCURRENCY must be an integer between 1 and 1000'],
    [{ LOG_LEVEL: 'loud' }, 'LOG_LEVEL must be error, warn, log, debug or verbose'],
    [{ LOG_FORMAT: 'xml' }, 'LOG_FORMAT must be auto, json or pretty'],
    [{ SAGA_ENCRYPTION_KEY: 'not-a-key' }, 'SAGA_ENCRYPTION_KEY must be 32 bytes as 64 hex digits or 44 base64'],
    [{ SAGA_ENCRYPTION_KEY: 'ab'.repeat(31) }, 'SAGA_ENCRYPTION_KEY must be 32 bytes as 64 hex digits or 44 base64'],
    [{ SAGA_ENCRYPTION_KEY: 'QUFB' }, 'SAGA_ENCRYPTION_KEY must be 32 bytes as 64 hex digits or 44 base64'],
    [{ SAGA_ENCRYPTION_KEYS_OLD: 'ab'.repeat(32) + ',x' }, 'SAGA_ENCRYPTION_KEYS_OLD must be keys like'],
    [{ PARTICIPANT_FAILURES_TO_OPEN: '0' }, 'PARTICIPANT_FAILURES_TO_OPEN must be an integer between 1 and 1000'],
    [{ PARTICIPANT_HALF_OPEN_MS: '5' }, 'PARTICIPANT_HALF_OPEN_MS must be an integer between 10 and 3600000'],
    [{ RETENTION_FINISHED_AFTER: '30' }, 'RETENTION_FINISHED_AFTER must be a duration such as 30d'],
    [{ RETENTION_FINISHED_AFTER: '0d' }, 'RETENTION_FINISHED_AFTER must be a duration such as 30d'],
    [{ RETENTION_FINISHED_AFTER: '2w' }, 'RETENTION_FINISHED_AFTER must be a duration such as 30d'],
    [{ RETENTION_FINISHED_AFTER: '-1d' }, 'RETENTION_FINISHED_AFTER must be a duration such as 30d'],
    [{ DB_STATEMENT_TIMEOUT_MS: '-1' }, 'DB_STATEMENT_TIMEOUT_MS must be an integer between 0 and 3600000'],
    [{ DB_CONNECT_TIMEOUT_MS: '10' }, 'DB_CONNECT_TIMEOUT_MS must be an integer between 100 and 600000'],
    [{ DB_SLOW_MS: '0' }, 'DB_SLOW_MS must be an integer between 10 and 60000'],
    [{ REDIS_COMMAND_TIMEOUT_MS: '10' }, 'REDIS_COMMAND_TIMEOUT_MS must be an integer between 50 and 600000'],
    [{ SAGA_POISON_AFTER_DEATHS: '0' }, 'SAGA_POISON_AFTER_DEATHS must be an integer between 1 and 100'],
  ])('refuses %j, naming the variable', (env, message) => {
    expect(() => loadConfig(env)).toThrow(ConfigError);
    expect(() => loadConfig(env)).toThrow(message);
  });

  it('names every bad variable at once', () => {
    expect(() => loadConfig({ PORT: 'x', REDIS_URL: 'y' })).toThrow(/PORT[\s\S]*REDIS_URL|REDIS_URL[\s\S]*PORT/);
  });
});

describe('retentionMs', () => {
  it('reads RETENTION_FINISHED_AFTER; unset or off keeps finished sagas forever', () => {
    expect(retentionMs(loadConfig({ RETENTION_FINISHED_AFTER: '30d' }))).toBe(30 * 86_400_000);
    expect(retentionMs(loadConfig({ RETENTION_FINISHED_AFTER: '12h' }))).toBe(12 * 3_600_000);
    expect(retentionMs(loadConfig({ RETENTION_FINISHED_AFTER: '90m' }))).toBe(90 * 60_000);
    expect(retentionMs(loadConfig({ RETENTION_FINISHED_AFTER: '45s' }))).toBe(45_000);
    expect(retentionMs(loadConfig({ RETENTION_FINISHED_AFTER: 'off' }))).toBeNull();
    expect(retentionMs(loadConfig({}))).toBeNull();
  });
});

describe('API keys (SAGA_API_KEYS, api.keys)', () => {
  const key = (c: string) => c.repeat(32);

  it('reads name:key:role[:type|type] entries, tolerating spaces', () => {
    expect(parseApiKeys(` ci-bot:${key('a')}:operator , dash:${key('b')}:viewer:order|refund `)).toEqual([
      { name: 'ci-bot', key: key('a'), role: 'operator' },
      { name: 'dash', key: key('b'), role: 'viewer', sagaTypes: ['order', 'refund'] },
    ]);
  });

  it('the defaults: 1,200 requests a minute per key, 10 wrong keys per address', () => {
    expect(loadConfig({})).toMatchObject({ RATE_LIMIT_PER_MINUTE: 1200, AUTH_FAILURES_PER_ADDRESS: 10 });
  });

  it('never echoes a key in a message, however it is wrong', () => {
    const secret = 'SECRET-0123456789';
    for (const spec of [
      `${secret}:admin`,
      `x:${secret}:admin`,
      `x:${secret}:boss`,
      `x:${secret}`,
      `x y:${secret}:admin`,
    ]) {
      try {
        loadConfig({ SAGA_API_KEYS: spec });
        throw new Error(`accepted ${spec}`);
      } catch (error) {
        expect(error).toBeInstanceOf(ConfigError);
        expect((error as Error).message).not.toContain(secret);
      }
    }
  });

  it('api.keys given as objects are checked the same way, naming the option', () => {
    const options = (keys: unknown) =>
      resolveSagaOptions({ databaseUrl: 'postgres://x/y', api: { keys: keys as never } }, ['api']);
    expect(() => options([{ key: key('a'), role: 'admin' }])).toThrow('api.keys entry 1: a name is required');
    expect(() => options([{ name: 'ci', key: 'short-key-0123456789', role: 'admin' }])).toThrow(
      'api.keys key "ci": the key is 20 characters, keys need at least 32',
    );
    expect(() => options(`${key('a')}:admin`)).toThrow('api.keys entry 1 is "key:role", the old format');
    expect(options([{ name: 'ci', key: key('a'), role: 'admin', sagaTypes: ['order'] }]).api.keys).toEqual([
      { name: 'ci', key: key('a'), role: 'admin', sagaTypes: ['order'] },
    ]);
  });
});

describe('ALERT_WEBHOOK_URL', () => {
  it('is optional, and read when set', () => {
    expect(loadConfig({}).ALERT_WEBHOOK_URL).toBeUndefined();
    expect(loadConfig({ ALERT_WEBHOOK_URL: '' }).ALERT_WEBHOOK_URL).toBeUndefined();
    for (const url of [
      'https://hooks.example.com/T0/B1?token=x',
      'http://127.0.0.1:9000/alerts',
      'http://localhost/a',
    ]) {
      expect(loadConfig({ ALERT_WEBHOOK_URL: url }).ALERT_WEBHOOK_URL).toBe(url);
    }
  });

  it.each(['hooks.example.com/alerts', 'ftp://example.com/x', 'javascript:alert(1)', 'http://', 'not a url'])(
    'refuses %j, naming the variable',
    (url) => {
      expect(() => loadConfig({ ALERT_WEBHOOK_URL: url })).toThrow(
        'ALERT_WEBHOOK_URL must be an http:// or https:// URL',
      );
    },
  );

  it.each([
    ['http://127.0.0.1:6000/alerts', 'ALERT_WEBHOOK_URL uses port 6000, which fetch refuses'],
    ['https://user:secret@hooks.example.com/x', 'ALERT_WEBHOOK_URL must not carry a user or password'],
  ])('refuses %j, which fetch would refuse at every alert', (url, message) => {
    expect(() => loadConfig({ ALERT_WEBHOOK_URL: url })).toThrow(message);
  });
});

describe('SAGA_ENCRYPTION_KEY', () => {
  const hex = 'ab'.repeat(32);
  const base64 = Buffer.alloc(32, 1).toString('base64');

  it('takes 64 hex digits or 44 base64 characters, and retired keys comma-separated', () => {
    expect(loadConfig({ SAGA_ENCRYPTION_KEY: hex }).SAGA_ENCRYPTION_KEY).toBe(hex);
    expect(loadConfig({ SAGA_ENCRYPTION_KEY: base64, SAGA_ENCRYPTION_KEYS_OLD: `${hex}, ${base64}` })).toMatchObject({
      SAGA_ENCRYPTION_KEY: base64,
      SAGA_ENCRYPTION_KEYS_OLD: `${hex}, ${base64}`,
    });
  });

  it('never echoes a bad key in the message', () => {
    const bad = 'my-secret-but-wrong-key-material-0123456789';
    expect(() => loadConfig({ SAGA_ENCRYPTION_KEY: bad })).toThrow(ConfigError);
    try {
      loadConfig({ SAGA_ENCRYPTION_KEY: bad });
    } catch (error) {
      expect((error as Error).message).not.toContain(bad);
    }
  });

  it('is required once a saga declares sensitive fields, naming the variable and the saga', () => {
    const sagas = [
      { name: 'checkout', sensitive: ['card'] },
      { name: 'plain', sensitive: [] },
    ] as never[];
    expect(() => cipherForSagas(null, [], sagas)).toThrow(SagaConfigError);
    expect(() => cipherForSagas(null, [], sagas)).toThrow(
      'encryptionKey (SAGA_ENCRYPTION_KEY) is not set, but saga type(s) checkout declare sensitive input fields',
    );
    expect(cipherForSagas(null, [], [sagas[1]])).toBeNull();
    expect(cipherForSagas(hex, [], sagas)).not.toBeNull();
  });
});
