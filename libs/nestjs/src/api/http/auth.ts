import {
  type CanActivate,
  type ExecutionContext,
  Inject,
  Injectable,
  Logger,
  Optional,
  SetMetadata,
  applyDecorators,
  createParamDecorator,
} from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { isIPv6 } from 'node:net';
import type { NextFunction, Request, Response } from 'express';
import type { DataSource } from 'typeorm';
import type { SagaApiKey } from '../../config/api-keys';
import type { Role } from '../../config/engine-config';
import { DependencyMonitor } from '../../observability/dependency-monitor';
import { within } from '../../observability/time-limit';
import { SAGA_DATA_SOURCE } from '../../store/data-source';
import { type AuditAction, AuditLog, AuditOutcome } from '../../store/saga-audit';
import { ApiError, type ApiErrorCode } from './api-error';
import { AuthRateLimits } from './rate-limit';
import { sendApiError } from './request-limits';

export const API_KEYS = Symbol('API_KEYS');
/**
 * Where bearer credentials are checked, in order: a list of CredentialSource. The API keys are the first; another
 * kind (signed tokens) is one more entry of this list, and every route, limit and audit works with it unchanged.
 */
export const CREDENTIAL_SOURCES = Symbol('CREDENTIAL_SOURCES');
const ROLE_KEY = 'saga:role';
const PUBLIC_KEY = 'saga:public';
const AUDIT_KEY = 'saga:audit';
const SCOPE_KEY = 'saga:scope';
const RANK: Record<Role, number> = { viewer: 1, operator: 2, admin: 3 };

/** Who is calling: what a credential (an API key, or another source's token) stands for. */
export interface Principal {
  /** The name the operator gave the key (or the token's subject): shown in events and the audit, never secret. */
  name: string;
  role: Role;
  /** The saga types it is limited to; unset: every type. */
  sagaTypes?: string[];
}

/** A request that passed the key check (see Authenticator). */
export type AuthenticatedRequest = Request & { principal?: Principal };

/** One way of checking a bearer credential; null when this source does not know it. Must not throw for input. */
export interface CredentialSource {
  verify(credential: string): Principal | null | Promise<Principal | null>;
}

/** The least role a route needs. Routes without it need `admin`: deny by default. */
export const RequireRole = (role: Role) => SetMetadata(ROLE_KEY, role);
/**
 * Open to anyone. Only /health uses it (probes carry no key; it then answers up or down only); the security e2e
 * test fails on any other open route. The dashboard's static files are open too (they hold no data).
 */
export const Public = () => applyDecorators(SetMetadata(PUBLIC_KEY, true));
/**
 * An operator action: the guard audits a known key whose role is too low (403) as a refusal. Unknown or missing
 * keys (401) are not written to the database, so that anonymous requests cannot fill it.
 */
export const AuditAs = (action: AuditAction) => SetMetadata(AUDIT_KEY, action);

/**
 * How a route keeps a key limited to some saga types (`Principal.sagaTypes`) to those: `saga` (its `:id` is a
 * saga's: another type's answers 404 SAGA_NOT_FOUND), `schedule` (its `:id` is a schedule's: 404
 * SCHEDULE_NOT_FOUND), `type` (its `:type` names a type: 404 SAGA_TYPE_UNKNOWN), `handler` (the handler filters by
 * the principal's types itself: lists, starts, counts). A route without it spans every type and answers 403 to a
 * limited key: deny by default.
 */
export type TypeScope = 'saga' | 'schedule' | 'type' | 'handler';
export const ScopedBy = (scope: TypeScope) => SetMetadata(SCOPE_KEY, scope);

/** Whether `principal` may see sagas of `type`. */
export function allowsType(principal: Principal, type: string): boolean {
  return !principal.sagaTypes || principal.sagaTypes.includes(type);
}

/** The authenticated caller, as the key check set it (routes that are not @Public only). */
export const CurrentPrincipal = createParamDecorator((_data: unknown, context: ExecutionContext): Principal => {
  const principal = context.switchToHttp().getRequest<AuthenticatedRequest>().principal;
  if (!principal) throw new Error('no principal on the request: is the route @Public?');
  return principal;
});

interface StoredKey {
  digest: Buffer;
  principal: Principal;
}

/**
 * The API keys, held only as HMAC-SHA-256 digests under a secret drawn when the process starts (a memory dump
 * shows no key, and digests cannot be matched against a table made elsewhere). A candidate is hashed once and
 * compared with every key in constant time, whether or not one matched earlier.
 */
export class ApiKeys implements CredentialSource {
  private readonly secret = randomBytes(32);
  private readonly keys: StoredKey[];

  constructor(keys: readonly SagaApiKey[]) {
    this.keys = keys.map((k) => ({
      digest: this.digest(k.key),
      principal: { name: k.name, role: k.role, ...(k.sagaTypes ? { sagaTypes: [...k.sagaTypes] } : {}) },
    }));
  }

