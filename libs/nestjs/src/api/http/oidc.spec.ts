import { ConfigError, loadConfig } from '../../config/engine-config';
import { sagaOptionsFromEnv } from '../../config/env-options';
import { resolveSagaOptions } from '../../module/options';
import { looksLikeJwt } from './oidc';

describe('single sign-on configuration', () => {
  const base = { DATABASE_URL: 'postgres://u@h/db', SAGA_API_KEYS: `ops:${'k'.repeat(40)}:admin` };

  it('reads SAGA_OIDC_* into api.oidc, with defaults', () => {
    const config = loadConfig({
      ...base,
      SAGA_OIDC_ISSUER: 'https://idp.example.com/realms/ops',
      SAGA_OIDC_AUDIENCE: 'saga-api, saga-dashboard',
      SAGA_OIDC_ROLE_MAP: 'saga-admins=admin,ops=operator',
      SAGA_OIDC_CLIENT_ID: 'saga-dashboard',
    });
    expect(sagaOptionsFromEnv(config).options.api?.oidc).toEqual({
      issuer: 'https://idp.example.com/realms/ops',
      audience: ['saga-api', 'saga-dashboard'],
      roleClaim: 'roles',
      roleMap: { 'saga-admins': 'admin', ops: 'operator' },
      nameClaim: 'preferred_username',
      algorithms: ['RS256', 'PS256', 'ES256', 'EdDSA'],
      clockToleranceSec: 30,
      timeoutMs: 3000,
      clientId: 'saga-dashboard',
      scopes: 'openid profile email',
      resource: undefined,
    });
    expect(sagaOptionsFromEnv(loadConfig(base)).options.api?.oidc).toBeUndefined();
  });

  it.each([
    [{ SAGA_OIDC_ISSUER: 'http://idp.example.com' }, 'SAGA_OIDC_ISSUER must be an https:// URL'],
    [{ SAGA_OIDC_ISSUER: 'https://idp.example.com' }, 'SAGA_OIDC_AUDIENCE is required with SAGA_OIDC_ISSUER'],
    [{ SAGA_OIDC_AUDIENCE: 'x' }, 'SAGA_OIDC_AUDIENCE need SAGA_OIDC_ISSUER'],
    [{ SAGA_OIDC_ROLE_MAP: 'a=root' }, 'SAGA_OIDC_ROLE_MAP must be value=role pairs'],
    [{ SAGA_OIDC_ALGORITHMS: 'HS256' }, 'SAGA_OIDC_ALGORITHMS must be RS256'],
    [{ SAGA_OIDC_ALGORITHMS: 'RS256,none' }, 'SAGA_OIDC_ALGORITHMS must be RS256'],
    [{ SAGA_OIDC_TIMEOUT_MS: '10' }, 'SAGA_OIDC_TIMEOUT_MS must be an integer between 100 and 60000'],
  ])('refuses %j', (env, message) => {
    expect(() => loadConfig({ ...base, ...env })).toThrow(ConfigError);
    expect(() => loadConfig({ ...base, ...env })).toThrow(message);
  });

  it('accepts http:// issuers on loopback only (tests, development)', () => {
    expect(loadConfig({ SAGA_OIDC_ISSUER: 'http://127.0.0.1:4000', SAGA_OIDC_AUDIENCE: 'a' }).SAGA_OIDC_ISSUER).toBe(
      'http://127.0.0.1:4000',
    );
  });

  it('SagaModule options: oidc checked, keys may be empty with it', () => {
    const oidc = { issuer: 'https://idp.example.com', audience: 'saga-api' };
    expect(resolveSagaOptions({ databaseUrl: 'postgres://u@h/db', api: { keys: [], oidc } }, ['api']).api.oidc).toEqual(
      oidc,
    );
    expect(() => resolveSagaOptions({ databaseUrl: 'postgres://u@h/db', api: { keys: [] } }, ['api'])).toThrow(
      /at least one key \(or configure api.oidc\)/,
    );
    expect(() =>
      resolveSagaOptions(
        {
          databaseUrl: 'postgres://u@h/db',
          api: { keys: [], oidc: { ...oidc, algorithms: ['HS256'], roleMap: { x: 'root' as 'admin' } } },
        },
        ['api'],
      ),
    ).toThrow(/roleMap[\s\S]*asymmetric/);
  });

  it('tells a JWT from an API key', () => {
    expect(looksLikeJwt('eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln')).toBe(true);
    expect(looksLikeJwt('test-admin-key-0123456789')).toBe(false);
    expect(looksLikeJwt('a.b')).toBe(false);
  });
});
