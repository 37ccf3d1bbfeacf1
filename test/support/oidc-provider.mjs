// A real OpenID Provider for the SSO tests (panva's oidc-provider, the certified implementation), run as a child
// process on a free loopback port: `node test/support/oidc-provider.mjs` with OIDC_TEST_CONFIG (JSON, below).
// It prints `READY <issuer>` once it listens, and stops on SIGTERM.
//
// - Users (any password, through the provider's own login and consent pages): alice (viewer), olga (operator),
//   adam (admin), nina (no role), sam (operator, limited to the saga types of `scopedTypes`). Their roles are in
//   the claim `roles` of their ID token and of their access token.
// - The dashboard's client (`clientId`): public, authorization code with PKCE (S256), redirect URIs as given.
// - Service clients `svc-viewer`, `svc-operator`, `svc-admin`, `svc-none` (secret `secret-<name>`): client credentials,
//   for the API tests; the role is the client's.
// - Access tokens are JWTs (RS256, signed with `signingKey`) for the resource `audience`: the engine's API.
import Provider from 'oidc-provider';

const config = JSON.parse(process.env.OIDC_TEST_CONFIG ?? '{}');
const port = Number(config.port);
const issuer = `http://127.0.0.1:${port}`;
const audience = config.audience;
const scopedTypes = config.scopedTypes ?? [];

const USERS = {
  alice: { roles: ['viewer'] },
  olga: { roles: ['operator'] },
  adam: { roles: ['admin'] },
  nina: { roles: [] },
  sam: { roles: ['operator'], saga_types: scopedTypes },
};
const SERVICES = { 'svc-viewer': ['viewer'], 'svc-operator': ['operator'], 'svc-admin': ['admin'], 'svc-none': [] };

function claimsOf(accountId) {
  const user = USERS[accountId] ?? { roles: [] };
  return {
    sub: accountId,
    preferred_username: accountId,
    email: `${accountId}@example.test`,
    roles: user.roles,
    ...(user.saga_types ? { saga_types: user.saga_types } : {}),
  };
}

const provider = new Provider(issuer, {
  clients: [
    {
      client_id: config.clientId,
      token_endpoint_auth_method: 'none',
      application_type: 'web',
      redirect_uris: config.redirectUris,
      post_logout_redirect_uris: config.redirectUris,
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
    },
    ...Object.keys(SERVICES).map((name) => ({
      client_id: name,
      client_secret: `secret-${name}`,
      grant_types: ['client_credentials'],
      response_types: [],
      redirect_uris: [],
    })),
  ],
  jwks: { keys: [config.signingKey] },
  cookies: { keys: ['oidc-test-cookie-key-0123456789'] },
  pkce: { required: () => true },
  scopes: ['openid', 'profile', 'email', 'offline_access', 'saga'],
  claims: { openid: ['sub'], profile: ['preferred_username', 'roles', 'saga_types'], email: ['email'] },
  findAccount: (_ctx, id) => ({ accountId: id, claims: () => claimsOf(id) }),
  features: {
    devInteractions: { enabled: true },
    clientCredentials: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => audience,
      useGrantedResource: () => true,
      getResourceServerInfo: () => ({
        scope: 'saga',
        audience,
        accessTokenTTL: config.accessTokenTtl ?? 600,
        accessTokenFormat: 'jwt',
        jwt: { sign: { alg: 'RS256' } },
      }),
    },
  },
  extraTokenClaims: (_ctx, token) => {
    if (token.accountId) {
      const { roles, saga_types } = claimsOf(token.accountId);
      return { roles, preferred_username: token.accountId, ...(saga_types ? { saga_types } : {}) };
    }
    const roles = SERVICES[token.clientId];
    return roles ? { roles } : undefined;
  },
  ttl: { AccessToken: config.accessTokenTtl ?? 600, ClientCredentials: config.accessTokenTtl ?? 600 },
});
// Loopback http: no TLS here (the test's browser talks to it directly).
provider.proxy = false;

const server = provider.listen(port, '127.0.0.1', () => {
  process.stdout.write(`READY ${issuer}\n`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
