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
import { createHash, timingSafeEqual } from 'node:crypto';
import type { Request, Response } from 'express';
import type { Role } from '../../config/engine-config';
import { DependencyMonitor } from '../../observability/dependency-monitor';
import { within } from '../../observability/time-limit';
import { type AuditAction, AuditLog, AuditOutcome } from '../../store/saga-audit';
import { ApiError } from './api-error';
import type { RateLimit } from './rate-limit';

export const API_KEYS = Symbol('API_KEYS');
export const RATE_LIMIT_PER_MINUTE = Symbol('RATE_LIMIT_PER_MINUTE');
const ROLE_KEY = 'saga:role';
const PUBLIC_KEY = 'saga:public';
const AUDIT_KEY = 'saga:audit';
const RANK: Record<Role, number> = { viewer: 1, operator: 2, admin: 3 };

/** The least role a route needs. Routes without it need `admin`: deny by default. */
export const RequireRole = (role: Role) => SetMetadata(ROLE_KEY, role);
/**
 * Open to anyone. Only /health uses it (probes carry no key); the security e2e test fails on any other open route.
 * The dashboard's static files, when they come, may be open too (the data they fetch needs a key): list them in
 * that test's allow-list (`PUBLIC`) along with the reason.
 */
export const Public = () => applyDecorators(SetMetadata(PUBLIC_KEY, true));
/**
 * An operator action: the guard audits a known key whose role is too low (403) as a refusal. Unknown or missing
 * keys (401) are not written to the database, so that anonymous requests cannot fill it; they are logged only.
 */
export const AuditAs = (action: AuditAction) => SetMetadata(AUDIT_KEY, action);

/** The authenticated caller, as the guard set it (routes that are not @Public only). */
export const CurrentPrincipal = createParamDecorator((_data: unknown, context: ExecutionContext): Principal => {
  const principal = context.switchToHttp().getRequest<Request & { principal?: Principal }>().principal;
  if (!principal) throw new Error('no principal on the request: is the route @Public?');
  return principal;
});

export interface Principal {
  /** A short, non-secret fingerprint of the key, for logs and audit. */
  keyId: string;
  role: Role;
}

interface StoredKey {
  digest: Buffer;
  keyId: string;
  role: Role;
}

/** API keys are held only as SHA-256 digests and compared in constant time. */
export class ApiKeys {
  private readonly keys: StoredKey[];

  constructor(plain: Map<string, Role>) {
    this.keys = [...plain].map(([key, role]) => {
      const digest = sha256(key);
      return { digest, keyId: digest.toString('hex').slice(0, 12), role };
    });
  }

  find(candidate: string): Principal | null {
    const digest = sha256(candidate);
    let found: StoredKey | null = null;
    for (const key of this.keys) {
      if (timingSafeEqual(key.digest, digest)) found = key;
    }
    return found ? { keyId: found.keyId, role: found.role } : null;
  }
}

/**
 * Requests per key in fixed one-minute windows, in this process's memory: used without REDIS_URL (one process),
 * and as the fallback of RedisRateLimiter when Redis does not answer. Counting by key, not by IP: one noisy
 * service cannot starve the others behind the same proxy.
 */
export class RateLimiter implements RateLimit {
  private readonly windows = new Map<string, { start: number; count: number }>();

  constructor(
    private readonly perMinute: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** null when allowed; otherwise the seconds until the window resets. */
  take(keyId: string): number | null {
    if (this.perMinute <= 0) return null;
    const now = this.now();
    let window = this.windows.get(keyId);
    if (!window || now - window.start >= 60_000) {
      window = { start: now, count: 0 };
      this.windows.set(keyId, window);
    }
    window.count += 1;
    if (window.count <= this.perMinute) return null;
    return Math.max(1, Math.ceil((window.start + 60_000 - now) / 1000));
  }
}

/**
 * The same key check for routes that Nest's guard does not see (the OpenAPI UI and document, mounted on Express by
 * SwaggerModule): any known key (viewer is enough), otherwise the API's JSON 401.
 */
export function requireKeyMiddleware(keys: ApiKeys) {
  return (req: Request, res: Response, next: () => void): void => {
    const header = req.headers.authorization;
    const match = typeof header === 'string' ? /^Bearer\s+(\S+)\s*$/i.exec(header) : null;
    if (match && keys.find(match[1])) {
      next();
      return;
    }
    const message = match ? 'unknown API key' : 'missing API key: send "Authorization: Bearer <key>"';
    res.status(401).json({ statusCode: 401, error: 'Unauthorized', message, code: 'AUTH_REQUIRED' });
  };
}

/** How long a 403 waits for its audit row (see ApiKeyGuard.auditDenied). */
const AUDIT_WAIT_MS = 1_000;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const STEP_NAME = /^[a-z][a-z0-9]*(-[a-z0-9]+)*$/;

function sha256(value: string): Buffer {
  return createHash('sha256').update(value).digest();
}

@Injectable()
export class ApiKeyGuard implements CanActivate {
  private readonly logger = new Logger('Auth');

  constructor(
    private readonly reflector: Reflector,
    @Inject(API_KEYS) private readonly keys: ApiKeys,
    @Inject(RATE_LIMIT_PER_MINUTE) private readonly limiter: RateLimit,
    private readonly audit: AuditLog,
    @Optional() private readonly monitor?: DependencyMonitor,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const targets = [context.getHandler(), context.getClass()];
    if (this.reflector.getAllAndOverride<boolean>(PUBLIC_KEY, targets)) return true;
    const request = context.switchToHttp().getRequest<Request & { principal?: Principal }>();
    const header = request.headers.authorization;
    const match = typeof header === 'string' ? /^Bearer\s+(\S+)\s*$/i.exec(header) : null;
    if (!match) throw new ApiError(401, 'AUTH_REQUIRED', 'missing API key: send "Authorization: Bearer <key>"');
    const principal = this.keys.find(match[1]);
    const action = this.reflector.getAllAndOverride<AuditAction | undefined>(AUDIT_KEY, targets);
    if (!principal) {
      if (action) this.logger.warn(`${action} refused: unknown API key (${request.method} ${request.path})`);
      throw new ApiError(401, 'AUTH_REQUIRED', 'unknown API key');
    }
    const retryAfter = await this.limiter.take(principal.keyId);
    if (retryAfter !== null) {
      context.switchToHttp().getResponse<Response>().setHeader('Retry-After', String(retryAfter));
      throw new ApiError(429, 'RATE_LIMITED', `too many requests for this API key: retry in ${retryAfter} s`);
    }
    const needed = this.reflector.getAllAndOverride<Role>(ROLE_KEY, targets) ?? 'admin';
    if (RANK[principal.role] < RANK[needed]) {
      const error = new ApiError(
        403,
        'FORBIDDEN',
        `this action needs the ${needed} role; the key has ${principal.role}`,
      );
      if (action) await this.auditDenied(request, principal, action, error);
      throw error;
    }
    request.principal = principal;
    return true;
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
    if (this.monitor?.isDown('postgres')) {
      this.logger.warn(
        `${action} refused to key ${principal.keyId} on saga ${sagaId}; not audited: PostgreSQL is down`,
      );
      return;
    }
    try {
      await within(
        this.audit.record({
          actor: principal.keyId,
          role: principal.role,
          action,
          sagaId: sagaId.toLowerCase(),
          step,
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
