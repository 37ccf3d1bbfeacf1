import {
  type CallHandler,
  type ExecutionContext,
  Injectable,
  type NestInterceptor,
  Optional,
  SetMetadata,
} from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { Observable } from 'rxjs';
import { DependencyMonitor } from '../../observability/dependency-monitor';
import { UnavailableError } from '../../observability/unavailable';

const WITHOUT_DATABASE = 'saga:without-database';

/** A route that answers without PostgreSQL (`/health`, `/metrics`, `/v1/me`): never answered 503 in advance. */
export const WithoutDatabase = () => SetMetadata(WITHOUT_DATABASE, true);

/**
 * Fails fast while PostgreSQL is away: a request that needs it is answered 503 `UNAVAILABLE` (with `Retry-After`)
 * at once while the DependencyMonitor says PostgreSQL is down, and a request already waiting for it is answered 503
 * as soon as it goes down (the dependency watchdog notices within about 1.5 s), instead of waiting out the statement
 * and connection time limits. What the request started goes on in the background and may still complete (a start
 * answered 503 may have started: retry it with the same idempotency key).
 */
@Injectable()
export class UnavailableInterceptor implements NestInterceptor {
  constructor(
    private readonly reflector: Reflector,
    @Optional() private readonly monitor?: DependencyMonitor,
  ) {}

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    const monitor = this.monitor;
    const targets = [context.getHandler(), context.getClass()];
    if (!monitor || this.reflector.getAllAndOverride<boolean>(WITHOUT_DATABASE, targets)) return next.handle();
    if (monitor.isDown('postgres')) throw unavailable();
    return new Observable((subscriber) => {
      const off = monitor.onDown((dependency) => {
        if (dependency === 'postgres') subscriber.error(unavailable());
      });
      const subscription = next.handle().subscribe(subscriber);
      return () => {
        off();
        subscription.unsubscribe();
      };
    });
  }
}

function unavailable(): UnavailableError {
  return new UnavailableError('postgres', 'PostgreSQL is unavailable: retry later');
}
