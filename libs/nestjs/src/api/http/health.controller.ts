import { Get, Inject, Optional, Req, Res } from '@nestjs/common';
import { ApiResponse } from '@nestjs/swagger';
import type { Request, Response } from 'express';
import type { DataSource } from 'typeorm';
import { RESOLVED_OPTIONS } from '../../module/tokens';
import type { ResolvedSagaOptions } from '../../module/options';
import { DependencyMonitor } from '../../observability/dependency-monitor';
import { within } from '../../observability/time-limit';
import { refusesWrites } from '../../queue/redis';
import { StepQueue } from '../../queue/step-queue';
import { SAGA_DATA_SOURCE } from '../../store/data-source';
import { Supervisor } from '../../supervisor/supervisor';
import { VersionReport } from '../../supervisor/version-report';
import { Authenticator, Public, refuse } from './auth';
import { SagaApiController } from './saga-api-controller';
import { WithoutDatabase } from './unavailable.interceptor';

/** How long each dependency may take to answer before it counts as down. */
const PROBE_TIMEOUT_MS = 1000;

type Indicator = { status: 'up' | 'degraded' | 'down' } & Record<string, unknown>;

const INDICATORS = {
  type: 'object',
  additionalProperties: {
    type: 'object',
    properties: {
      status: { type: 'string', enum: ['up', 'degraded', 'down'] },
      message: { type: 'string' },
      latencyMs: { type: 'integer', description: "PostgreSQL's SELECT 1, in ms" },
    },
  },
  example: { postgres: { status: 'up', latencyMs: 1 }, queue: { status: 'up', backend: 'redis' } },
};
const HEALTH_SCHEMA = {
  type: 'object',
  required: ['status'],
  properties: {
    status: {
      type: 'string',
      enum: ['ok', 'degraded', 'error'],
      description:
        'degraded (still 200): PostgreSQL slower than DB_SLOW_MS or Redis refusing writes; with a key also when ' +
        'sagas wait on a version no live agent runs (`details.versions`)',
    },
    info: { ...INDICATORS, description: 'With a key only' },
    error: { ...INDICATORS, description: 'With a key only' },
    details: { ...INDICATORS, description: 'With a key only' },
  },
};

/**
 * Liveness and readiness, answered within about a second (each probe has a time limit of its own):
 *
 * - 200 `ok` when PostgreSQL and the queue backend answer and the supervisor (where it runs) has finished a sweep
 *   lately;
 * - 200 `degraded` when everything answers but not well: PostgreSQL's `SELECT 1` slower than `api.slowDatabaseMs`
 *   (`DB_SLOW_MS`), or Redis refusing writes (out of memory, MISCONF, READONLY), or (with a key) sagas waiting on a
 *   version no live agent runs. The engine still serves; alert on it (`saga_dependency_state` and
 *   `saga_version_unavailable_sagas` in `/metrics` say the same);
 * - 503 `error` when one is down.
 *
 * Without a key the body is `{ status }` alone (probes need no more, and the rest of the world should learn
 * nothing). With a valid key (viewer is enough) it says which (`{ status, info, error, details }`, the shape Nest's
 * Terminus uses; `error` holds what is down or degraded); `queue.backend` says which one carries the jobs: `redis`,
 * or `postgres`. A wrong key is refused (401, counted like any wrong key), so that this route is no way to test keys
 * without limit.
 */
@SagaApiController('health')
export class HealthController {
  constructor(
    @Inject(SAGA_DATA_SOURCE) private readonly db: DataSource,
    private readonly queue: StepQueue,
    @Inject(RESOLVED_OPTIONS) private readonly options: ResolvedSagaOptions,
    private readonly authenticator: Authenticator,
    @Optional() private readonly supervisor?: Supervisor,
    @Optional() private readonly versions?: VersionReport,
    @Optional() private readonly monitor?: DependencyMonitor,
  ) {}

  @Get()
  @Public()
  @WithoutDatabase()
  @ApiResponse({
    status: 200,
    description: 'Every dependency answers (`ok`), or answers but badly (`degraded`)',
    schema: HEALTH_SCHEMA,
  })
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
    // Sagas stranded on a version nobody runs: the engine works, but they wait (degraded, not down; with a key).
    const stranded = this.versions?.stranded() ?? [];
    if (this.versions) {
      details.versions = {
        status: detailed && stranded.length > 0 ? 'degraded' : 'up',
        stranded: stranded.map((v) => ({ type: v.type, version: v.version, instances: v.instances })),
      };
    }
    const levels = Object.values(details).map((d) => d.status);
    const status = levels.includes('down') ? 'error' : levels.includes('degraded') ? 'degraded' : 'ok';
    const pick = (up: boolean) =>
      Object.fromEntries(Object.entries(details).filter(([, d]) => (d.status === 'up') === up));
    res.setHeader('Cache-Control', 'no-store');
    res
      .status(status === 'error' ? 503 : 200)
      .json(detailed ? { status, info: pick(true), error: pick(false), details } : { status });
  }

  private async postgres(): Promise<Indicator> {
    const started = performance.now();
    try {
      await within(this.db.query('SELECT 1'), PROBE_TIMEOUT_MS, `timeout after ${PROBE_TIMEOUT_MS} ms`);
    } catch (error) {
      this.monitor?.failed('postgres', error, 'health');
      return { status: 'down', message: (error as Error).message };
    }
    // It answers: what /health says, the API does too (the watchdog would say so within half a second).
    this.monitor?.succeeded('postgres');
    const latencyMs = Math.round(performance.now() - started);
    const slowMs = this.options.api.slowDatabaseMs;
    return latencyMs > slowMs
      ? { status: 'degraded', latencyMs, message: `SELECT 1 took ${latencyMs} ms (more than ${slowMs} ms)` }
      : { status: 'up', latencyMs };
  }

  private async queueBackend(): Promise<Indicator> {
    const backend = this.queue.backend;
    try {
      await within(
        this.queue.ping().then(() => this.queue.probeWrite()),
        PROBE_TIMEOUT_MS,
        `timeout after ${PROBE_TIMEOUT_MS} ms`,
      );
      this.monitor?.succeeded(this.queue.dependency);
      return { status: 'up', backend };
    } catch (error) {
      const message = (error as Error).message.split('\n')[0];
      if (refusesWrites(error)) return { status: 'degraded', backend, message: `refuses writes: ${message}` };
      this.monitor?.failed(this.queue.dependency, error, 'health');
      return { status: 'down', backend, message };
    }
  }

  /** The supervisor's last finished sweep; `enabled: false` where this process runs none (it is not needed). */
  private supervisorSweeps(): Indicator {
    if (!this.supervisor) return { status: 'up', enabled: false };
    const { up, ...details } = this.supervisor.health();
    return { status: up ? 'up' : 'down', enabled: true, ...details };
  }
}
