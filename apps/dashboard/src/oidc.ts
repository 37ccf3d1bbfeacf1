import * as oauth from 'oauth4webapi';
import { BASE, navigate } from './router';

/**
 * Single sign-on: the OIDC authorization-code flow with PKCE, in the browser, through oauth4webapi (no secret: the
 * dashboard is a public client). The engine puts its public settings in the page (`<meta name="saga-oidc">`); with
 * none, the dashboard logs in by API key only. The token is kept in this tab (session storage) like a key, and sent
 * as the bearer token: the access token when it is a JWT, else the ID token (for an IdP whose access tokens are
 * opaque: then SAGA_OIDC_AUDIENCE names the client id).
 */
export interface OidcConfig {
  issuer: string;
  clientId: string;
  scopes: string;
  resource?: string;
}

export interface SsoSession {
  token: string;
  /** When the token stops working (ms since the epoch), if the IdP said. */
  expiresAt: number | null;
}

/** The login in flight: what the callback needs to finish it. */
const PENDING_KEY = 'saga-dashboard-oidc-pending';

export function readOidcConfig(): OidcConfig | null {
  const content = document.querySelector('meta[name="saga-oidc"]')?.getAttribute('content');
  if (!content) return null;
  try {
    const parsed = JSON.parse(content) as Partial<OidcConfig>;
    if (typeof parsed.issuer !== 'string' || typeof parsed.clientId !== 'string') return null;
    return {
      issuer: parsed.issuer,
      clientId: parsed.clientId,
      scopes: parsed.scopes ?? 'openid',
      resource: parsed.resource,
    };
  } catch {
    return null;
  }
}

const redirectUri = () => `${window.location.origin}${BASE}/`;

/** http:// is allowed for an issuer on loopback only (development, tests). */
function options(issuer: URL) {
  const loopback = ['localhost', '127.0.0.1', '[::1]'].includes(issuer.hostname);
  return issuer.protocol === 'http:' && loopback ? { [oauth.allowInsecureRequests]: true } : {};
}

async function discover(config: OidcConfig): Promise<oauth.AuthorizationServer> {
  const issuer = new URL(config.issuer);
  const response = await oauth.discoveryRequest(issuer, { algorithm: 'oidc', ...options(issuer) });
  return oauth.processDiscoveryResponse(issuer, response);
}

/** Sends the browser to the identity provider; it comes back to the dashboard's root with a code. */
export async function beginLogin(config: OidcConfig): Promise<void> {
  const as = await discover(config);
  if (!as.authorization_endpoint) throw new Error('the identity provider has no authorization endpoint');
  const verifier = oauth.generateRandomCodeVerifier();
  const state = oauth.generateRandomState();
  const url = new URL(as.authorization_endpoint);
  url.searchParams.set('client_id', config.clientId);
  url.searchParams.set('redirect_uri', redirectUri());
  url.searchParams.set('response_type', 'code');
  url.searchParams.set('scope', config.scopes);
  url.searchParams.set('code_challenge', await oauth.calculatePKCECodeChallenge(verifier));
  url.searchParams.set('code_challenge_method', 'S256');
  url.searchParams.set('state', state);
  if (config.resource) url.searchParams.set('resource', config.resource);
  const back = window.location.pathname.startsWith(BASE) ? window.location.pathname + window.location.search : BASE;
  sessionStorage.setItem(PENDING_KEY, JSON.stringify({ verifier, state, back }));
  window.location.assign(url.toString());
}

/** True when the page is the identity provider's answer to a login of this tab. */
export function isLoginCallback(): boolean {
  const params = new URLSearchParams(window.location.search);
  return sessionStorage.getItem(PENDING_KEY) !== null && (params.has('code') || params.has('error'));
}

/**
 * Finishes the login the callback answers: checks the state, redeems the code with the PKCE verifier, checks the ID
 * token, and goes back to where the user was. Throws with the IdP's reason when it refused.
 */
export function completeLogin(config: OidcConfig): Promise<SsoSession> {
  // Once per page load (React's StrictMode runs effects twice in development).
  completing ??= redeem(config);
  return completing;
}

let completing: Promise<SsoSession> | null = null;

async function redeem(config: OidcConfig): Promise<SsoSession> {
  const pending = JSON.parse(sessionStorage.getItem(PENDING_KEY) ?? 'null') as {
    verifier: string;
    state: string;
    back: string;
  } | null;
  sessionStorage.removeItem(PENDING_KEY);
  const current = new URL(window.location.href);
  // Whatever happens, the code leaves the address bar (and the history).
  navigate(pending?.back ?? BASE, true);
  if (!pending) throw new Error('no login in progress in this tab');
  const as = await discover(config);
  const client: oauth.Client = { client_id: config.clientId };
  let params: URLSearchParams;
  try {
    params = oauth.validateAuthResponse(as, client, current, pending.state);
  } catch (error) {
    if (error instanceof oauth.AuthorizationResponseError) {
      throw new Error(`the identity provider refused the login: ${error.error_description ?? error.error}`, {
        cause: error,
      });
    }
    throw error;
  }
  const issuer = new URL(config.issuer);
  const response = await oauth.authorizationCodeGrantRequest(
    as,
    client,
    oauth.None(),
    params,
    redirectUri(),
    pending.verifier,
    {
      ...options(issuer),
      ...(config.resource ? { additionalParameters: { resource: config.resource } } : {}),
    },
  );
  const result = await oauth.processAuthorizationCodeResponse(as, client, response, { requireIdToken: true });
  const isJwt = (value: string | undefined) => !!value && value.split('.').length === 3;
  const token = isJwt(result.access_token) ? result.access_token : result.id_token;
  if (!token) throw new Error('the identity provider gave no token the API can check');
  return {
    token,
    expiresAt: typeof result.expires_in === 'number' ? Date.now() + result.expires_in * 1000 : null,
  };
}
