import { Controller, Get, Optional, Res, ServiceUnavailableException } from '@nestjs/common';
import type { Response } from 'express';
import {
  HealthCheck,
  HealthCheckService,
  type HealthIndicatorResult,
  HealthIndicatorService,
  TypeOrmHealthIndicator,
} from '@nestjs/terminus';
import { Supervisor } from '../../supervisor/supervisor';
import { StepQueue } from '../../queue/step-queue';
import { Public } from './auth';

/**
 * Liveness and readiness: 200 when PostgreSQL and the queue backend answer within a second and the supervisor
 * (where it runs) has finished a sweep lately; 503 otherwise, answered within about a second.
 * `queue.backend` says which one carries the jobs: `redis`, or `postgres` (BullMQ's PostgreSQL backend).
 */
@Controller('health')
export class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly db: TypeOrmHealthIndicator,
    private readonly indicators: HealthIndicatorService,
    private readonly queue: StepQueue,
    @Optional() private readonly supervisor?: Supervisor,
  ) {}

  @Get()
  @Public()
  @HealthCheck()
  async check(@Res() res: Response): Promise<void> {
    try {
      res.json(
        await this.health.check([
          () => this.db.pingCheck('postgres', { timeout: 1000 }),
          () => this.queueBackend(),
          () => this.supervisorSweeps(),
        ]),
      );
    } catch (error) {
      // Terminus's 503 carries the per-dependency report; answer it as is (not as an API error, not logged).
      if (!(error instanceof ServiceUnavailableException)) throw error;
      res.status(503).json(error.getResponse());
    }
  }

  /** The supervisor's last finished sweep; `enabled: false` where this process runs none (it is not needed). */
  private supervisorSweeps(): HealthIndicatorResult {
    const indicator = this.indicators.check('supervisor');
    if (!this.supervisor) return indicator.up({ enabled: false });
    const { up, ...details } = this.supervisor.health();
    return up ? indicator.up({ enabled: true, ...details }) : indicator.down({ enabled: true, ...details });
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