  verify(candidate: string): Principal | null {
    // Longer than any key anyone would configure: not worth hashing.
    if (candidate.length > 1024) return null;
    const digest = this.digest(candidate);
    let found: StoredKey | null = null;
    for (const key of this.keys) {
      if (timingSafeEqual(key.digest, digest)) found = key;
    }
    if (!found) return null;
    const { sagaTypes, ...rest } = found.principal;
    return sagaTypes ? { ...rest, sagaTypes: [...sagaTypes] } : rest;
  }

  private digest(value: string): Buffer {
    return createHmac('sha256', this.secret).update(value).digest();
  }
}

/** A refused key check: the status, code and message of the answer, and Retry-After for a 429. */
export interface AuthRefusal {
  /** 401 unknown, 429 too many; from a token source also 403 (no role in it) or 503 (its issuer is down). */
  status: number;
  code: ApiErrorCode;
  message: string;
  retryAfter?: number;
}

const BEARER = /^Bearer[ \t]+(\S+)[ \t]*$/i;
const MISSING = 'missing API key: send "Authorization: Bearer <key>"';

/**
 * The key check of every route but /health's and the dashboard's files, run before the request's body is read
 * (see SagaModule.configure: the body parser comes after it):
 *
 * 1. The bearer credential is looked up (`principalFor`: each CredentialSource in turn). None: 401.
 * 2. A wrong one is counted against the client address: past `authFailuresPerAddress` in 10 minutes the address
 *    gets 429 with Retry-After, for 30 s and twice as long at each new block. Logged at most twice per address
 *    and window (its first failure, and the block), whatever the number of attempts.
 * 3. A valid one is counted against its principal's request limit (429 with Retry-After past it).
 *
 * Valid keys from a blocked address still pass: the address is often a proxy or a NAT shared with the caller
 * that is wrong, and keys of 32+ characters cannot be guessed in any number of tries.
 */
@Injectable()
export class Authenticator {
  private readonly logger = new Logger('Auth');
  private lastSourceWarning = 0;

  constructor(
    @Inject(CREDENTIAL_SOURCES) private readonly sources: readonly CredentialSource[],
    private readonly limits: AuthRateLimits,
  ) {}

  /** The principal `credential` stands for, by the first source that knows it; null when none does. */
  async principalFor(credential: string): Promise<Principal | null> {
    for (const source of this.sources) {
      try {
        const principal = await source.verify(credential);
        if (principal) return principal;
      } catch (error) {
        // A source's own verdict (a signed token that is expired, for the wrong audience; its issuer down): the
        // caller gets it as it is. Anything else is the source's bug: logged at most once a minute (a source that
        // is down fails every request), and the credential unknown.
        if (error instanceof ApiError) throw error;
        if (Date.now() - this.lastSourceWarning > 60_000) {
          this.lastSourceWarning = Date.now();
          this.logger.warn(`a credential source failed: ${(error as Error)?.message ?? String(error)}`);
        }
      }
    }
    return null;
  }

  /** Steps 1-3 above: the principal, or why the request is refused. */
  async authenticate(request: Request): Promise<Principal | AuthRefusal> {
    const header = request.headers.authorization;
    const match = typeof header === 'string' ? BEARER.exec(header) : null;
    if (header === undefined) return { status: 401, code: 'AUTH_REQUIRED', message: MISSING };
    let principal: Principal | null = null;
    let sourceSaid: ApiError | null = null;
    try {
      principal = match ? await this.principalFor(match[1]) : null;
    } catch (error) {
      sourceSaid = error as ApiError;
      // Not the caller's fault (the identity provider is down) or not a wrong credential (a token without a role).
      if (sourceSaid.getStatus() !== 401) {
        return { status: sourceSaid.getStatus(), code: sourceSaid.code, message: sourceSaid.message };
      }
    }
    if (!principal) {
      const address = clientAddress(request);
      const verdict = await this.limits.failed(address);
      if (verdict.first) {
        this.logger.warn(
          `${match ? 'unknown API key' : 'malformed Authorization header'} from ${address} ` +
            `(${request.method} ${safePath(request)}); further ones from this address are counted, not logged`,
        );
      }
      if (verdict.blockStarted !== null) {
        this.logger.warn(
          `${address} sent too many wrong API keys: refused (429) for ${verdict.retryAfter} s ` +
            `(block ${verdict.blockStarted} in a row; each lasts twice the one before)`,
        );
      }
      if (verdict.retryAfter !== null) {
        return {
          status: 429,
          code: 'RATE_LIMITED',
          message: `too many wrong API keys from this address: retry in ${verdict.retryAfter} s`,
          retryAfter: verdict.retryAfter,
        };
      }
      return {
        status: 401,
        code: 'AUTH_REQUIRED',
        message: sourceSaid?.message ?? (match ? 'unknown API key' : MISSING),
      };
    }
    const retryAfter = await this.limits.takeRequest(principal.name);
    if (retryAfter !== null) {
      return {
        status: 429,
        code: 'RATE_LIMITED',
        message: `too many requests for this API key: retry in ${retryAfter} s`,
        retryAfter,
      };
    }
    return principal;
  }

