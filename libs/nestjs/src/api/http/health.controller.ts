import { Get, Inject, Optional, Req, Res } from '@nestjs/common';
import { ApiResponse } from '@nestjs/swagger';
import type { Request, Response } from 'express';
import type { DataSource } from 'typeorm';
import { StepQueue } from '../../queue/step-queue';
import { SAGA_DATA_SOURCE } from '../../store/data-source';
import { Supervisor } from '../../supervisor/supervisor';
import { VersionReport } from '../../supervisor/version-report';
import { Authenticator, Public, refuse } from './auth';
import { SagaApiController } from './saga-api-controller';

/** How long each dependency may take to answer before it counts as down. */
const PROBE_TIMEOUT_MS = 1000;

type Indicator = { status: 'up' | 'down' } & Record<string, unknown>;

const INDICATORS = {
  type: 'object',
  additionalProperties: {
    type: 'object',
    properties: { status: { type: 'string', enum: ['up', 'down'] }, message: { type: 'string' } },
  },
  example: { postgres: { status: 'up' }, queue: { status: 'up', backend: 'redis' } },
};
const HEALTH_SCHEMA = {
  type: 'object',
  required: ['status'],
  properties: {
    status: {
      type: 'string',
      enum: ['ok', 'degraded', 'error'],
      description:
        'degraded (still 200, with a key only; ok without): sagas wait on a version no live agent runs ' +
        '(`details.versions`)',
    },
    info: { ...INDICATORS, description: 'With a key only' },
    error: { ...INDICATORS, description: 'With a key only' },
    details: { ...INDICATORS, description: 'With a key only' },
  },
};

/**
 * Liveness and readiness: 200 when PostgreSQL and the queue backend answer within a second and the supervisor
 * (where it runs) has finished a sweep lately; 503 otherwise, answered within about a second. Without a key the
 * body is `{ status }` alone (probes need no more, and the rest of the world should learn nothing). With a valid
 * key (viewer is enough) it says which dependency is down (`{ status, info, error, details }`, the shape Nest's
 * Terminus uses); `queue.backend` says which one carries the jobs: `redis`, or `postgres`. A wrong key is refused
 * (401, counted like any wrong key), so that this route is no way to test keys without limit.
 */
@SagaApiController('health')
export class HealthController {
  constructor(
    @Inject(SAGA_DATA_SOURCE) private readonly db: DataSource,
    private readonly queue: StepQueue,
    private readonly authenticator: Authenticator,
    @Optional() private readonly supervisor?: Supervisor,
    @Optional() private readonly versions?: VersionReport,
  ) {}

  @Get()
  @Public()
  @ApiResponse({ status: 200, description: 'Every dependency answers', schema: HEALTH_SCHEMA })
  @ApiResponse({
    status: 503,
    description: 'A dependency is down: `error` names it (with a key)',
    schema: HEALTH_SCHEMA,
  })
  @ApiResponse({ status: 401, description: 'A wrong key (no key at all is fine: up or down only)' })
  @ApiResponse({ status: 429, description: 'Too many wrong keys from this address: see Retry-After' })
  async check(@Req() req: Request, @Res() res: Response): Promise<void> {
    let detailed = false;
    if (req.headers.authorization !== undefined) {
      const outcome = await this.authenticator.authenticate(req);
      if (!('name' in outcome)) return refuse(req, res, outcome);
      detailed = true;
    }
    const [postgres, queue] = await Promise.all([this.postgres(), this.queueBackend()]);
    const details: Record<string, Indicator> = { postgres, queue, supervisor: this.supervisorSweeps() };
    // Sagas stranded on a version nobody runs: the engine works, but they wait (degraded, not down).
    const stranded = this.versions?.stranded() ?? [];
    if (this.versions) {
      details.versions = {
        status: 'up',
        stranded: stranded.map((v) => ({ type: v.type, version: v.version, instances: v.instances })),
      };
    }
    const up = Object.values(details).every((d) => d.status === 'up');
    const pick = (status: 'up' | 'down') =>
      Object.fromEntries(Object.entries(details).filter(([, d]) => d.status === status));
    res.setHeader('Cache-Control', 'no-store');
    // Without a key: up or down only. With one: degraded when sagas wait on a version nobody runs.
    const status = !up ? 'error' : detailed && stranded.length > 0 ? 'degraded' : 'ok';
    res.status(up ? 200 : 503).json(detailed ? { status, info: pick('up'), error: pick('down'), details } : { status });
  }

  private async postgres(): Promise<Indicator> {
    try {
      await withTimeout(this.db.query('SELECT 1'));
      return { status: 'up' };
    } catch (error) {
      return { status: 'down', message: (error as Error).message };
    }
  }

  private async queueBackend(): Promise<Indicator> {
    const backend = this.queue.backend;
    try {
      await withTimeout(this.queue.ping());
      return { status: 'up', backend };
    } catch (error) {
      return { status: 'down', backend, message: (error as Error).message };
    }
  }

  /** The supervisor's last finished sweep; `enabled: false` where this process runs none (it is not needed). */
  private supervisorSweeps(): Indicator {
    if (!this.supervisor) return { status: 'up', enabled: false };
    const { up, ...details } = this.supervisor.health();
    return { status: up ? 'up' : 'down', enabled: true, ...details };
  }
}

async function withTimeout<T>(work: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      work,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`timeout after ${PROBE_TIMEOUT_MS} ms`)), PROBE_TIMEOUT_MS);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
