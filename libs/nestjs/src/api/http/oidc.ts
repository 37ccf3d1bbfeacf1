import { Logger } from '@nestjs/common';
import type * as Jose from 'jose';
import type { JWTPayload, JWTVerifyGetKey } from 'jose';
import type { Role } from '../../config/engine-config';
import { ApiError } from './api-error';
import type { CredentialSource, Principal } from './auth';

/** The verifier of OIDC bearer tokens, or null when SSO is not configured (SagaModule provides it). */
export const BEARER_TOKENS = Symbol('BEARER_TOKENS');

const ROLE_RANK: Record<Role, number> = { viewer: 1, operator: 2, admin: 3 };
const ROLES = Object.keys(ROLE_RANK) as Role[];

/** Asymmetric signatures only: a shared secret (HS*) would let anyone who holds it mint tokens. */
export const DEFAULT_OIDC_ALGORITHMS = ['RS256', 'PS256', 'ES256', 'EdDSA'] as const;

/** Single sign-on settings (`api.oidc` of SagaModule; SAGA_OIDC_* in the environment). */
export interface OidcOptions {
  /** The issuer, exactly as the tokens' `iss` says it: `https://idp.example.com/realms/ops`. */
  issuer: string;
  /** What the tokens' `aud` must hold (any one of these). */
  audience: string | readonly string[];
  /**
   * The claim that gives the role: a string or an array of strings. A dotted path (`realm_access.roles`) is
   * followed when no claim has that exact name. @defaultValue 'roles'
   */
  roleClaim?: string;
  /**
   * The claim's values and the role each gives (`{ 'saga-admins': 'admin' }`). Unset: the values `viewer`,
   * `operator` and `admin` themselves. Several values: the highest role wins. None: 403.
   */
  roleMap?: Readonly<Record<string, Role>>;
  /** The claim that names the user in the audit and the history. @defaultValue 'preferred_username' (then email, sub) */
  nameClaim?: string;
  /** The claim that limits the caller to some saga types (an array, or a space- or comma-separated string). @defaultValue 'saga_types' */
  sagaTypesClaim?: string;
  /** Accepted signature algorithms. @defaultValue RS256, PS256, ES256, EdDSA */
  algorithms?: readonly string[];
  /** Clock skew allowed on exp and nbf, in seconds. @defaultValue 30 */
  clockToleranceSec?: number;
  /** How long the discovery document and the JWKS may take to arrive. @defaultValue 3000 */
  timeoutMs?: number;
  /** The dashboard's OAuth client (public, PKCE). Unset: the dashboard offers API keys only. */
  clientId?: string;
  /** What the dashboard asks for. @defaultValue 'openid profile email' */
  scopes?: string;
  /** A `resource` (RFC 8707) the dashboard asks its access token for, when the IdP wants one. */
  resource?: string;
}

/** The settings the dashboard may know (nothing secret): set in its page, read by its login. */
export interface OidcPublicConfig {
  issuer: string;
  clientId: string;
  scopes: string;
  resource?: string;
}

interface Discovery {
  issuer: string;
  jwks_uri: string;
  token_endpoint?: string;
  authorization_endpoint?: string;
}

/**
 * `jose` is ESM-only: loaded when the first token comes, so that an app without SSO never loads it (Jest on Node
 * < 24.9 cannot require an ES module unless told to compile it).
 */
let joseModule: Promise<typeof Jose> | null = null;
const loadJose = (): Promise<typeof Jose> => (joseModule ??= import('jose'));

/** Three base64url segments: a JWS in compact form, and so not one of the API keys (they hold no dots). */
export function looksLikeJwt(value: string): boolean {
  return /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/.test(value);
}

/**
 * Verifies OIDC/JWT bearer tokens with `jose`: the issuer's keys come from its discovery document's `jwks_uri`
 * (both fetched with a timeout, the keys cached and fetched again for an unknown `kid` at most every 30 s), then
 * signature (allowed algorithms only), `iss`, `aud`, `exp` and `nbf` (with a clock tolerance) are checked, and
 * the role claim is mapped to viewer, operator or admin.
 *
 * `verify` answers the principal, or throws: 401 naming what is wrong with the token, 403 when it carries no
 * role, 503 when the identity provider does not answer in time (never a hung request). A failed discovery is
 * remembered for a few seconds, so a dead IdP costs one timeout, not one per request.
 */
export class BearerTokens {
  private readonly logger = new Logger('OIDC');
  private readonly issuer: string;
  private readonly audience: string[];
  private readonly roleClaim: string;
  private readonly nameClaim: string;
  private readonly typesClaim: string;
  private readonly algorithms: string[];
  private readonly clockTolerance: number;
  private readonly timeoutMs: number;
  private discovered: Promise<{ doc: Discovery; keys: JWTVerifyGetKey }> | null = null;
  private discoveryFailedAt = 0;
  private lastUnavailableLog = 0;