  /**
   * The key check as Express middleware: sets `req.principal` and goes on, or answers the refusal in the API's
   * error shape without reading the body (and closes the connection when one was sent, so it is never received).
   */
  middleware() {
    return (req: AuthenticatedRequest, res: Response, next: NextFunction): void => {
      if (req.principal) return next();
      this.authenticate(req).then(
        (outcome) => {
          if (isPrincipal(outcome)) {
            req.principal = outcome;
            next();
          } else {
            refuse(req, res, outcome);
          }
        },
        (error: unknown) => next(error),
      );
    };
  }
}

function isPrincipal(outcome: Principal | AuthRefusal): outcome is Principal {
  return 'name' in outcome;
}

/** Answers a refused key check; the body, if any, is left unread and the connection closed after the answer. */
export function refuse(req: Request, res: Response, refusal: AuthRefusal): void {
  if (refusal.retryAfter !== undefined) res.setHeader('Retry-After', String(refusal.retryAfter));
  if (hasBody(req)) res.setHeader('Connection', 'close');
  sendApiError(res, refusal.status, refusal.code, refusal.message);
}

function hasBody(req: Request): boolean {
  const length = req.headers['content-length'];
  return (length !== undefined && length !== '0') || req.headers['transfer-encoding'] !== undefined;
}

/**
 * The client's address as Express sees it (`req.ip`: behind a proxy, set the app's `trust proxy`, or every client
 * is the proxy). An IPv6 address counts by its /64 prefix: one host usually holds a whole /64.
 */
export function clientAddress(req: Request): string {
  const raw = req.ip ?? req.socket?.remoteAddress ?? 'unknown';
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(raw);
  if (mapped) return mapped[1];
  if (!isIPv6(raw)) return raw;
  return `${expandIPv6(raw).slice(0, 4).join(':')}::/64`;
}

function expandIPv6(address: string): string[] {
  const [head, tail] = address.split('%')[0].split('::');
  const left = head ? head.split(':') : [];
  const right = tail !== undefined && tail !== '' ? tail.split(':') : [];
  const fill = tail === undefined ? [] : Array<string>(8 - left.length - right.length).fill('0');
  return [...left, ...fill, ...right].map((group) => group.toLowerCase().replace(/^0+(?=.)/, ''));
}

/** The path for a log line: at most 200 characters, nothing unprintable. */
function safePath(req: Request): string {
  return (req.originalUrl ?? req.url)
    .split('?')[0]
    .slice(0, 200)
    .replace(/[^\x21-\x7e]/g, '?');
}

/**
 * The same key check for routes that Nest's guard does not see (the OpenAPI UI and document, mounted on Express by
 * SwaggerModule): any valid key (viewer is enough), with the same limits, otherwise the API's JSON 401 or 429.
 */
export function requireKeyMiddleware(authenticator: Authenticator) {
  return authenticator.middleware();
}

/** How long a 403 waits for its audit row (see ApiKeyGuard.auditDenied). */
const AUDIT_WAIT_MS = 1_000;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const STEP_NAME = /^[a-z][a-z0-9]*(-[a-z0-9]+)*$/;
const TYPE_NAME = /^[a-z][a-z0-9-]{0,63}$/;

/**
 * The role and scope check of every engine route. The key itself was checked by the Authenticator's middleware,
 * before the body was read; for a route that middleware did not cover (an app that mounts the controllers its own
 * way), the guard runs the same check here, so that no route is ever open by a gap in the middleware's paths.
 */
@Injectable()
export class ApiKeyGuard implements CanActivate {
  private readonly logger = new Logger('Auth');

