import { createServer, type Server, type Socket } from 'node:net';
import { SignJWT, exportJWK, generateKeyPair } from 'jose';
import { defineSaga } from '@saga-engine/sdk';
import { startOidcProvider, type TestOidcProvider } from './support/oidc';
import { freePort, startTestEngine, type TestEngine } from './support/test-engine';

/**
 * Issue 18, single sign-on for the API: OIDC/JWT bearer tokens of a real OpenID Provider (oidc-provider, run
 * locally), verified with jose against the keys its discovery document names. A token per role gets that role;
 * wrong audience, wrong issuer, expired, tampered, unknown key, a symmetric or no algorithm get a 401 that says
 * what is wrong; a token without a role a 403; an identity provider that hangs a fast 503, never a hung request.
 * API keys keep working beside tokens.
 */
const simple = defineSaga('sso-simple', { version: 1 })
  .step('only', { run: () => ({ ok: true }) })
  .build();

const bearer = (token: string) => ({ Authorization: `Bearer ${token}` });

describe('SSO: OIDC bearer tokens on the API (e2e)', () => {
  let idp: TestOidcProvider;
  let engine: TestEngine;

  beforeAll(async () => {
    idp = await startOidcProvider({ redirectUris: ['http://127.0.0.1:1/dashboard/'] });
    engine = await startTestEngine({
      sagas: [simple],
      env: {
        SAGA_OIDC_ISSUER: idp.issuer,
        SAGA_OIDC_AUDIENCE: idp.audience,
        SAGA_OIDC_ROLE_CLAIM: 'roles',
        SAGA_OIDC_CLOCK_TOLERANCE_S: '5',
      },
    });
  });
  afterAll(async () => {
    await engine?.close();
    await idp?.stop();
  });

  const me = (token: string) => engine.http().get('/v1/me').set(bearer(token));

  it('a token of the provider for each role gets that role, and the role matrix holds', async () => {
    for (const role of ['viewer', 'operator', 'admin'] as const) {
      const token = await idp.serviceToken(`svc-${role}`);
      const res = await me(token);
      expect({ role, status: res.status, body: res.body }).toEqual({
        role,
        status: 200,
        body: expect.objectContaining({ role }),
      });
      const start = await engine.http().post('/v1/sagas').set(bearer(token)).send({ type: 'sso-simple', input: {} });
      expect({ role, status: start.status }).toEqual({ role, status: role === 'viewer' ? 403 : 201 });
      const audit = await engine.http().get('/v1/audit').set(bearer(token));
      expect({ role, status: audit.status }).toEqual({ role, status: role === 'admin' ? 200 : 403 });
    }
    // API keys still work beside tokens.
    expect((await engine.as('viewer').get('/v1/me')).status).toBe(200);
  });

  it('names the token user in the audit', async () => {
    const token = await idp.serviceToken('svc-operator');
    const started = await engine.http().post('/v1/sagas').set(bearer(token)).send({ type: 'sso-simple', input: {} });
    expect(started.status).toBe(201);
    await engine.waitForStatus(started.body.id, ['COMPLETED']);
    const refused = await engine
      .http()
      .post(`/v1/sagas/${started.body.id}/cancel`)
      .set(bearer(token))
      .send({ reason: 'too late' });
    expect(refused.status).toBe(409);
    const audit = await engine.as('admin').get(`/v1/audit?sagaId=${started.body.id}`);
    expect(audit.body.items[0]).toMatchObject({ actor: 'sso:svc-operator', role: 'operator', outcome: 'refused' });
  });

  it('refuses bad tokens with a 401 that says why', async () => {
    const valid = await idp.serviceToken('svc-admin');
    const [head, payload, signature] = valid.split('.');
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString());
    const now = Math.floor(Date.now() / 1000);
    const other = await generateKeyPair('RS256', { extractable: true });
    const otherJwk = { ...(await exportJWK(other.privateKey)), kid: 'not-the-providers' };
    const hs = await new SignJWT({ roles: ['admin'], sub: 'x', aud: idp.audience, iss: idp.issuer })
      .setProtectedHeader({ alg: 'HS256', kid: idp.signingKey.kid })
      .setIssuedAt()
      .setExpirationTime('5m')
      .sign(new TextEncoder().encode('a-shared-secret-of-at-least-32-bytes!!'));
    const none = `${Buffer.from(JSON.stringify({ alg: 'none' })).toString('base64url')}.${Buffer.from(
      JSON.stringify({ roles: ['admin'], sub: 'x', aud: idp.audience, iss: idp.issuer, exp: now + 300 }),
    ).toString('base64url')}.x`;
    const cases: [string, string, RegExp][] = [
      ['wrong audience', await idp.sign({ roles: ['admin'], aud: 'urn:someone-else' }), /audience \(aud\)/],
      ['wrong issuer', await idp.sign({ roles: ['admin'], iss: 'https://evil.example' }), /issuer \(iss\)/],
      ['expired', await idp.sign({ roles: ['admin'], iat: now - 600, exp: now - 60 }), /expired/],
      ['not yet valid', await idp.sign({ roles: ['admin'], nbf: now + 600 }), /not valid yet/],
      [
        'tampered (viewer made admin)',
        `${head}.${Buffer.from(JSON.stringify({ ...claims, roles: ['admin', 'x'] })).toString('base64url')}.${signature}`,
        /signature is invalid/,
      ],
      ['unknown kid', await idp.sign({ roles: ['admin'] }, { kid: 'not-the-providers', key: otherJwk }), /key \(kid\)/],
      ['HS256 (symmetric)', hs, /algorithm is not allowed/],
      ['alg none', none, /algorithm is not allowed|well-formed|invalid/],
      ['no exp', await idp.sign({ roles: ['admin'], exp: undefined }), /"exp"/],
    ];
    for (const [name, token, message] of cases) {
      const res = await me(token);
      expect({ name, status: res.status, code: res.body.code }).toEqual({ name, status: 401, code: 'AUTH_REQUIRED' });
      expect({ name, message: res.body.message }).toEqual({ name, message: expect.stringMatching(message) });
    }
    // Not a JWT and not a key: the usual answer.
    const garbage = await me('not-a-key-and-not-a-jwt-0000');
    expect(garbage.status).toBe(401);
    expect(garbage.body.message).toBe('unknown API key');
  });

  it('a valid token without a role gets 403, naming the claim', async () => {
    const res = await me(await idp.serviceToken('svc-none'));
    expect(res.status).toBe(403);
    expect(res.body).toMatchObject({ code: 'FORBIDDEN', message: expect.stringContaining('"roles"') });
  });

  it('opens the OpenAPI document to a token too', async () => {
    const token = await idp.serviceToken('svc-viewer');
    expect((await engine.http().get('/docs-json').set(bearer(token))).status).toBe(200);
    expect(
      (
        await engine
          .http()
          .get('/docs-json')
          .set(bearer(await idp.sign({ roles: ['admin'], exp: 1 })))
      ).status,
    ).toBe(401);
  });

  it('maps claim values with a role map, a dotted claim path, the highest role winning', async () => {
    const mapped = await startTestEngine({
      sagas: [simple],
      env: {
        SAGA_OIDC_ISSUER: idp.issuer,
        SAGA_OIDC_AUDIENCE: `urn:other,${idp.audience}`,
        SAGA_OIDC_ROLE_CLAIM: 'realm_access.roles',
        SAGA_OIDC_ROLE_MAP: 'saga-readers=viewer,saga-admins=admin',
      },
    });
    try {
      const token = await idp.sign({ realm_access: { roles: ['saga-readers', 'saga-admins', 'unrelated'] } });
      expect((await mapped.http().get('/v1/me').set(bearer(token))).body).toMatchObject({ role: 'admin' });
      const unmapped = await idp.sign({ realm_access: { roles: ['admin'] } });
      expect((await mapped.http().get('/v1/me').set(bearer(unmapped))).status).toBe(403);
    } finally {
      await mapped.close();
    }
  });

  describe('an identity provider that hangs', () => {
    let hung: Server;
    const sockets: Socket[] = [];
    let hungEngine: TestEngine;

    beforeAll(async () => {
      const port = await freePort();
      // Accepts connections and never answers a byte.
      hung = createServer((socket) => sockets.push(socket));
      await new Promise<void>((resolve) => hung.listen(port, '127.0.0.1', resolve));
      hungEngine = await startTestEngine({
        sagas: [simple],
        env: {
          SAGA_OIDC_ISSUER: `http://127.0.0.1:${port}`,
          SAGA_OIDC_AUDIENCE: 'urn:any',
          SAGA_OIDC_TIMEOUT_MS: '500',
        },
      });
    });
    afterAll(async () => {
      await hungEngine?.close();
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => hung.close(resolve));
    });

    it('answers 503 fast, and API keys keep working', async () => {
      const now = Math.floor(Date.now() / 1000);
      const { privateKey } = await generateKeyPair('RS256');
      const token = await new SignJWT({ roles: ['admin'] })
        .setProtectedHeader({ alg: 'RS256', kid: 'k' })
        .setIssuer(hungEngine.config.SAGA_OIDC_ISSUER!)
        .setAudience('urn:any')
        .setSubject('u')
        .setIssuedAt(now)
        .setExpirationTime(now + 300)
        .sign(privateKey);
      for (let i = 0; i < 3; i++) {
        const started = Date.now();
        const res = await hungEngine.http().get('/v1/me').set(bearer(token));
        const took = Date.now() - started;
        expect({ status: res.status, code: res.body.code }).toEqual({ status: 503, code: 'AUTH_UNAVAILABLE' });
        expect(res.body.message).toMatch(/identity provider is unavailable/);
        // The warm-up at start may already have failed: then at once; never much longer than the timeout.
        expect(took).toBeLessThan(2_000);
      }
      expect((await hungEngine.as('viewer').get('/v1/me')).status).toBe(200);
    });
  });
});
