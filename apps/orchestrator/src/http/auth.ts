import {
  type CanActivate,
  type ExecutionContext,
  Inject,
  Injectable,
  SetMetadata,
  applyDecorators,
} from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { createHash, timingSafeEqual } from 'node:crypto';
import type { Request } from 'express';
import type { Role } from '@app/runtime';
import { ApiError } from './api-error';

export const API_KEYS = Symbol('API_KEYS');
const ROLE_KEY = 'saga:role';
const PUBLIC_KEY = 'saga:public';
const RANK: Record<Role, number> = { viewer: 1, operator: 2, admin: 3 };

/** The least role a route needs. Routes without it need `admin`: deny by default. */
export const RequireRole = (role: Role) => SetMetadata(ROLE_KEY, role);
/** Open to anyone (only /health). */
export const Public = () => applyDecorators(SetMetadata(PUBLIC_KEY, true));

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

function sha256(value: string): Buffer {
  return createHash('sha256').update(value).digest();
}

@Injectable()
export class ApiKeyGuard implements CanActivate {
  constructor(
    private readonly reflector: Reflector,
    @Inject(API_KEYS) private readonly keys: ApiKeys,
  ) {}

  canActivate(context: ExecutionContext): boolean {
    const targets = [context.getHandler(), context.getClass()];
    if (this.reflector.getAllAndOverride<boolean>(PUBLIC_KEY, targets)) return true;
    const request = context.switchToHttp().getRequest<Request & { principal?: Principal }>();
    const header = request.headers.authorization;
    const match = typeof header === 'string' ? /^Bearer\s+(\S+)\s*$/i.exec(header) : null;
    if (!match) throw new ApiError(401, 'AUTH_REQUIRED', 'missing API key: send "Authorization: Bearer <key>"');
    const principal = this.keys.find(match[1]);
    if (!principal) throw new ApiError(401, 'AUTH_REQUIRED', 'unknown API key');
    const needed = this.reflector.getAllAndOverride<Role>(ROLE_KEY, targets) ?? 'admin';
    if (RANK[principal.role] < RANK[needed]) {
      throw new ApiError(403, 'FORBIDDEN', `this action needs the ${needed} role; the key has ${principal.role}`);
    }
    request.principal = principal;
    return true;
  }
}