  constructor(
    private readonly reflector: Reflector,
    private readonly authenticator: Authenticator,
    private readonly audit: AuditLog,
    @Inject(SAGA_DATA_SOURCE) private readonly db: DataSource,
    @Optional() private readonly monitor?: DependencyMonitor,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const targets = [context.getHandler(), context.getClass()];
    if (this.reflector.getAllAndOverride<boolean>(PUBLIC_KEY, targets)) return true;
    const request = context.switchToHttp().getRequest<AuthenticatedRequest>();
    if (!request.principal) {
      const outcome = await this.authenticator.authenticate(request);
      if (!isPrincipal(outcome)) {
        if (outcome.retryAfter !== undefined) {
          context.switchToHttp().getResponse<Response>().setHeader('Retry-After', String(outcome.retryAfter));
        }
        throw new ApiError(outcome.status, outcome.code, outcome.message);
      }
      request.principal = outcome;
    }
    const principal = request.principal;
    const action = this.reflector.getAllAndOverride<AuditAction | undefined>(AUDIT_KEY, targets);
    const needed = this.reflector.getAllAndOverride<Role>(ROLE_KEY, targets) ?? 'admin';
    if (RANK[principal.role] < RANK[needed]) {
      const error = new ApiError(
        403,
        'FORBIDDEN',
        `this action needs the ${needed} role; the key has ${principal.role}`,
      );
      // Only a refusal on a saga the key may see is audited: another type's saga is not there for it.
      if (action && (await this.scopeRefusal(request, principal, 'saga')) === null) {
        await this.auditDenied(request, principal, action, error);
      }
      throw error;
    }
    const scope = this.reflector.getAllAndOverride<TypeScope | undefined>(SCOPE_KEY, targets);
    const refusal = await this.scopeRefusal(request, principal, scope);
    if (refusal) throw refusal;
    return true;
  }

  /** Why a key limited to some saga types may not use this route on these parameters; null when it may. */
  private async scopeRefusal(
    request: Request,
    principal: Principal,
    scope: TypeScope | undefined,
  ): Promise<ApiError | null> {
    const types = principal.sagaTypes;
    if (!types) return null;
    const params = request.params as Record<string, string | undefined>;
    switch (scope) {
      case 'handler':
        return null;
      case 'type': {
        const type = params.type ?? '';
        return TYPE_NAME.test(type) && !types.includes(type)
          ? new ApiError(404, 'SAGA_TYPE_UNKNOWN', 'no saga type by that name is registered')
          : null;
      }
      case 'saga':
      case 'schedule': {
        const id = params.id ?? '';
        // Not a UUID: the route's own validation answers 400, the same for every key.
        if (!UUID.test(id)) return null;
        const table = scope === 'saga' ? 'saga_instance' : 'saga_schedule';
        const column = scope === 'saga' ? 'type' : 'saga_type';
        const rows: { type: string }[] = await this.db.query(`SELECT ${column} AS type FROM ${table} WHERE id = $1`, [
          id.toLowerCase(),
        ]);
        if (rows.length === 0 || types.includes(rows[0].type)) return null;
        return scope === 'saga'
          ? new ApiError(404, 'SAGA_NOT_FOUND', `saga ${id} not found`)
          : new ApiError(404, 'SCHEDULE_NOT_FOUND', `schedule ${id} not found`);
      }
      case undefined:
        return new ApiError(
          403,
          'FORBIDDEN',
          'this key is limited to some saga types; this route spans every type and needs a key without that limit',
        );
    }
  }

  /**
   * Writes the refusal of an action to a key whose role is too low. Only what the request names validly is kept
   * (a saga id that is not a UUID is not an action on a saga: nothing is written). Never turns the 403 into a
   * 500, nor holds it up: a failed write is logged, one PostgreSQL does not take within AUDIT_WAIT_MS is left to
   * finish (or fail) on its own, and none is tried while PostgreSQL is down.
   */
  private async auditDenied(
    request: Request,
    principal: Principal,
    action: AuditAction,
    error: ApiError,
  ): Promise<void> {
    const params = request.params as Record<string, string | undefined>;
    const sagaId = params.id;
    if (sagaId === undefined || !UUID.test(sagaId)) return;
    const step =
      params.step !== undefined && params.step.length <= 64 && STEP_NAME.test(params.step) ? params.step : null;
    const given: unknown = (request.body as { reason?: unknown } | undefined)?.reason;
    // A refused signal names the signal, as an accepted one does (a name that is not one is not audited).
    const signal = action === 'signal' && /^[A-Za-z0-9._-]{1,100}$/.test(params.name ?? '') ? params.name : null;
    if (action === 'signal' && signal === null) return;
    if (this.monitor?.isDown('postgres')) {
      this.logger.warn(`${action} refused to ${principal.name} on saga ${sagaId}; not audited: PostgreSQL is down`);
      return;
    }
    try {
      await within(
        this.audit.record({
          actor: principal.name,
          role: principal.role,
          action,
          sagaId: sagaId.toLowerCase(),
          step,
          signal,
          reason: typeof given === 'string' ? given.trim().slice(0, 500) : '',
          outcome: AuditOutcome.REFUSED,
          statusCode: error.getStatus(),
          detail: error.message,
        }),
        AUDIT_WAIT_MS,
        `no answer from PostgreSQL within ${AUDIT_WAIT_MS} ms`,
      );
    } catch (failure) {
      this.monitor?.failed('postgres', failure, 'audit');
      this.logger.error(`could not audit a refused ${action} on saga ${sagaId}: ${String(failure)}`);
    }
  }
}
