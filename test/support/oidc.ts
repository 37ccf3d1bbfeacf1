import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { type JWK, SignJWT, exportJWK, generateKeyPair, importJWK } from 'jose';
import { freePort } from './test-engine';

/**
 * A real OpenID Provider for a test (test/support/oidc-provider.mjs: panva's oidc-provider in a child process on a
 * free loopback port). `sign` mints tokens with the provider's own key, for the cases a provider never issues
 * (expired, another audience, another issuer); `serviceToken` gets a real one from its token endpoint.
 */
export interface TestOidcProvider {
  issuer: string;
  audience: string;
  clientId: string;
  /** The provider's signing key (private), `kid` included. */
  signingKey: JWK;
  /** An access token of the provider for a service client (`svc-viewer`, `svc-operator`, `svc-admin`, `svc-none`). */
  serviceToken(client: 'svc-viewer' | 'svc-operator' | 'svc-admin' | 'svc-none'): Promise<string>;
  /** A JWT with these claims (iss, aud, sub, iat, exp default to a valid token), signed with the provider's key. */
  sign(claims: Record<string, unknown>, header?: { kid?: string; key?: JWK }): Promise<string>;
  stop(): Promise<void>;
}

export async function startOidcProvider(options: {
  redirectUris: string[];
  audience?: string;
  clientId?: string;
  scopedTypes?: string[];
}): Promise<TestOidcProvider> {
  const port = await freePort();
  const audience = options.audience ?? 'urn:saga-engine:api';
  const clientId = options.clientId ?? 'saga-dashboard';
  const { privateKey } = await generateKeyPair('RS256', { extractable: true });
  const signingKey = { ...(await exportJWK(privateKey)), kid: 'test-key-1', alg: 'RS256', use: 'sig' };
  const child: ChildProcess = spawn(process.execPath, [join(__dirname, 'oidc-provider.mjs')], {
    env: {
      PATH: process.env.PATH,
      NODE_ENV: 'test',
      OIDC_TEST_CONFIG: JSON.stringify({
        port,
        audience,
        clientId,
        redirectUris: options.redirectUris,
        signingKey,
        scopedTypes: options.scopedTypes ?? [],
      }),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const issuer = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the OIDC provider did not start:\n${output}`)), 20_000);
    child.stdout!.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      const ready = /READY (\S+)/.exec(output);
      if (ready) {
        clearTimeout(timer);
        resolve(ready[1]);
      }
    });
    child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`the OIDC provider exited (${code}):\n${output}`));
    });
  });
  const sign = async (claims: Record<string, unknown>, header: { kid?: string; key?: JWK } = {}) => {
    const now = Math.floor(Date.now() / 1000);
    const key = await importJWK(header.key ?? signingKey, 'RS256');
    return new SignJWT({ iss: issuer, aud: audience, sub: 'someone', iat: now, exp: now + 300, ...claims })
      .setProtectedHeader({ alg: 'RS256', typ: 'at+jwt', kid: header.kid ?? signingKey.kid })
      .sign(key);
  };
  return {
    issuer,
    audience,
    clientId,
    signingKey,
    sign,
    serviceToken: async (client) => {
      const res = await fetch(`${issuer}/token`, {
        method: 'POST',
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          authorization: `Basic ${Buffer.from(`${client}:secret-${client}`).toString('base64')}`,
        },
        body: new URLSearchParams({ grant_type: 'client_credentials', scope: 'saga', resource: audience }),
      });
      const body = (await res.json()) as { access_token?: string };
      if (!res.ok || !body.access_token) throw new Error(`token endpoint: ${res.status} ${JSON.stringify(body)}`);
      return body.access_token;
    },
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}