  constructor(
    private readonly options: OidcOptions,
    private readonly retryDiscoveryAfterMs = 5_000,
  ) {
    this.issuer = options.issuer;
    this.audience = typeof options.audience === 'string' ? [options.audience] : [...options.audience];
    this.roleClaim = options.roleClaim ?? 'roles';
    this.nameClaim = options.nameClaim ?? 'preferred_username';
    this.typesClaim = options.sagaTypesClaim ?? 'saga_types';
    this.algorithms = [...(options.algorithms ?? DEFAULT_OIDC_ALGORITHMS)];
    this.clockTolerance = options.clockToleranceSec ?? 30;
    this.timeoutMs = options.timeoutMs ?? 3_000;
  }

  /** What the dashboard needs to log in (null without a client id). */
  publicConfig(): OidcPublicConfig | null {
    if (!this.options.clientId) return null;
    return {
      issuer: this.issuer,
      clientId: this.options.clientId,
      scopes: this.options.scopes ?? 'openid profile email',
      ...(this.options.resource ? { resource: this.options.resource } : {}),
    };
  }

  /** The origins the dashboard's page must be allowed to fetch from (its CSP's connect-src). */
  connectOrigins(): string[] {
    const origins = new Set([new URL(this.issuer).origin]);
    for (const url of [this.knownDoc?.token_endpoint, this.knownDoc?.jwks_uri]) {
      if (url) origins.add(new URL(url).origin);
    }
    return [...origins];
  }

  private knownDoc: Discovery | null = null;

  /** Fetches the discovery document now (at start), so that the first request does not wait for it. */
  warmUp(): void {
    this.keys().catch(() => undefined);
  }

  /**
   * As one of the Authenticator's credential sources, after the API keys: a credential shaped like a JWT is
   * verified here (a bad one throws its 401 naming what is wrong, a dead identity provider its 503); anything
   * else is not a token, and not this source's.
   */
  asCredentialSource(): CredentialSource {
    return { verify: (credential) => (looksLikeJwt(credential) ? this.verify(credential) : null) };
  }

  /** True when the token is valid; never throws (for the routes outside Nest's guard). */
  async check(token: string): Promise<boolean> {
    try {
      await this.verify(token);
      return true;
    } catch {
      return false;
    }
  }

  async verify(token: string): Promise<Principal> {
    const jose = await loadJose();
    let unverified: JWTPayload;
    try {
      unverified = jose.decodeJwt(token);
      jose.decodeProtectedHeader(token);
    } catch {
      throw unauthorized('the bearer token is neither an API key nor a well-formed JWT');
    }
    // Refused before any key is fetched: a token of another issuer must not make us fetch (or refetch) keys.
    if (unverified.iss !== this.issuer) {
      throw unauthorized(`the token's issuer (iss) is ${JSON.stringify(unverified.iss ?? null)}, not ${this.issuer}`);
    }
    const { keys } = await this.keys();
    let payload: JWTPayload;
    try {
      ({ payload } = await jose.jwtVerify(token, keys, {
        issuer: this.issuer,
        audience: this.audience,
        algorithms: this.algorithms,
        clockTolerance: this.clockTolerance,
        requiredClaims: ['exp', 'sub'],
      }));
    } catch (error) {
      throw this.refusal(error, jose.errors);
    }
    return this.principal(payload);
  }

  private principal(claims: JWTPayload): Principal {
    const values = asStrings(this.claim(claims, this.roleClaim));
    const map = this.options.roleMap;
    const roles = values
      .map((v) => (map ? map[v] : (ROLES as string[]).includes(v) ? (v as Role) : undefined))
      .filter((r): r is Role => r !== undefined);
    if (roles.length === 0) {
      throw new ApiError(
        403,
        'FORBIDDEN',
        `the token gives no role: its claim "${this.roleClaim}" must hold viewer, operator or admin` +
          (map ? ' (as mapped by SAGA_OIDC_ROLE_MAP)' : ''),
      );
    }
    const role = roles.reduce((a, b) => (ROLE_RANK[b] > ROLE_RANK[a] ? b : a));
    const who = [this.claim(claims, this.nameClaim), claims.email, claims.sub].find(
      (v): v is string => typeof v === 'string' && v.length > 0,
    )!;
    const name = `sso:${who.slice(0, 200)}`;
    const types = this.claim(claims, this.typesClaim);
    return {
      name,
      role,
      ...(types === undefined ? {} : { sagaTypes: asStrings(types) }),
    };
  }

