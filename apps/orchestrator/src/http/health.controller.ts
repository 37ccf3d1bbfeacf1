import { Controller, Get } from '@nestjs/common';
import {
  HealthCheck,
  HealthCheckService,
  type HealthIndicatorResult,
  HealthIndicatorService,
  TypeOrmHealthIndicator,
} from '@nestjs/terminus';
import { StepQueue } from '@app/transport';
import { Public } from './auth';

/**
 * Liveness and readiness: 200 when PostgreSQL and the queue backend answer within a second, 503 otherwise.
 * `queue.backend` says which one carries the jobs: `redis`, or `postgres` (BullMQ's PostgreSQL backend).
 */
@Controller('health')
export class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly db: TypeOrmHealthIndicator,
    private readonly indicators: HealthIndicatorService,
    private readonly queue: StepQueue,
  ) {}

  @Get()
  @Public()
  @HealthCheck()
  check() {
    return this.health.check([() => this.db.pingCheck('postgres', { timeout: 1000 }), () => this.queueBackend()]);
  }

  private async queueBackend(): Promise<HealthIndicatorResult> {
    const indicator = this.indicators.check('queue');
    const backend = this.queue.backend;
    try {
      await Promise.race([
        this.queue.ping(),
        new Promise<never>((_, reject) => setTimeout(() => reject(new Error('timeout after 1000 ms')), 1000).unref()),
      ]);
      return indicator.up({ backend });
    } catch (error) {
      return indicator.down({ backend, message: (error as Error).message });
    }
  }
}
