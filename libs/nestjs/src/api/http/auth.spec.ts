import type { Request } from 'express';
import { normalizedPath } from '../setup-saga-app';
import { ApiKeys, Authenticator, clientAddress } from './auth';
import { parseQueryDate } from './query-params';
import { AuthRateLimits } from './rate-limit';

const KEY = 'k'.repeat(40);

describe('ApiKeys', () => {
  const keys = new ApiKeys([
    { name: 'ci-bot', key: KEY, role: 'operator' },
    { name: 'dash', key: 'd'.repeat(40), role: 'viewer', sagaTypes: ['order'] },
  ]);

  it('finds a key by its value and answers its name, role and types; never the key', () => {
    expect(keys.verify(KEY)).toEqual({ name: 'ci-bot', role: 'operator' });
    expect(keys.verify('d'.repeat(40))).toEqual({ name: 'dash', role: 'viewer', sagaTypes: ['order'] });
    expect(JSON.stringify(keys.verify(KEY))).not.toContain(KEY);
  });

  it('knows no other value: a prefix, a longer one, another case, an empty or huge one', () => {
    for (const candidate of [KEY.slice(0, 39), `${KEY}k`, KEY.toUpperCase(), '', 'x'.repeat(100_000)]) {
      expect(keys.verify(candidate)).toBeNull();
    }
  });

  it('holds digests under a secret of this process: the same key digests differently elsewhere', () => {
    const other = new ApiKeys([{ name: 'ci-bot', key: KEY, role: 'operator' }]);
    const digest = (k: ApiKeys) => (k as unknown as { keys: { digest: Buffer }[] }).keys[0].digest.toString('hex');
    expect(digest(other)).not.toBe(digest(keys));
  });

  it('answers copies: a caller cannot change what the next request gets', () => {
    const principal = keys.verify('d'.repeat(40))!;
    principal.sagaTypes!.push('refund');
    principal.role = 'admin';
    expect(keys.verify('d'.repeat(40))).toEqual({ name: 'dash', role: 'viewer', sagaTypes: ['order'] });
  });
});

describe('Authenticator', () => {
  const request = (authorization?: string) =>
    ({
      headers: authorization === undefined ? {} : { authorization },
      method: 'GET',
      ip: '10.1.1.1',
      url: '/v1/me',
    }) as unknown as Request;

  it('tries each credential source in turn; a source that throws is one that does not know the credential', async () => {
    const failing = { verify: () => Promise.reject(new Error('jwks down')) };
    const tokens = { verify: (c: string) => (c === 'token-1' ? { name: 'alice', role: 'viewer' as const } : null) };
    const auth = new Authenticator(
      [new ApiKeys([{ name: 'ci', key: KEY, role: 'admin' }]), failing, tokens],
      new AuthRateLimits({ perKeyPerMinute: 0, failuresPerAddress: 2 }),
    );
    expect(await auth.authenticate(request(`Bearer ${KEY}`))).toEqual({ name: 'ci', role: 'admin' });
    expect(await auth.authenticate(request('bearer   token-1 '))).toEqual({ name: 'alice', role: 'viewer' });
    expect(await auth.authenticate(request())).toMatchObject({ status: 401, code: 'AUTH_REQUIRED' });
    // Wrong credentials (and malformed headers) count against the address; no header at all does not.
    expect(await auth.authenticate(request('Bearer nope'))).toMatchObject({ status: 401 });
    expect(await auth.authenticate(request('Basic abc'))).toMatchObject({ status: 401 });
    expect(await auth.authenticate(request())).toMatchObject({ status: 401 });
    expect(await auth.authenticate(request('Bearer nope'))).toMatchObject({ status: 429, retryAfter: 30 });
    // A valid key from the blocked address still passes.
    expect(await auth.authenticate(request(`Bearer ${KEY}`))).toEqual({ name: 'ci', role: 'admin' });
  });
});

describe('clientAddress', () => {
  const at = (ip: string) => clientAddress({ ip } as Request);

  it('is the IPv4 address, also when mapped into IPv6', () => {
    expect(at('10.0.0.7')).toBe('10.0.0.7');
    expect(at('::ffff:10.0.0.7')).toBe('10.0.0.7');
  });

  it('is the /64 of an IPv6 address, however it is written', () => {
    expect(at('2001:db8:1:2:aaaa:bbbb:cccc:dddd')).toBe('2001:db8:1:2::/64');
    expect(at('2001:0db8:0001:0002::1')).toBe('2001:db8:1:2::/64');
    expect(at('2001:db8::1')).toBe('2001:db8:0:0::/64');
    expect(at('::1')).toBe('0:0:0:0::/64');
  });
});

describe('normalizedPath (the OpenAPI docs key check)', () => {
  it.each([
    ['/docs', '/docs'],
    ['//docs', '/docs'],
    ['/%2Fdocs', '/docs'],
    ['/%252Fdocs', '/docs'],
    ['/%64ocs-json', '/docs-json'],
    ['/./docs/', '/docs/'],
    ['\\docs', '/docs'],
    ['/%zz/docs', '/%zz/docs'],
  ])('%s reads as %s', (path, expected) => {
    expect(normalizedPath(path)).toBe(expected);
  });
});

describe('parseQueryDate', () => {
  it('reads a date as midnight UTC and a date-time with its offset', () => {
    expect(parseQueryDate('2026-01-31')?.toISOString()).toBe('2026-01-31T00:00:00.000Z');
    expect(parseQueryDate('2026-01-31T10:20+01:00')?.toISOString()).toBe('2026-01-31T09:20:00.000Z');
    expect(parseQueryDate('2024-02-29T00:00:00.5Z')?.toISOString()).toBe('2024-02-29T00:00:00.500Z');
  });

  it.each(['2025-02-29', '2026-04-31', '2026-01-01T00', '2026-W01-1', '20260101', '2026-01-01T10:00', 'T10:00Z'])(
    'refuses %s',
    (value) => expect(parseQueryDate(value)).toBeNull(),
  );
});