  /** An exact claim name first (Auth0's are URLs, with dots), else a dotted path (`realm_access.roles`). */
  private claim(claims: JWTPayload, name: string): unknown {
    if (Object.hasOwn(claims, name)) return claims[name];
    let value: unknown = claims;
    for (const part of name.split('.')) {
      if (typeof value !== 'object' || value === null || !Object.hasOwn(value, part)) return undefined;
      value = (value as Record<string, unknown>)[part];
    }
    return value;
  }

  private refusal(error: unknown, errors: typeof Jose.errors): ApiError {
    if (error instanceof errors.JWTExpired) return unauthorized('the token has expired (exp)');
    if (error instanceof errors.JWTClaimValidationFailed) {
      const claim = error.claim;
      if (claim === 'aud') return unauthorized(`the token's audience (aud) is not ${this.audience.join(' or ')}`);
      if (claim === 'iss') return unauthorized(`the token's issuer (iss) is not ${this.issuer}`);
      if (claim === 'nbf') return unauthorized('the token is not valid yet (nbf)');
      return unauthorized(`the token's claim "${claim}" is invalid: ${error.reason}`);
    }
    if (error instanceof errors.JOSEAlgNotAllowed) {
      return unauthorized(`the token's algorithm is not allowed (allowed: ${this.algorithms.join(', ')})`);
    }
    if (error instanceof errors.JWKSNoMatchingKey) {
      return unauthorized("the token's key (kid) is not one of the issuer's keys");
    }
    if (error instanceof errors.JWSSignatureVerificationFailed) return unauthorized("the token's signature is invalid");
    if (error instanceof errors.JWKSTimeout) return this.unavailable('its keys (JWKS) did not arrive in time');
    if (error instanceof errors.JWKSInvalid) return this.unavailable('its keys (JWKS) are not a valid key set');
    if (error instanceof errors.JOSEError) return unauthorized(`the token is invalid (${error.code})`);
    // fetch failures of the JWKS (connection refused, DNS): the IdP, not the token.
    return this.unavailable(`its keys (JWKS) could not be fetched: ${(error as Error).message}`);
  }

  private unavailable(why: string): ApiError {
    const now = Date.now();
    if (now - this.lastUnavailableLog > 10_000) {
      this.lastUnavailableLog = now;
      this.logger.warn(`the identity provider ${this.issuer} is unavailable: ${why}`);
    }
    return new ApiError(503, 'AUTH_UNAVAILABLE', `the identity provider is unavailable (${why}): try again later`);
  }

  /** The discovery document and the key set it names: fetched once (again after a failure, not sooner than 5 s). */
  private keys(): Promise<{ doc: Discovery; keys: JWTVerifyGetKey }> {
    if (!this.discovered) {
      if (Date.now() - this.discoveryFailedAt < this.retryDiscoveryAfterMs) {
        return Promise.reject(this.unavailable('its discovery document failed a moment ago'));
      }
      this.discovered = this.discover().catch((error: unknown) => {
        this.discovered = null;
        this.discoveryFailedAt = Date.now();
        throw error instanceof ApiError ? error : this.unavailable(String(error));
      });
    }
    return this.discovered;
  }

  private async discover(): Promise<{ doc: Discovery; keys: JWTVerifyGetKey }> {
    const url = `${this.issuer.replace(/\/+$/, '')}/.well-known/openid-configuration`;
    let doc: Discovery;
    try {
      const res = await fetch(url, {
        headers: { accept: 'application/json' },
        signal: AbortSignal.timeout(this.timeoutMs),
        redirect: 'error',
      });
      if (!res.ok) throw new Error(`${url} answered ${res.status}`);
      doc = (await res.json()) as Discovery;
    } catch (error) {
      const name = (error as Error).name;
      throw this.unavailable(
        name === 'TimeoutError' || name === 'AbortError'
          ? `its discovery document did not arrive within ${this.timeoutMs} ms`
          : `its discovery document could not be read: ${(error as Error).message}`,
      );
    }
    if (doc.issuer !== this.issuer) {
      throw this.unavailable(`its discovery document names the issuer ${doc.issuer}, not ${this.issuer}`);
    }
    if (typeof doc.jwks_uri !== 'string') throw this.unavailable('its discovery document has no jwks_uri');
    this.knownDoc = doc;
    const { createRemoteJWKSet } = await loadJose();
    const keys = createRemoteJWKSet(new URL(doc.jwks_uri), {
      timeoutDuration: this.timeoutMs,
      cooldownDuration: 30_000,
      cacheMaxAge: 10 * 60_000,
    });
    return { doc, keys };
  }
}

function unauthorized(message: string): ApiError {
  return new ApiError(401, 'AUTH_REQUIRED', message);
}

function asStrings(value: unknown): string[] {
  if (typeof value === 'string') return value.split(/[\s,]+/).filter(Boolean);
  if (Array.isArray(value)) return value.filter((v): v is string => typeof v === 'string');
  return [];
}
