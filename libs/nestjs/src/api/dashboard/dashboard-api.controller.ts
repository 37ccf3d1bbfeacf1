import { SagaApiController } from '../http/saga-api-controller';
import { Get, Query } from '@nestjs/common';
import { ApiQuery, ApiResponse } from '@nestjs/swagger';
import { IsIn, IsOptional } from 'class-validator';
import { SagaQueries } from '../../store/saga-queries';
import { ApiError } from '../http/api-error';
import { CurrentPrincipal, type Principal, RequireRole, ScopedBy } from '../http/auth';
import { WithoutDatabase } from '../http/unavailable.interceptor';
import { ApiErrors } from '../http/openapi';

/** Windows the overview offers, each with a bucket size that gives 60 to 168 bars. */
export const STATS_WINDOWS: Record<string, { windowMs: number; bucketMs: number }> = {
  '15m': { windowMs: 15 * 60_000, bucketMs: 15_000 },
  '1h': { windowMs: 60 * 60_000, bucketMs: 60_000 },
  '6h': { windowMs: 6 * 60 * 60_000, bucketMs: 5 * 60_000 },
  '24h': { windowMs: 24 * 60 * 60_000, bucketMs: 15 * 60_000 },
  '7d': { windowMs: 7 * 24 * 60 * 60_000, bucketMs: 60 * 60_000 },
};

/** `GET /v1/stats`'s query: `window` alone (any other parameter is refused, naming it). */
class StatsQuery {
  @IsOptional()
  @IsIn(Object.keys(STATS_WINDOWS), { message: `window must be one of ${Object.keys(STATS_WINDOWS).join(', ')}` })
  window?: string;
}

const STATUS_ENUM = ['RUNNING', 'COMPENSATING', 'COMPLETED', 'COMPENSATED', 'CANCELLED', 'FAILED', 'DELAYED'];

/** What the dashboard needs beyond the saga routes: who am I (to show or hide actions) and the overview's figures. */
@SagaApiController('v1')
@ScopedBy('handler')
export class DashboardApiController {
  constructor(private readonly queries: SagaQueries) {}

  /** The caller's role, so that a client shows only the actions it may take. Any valid key. */
  @Get('me')
  @RequireRole('viewer')
  @WithoutDatabase()
  @ApiErrors()
  @ApiResponse({
    status: 200,
    description: "The key's name and role, and the saga types it is limited to (absent: every type)",
    schema: {
      type: 'object',
      properties: {
        name: { type: 'string', example: 'ci-bot' },
        role: { type: 'string', enum: ['viewer', 'operator', 'admin'] },
        sagaTypes: { type: 'array', items: { type: 'string' }, example: ['order'] },
      },
    },
  })
  me(@CurrentPrincipal() principal: Principal) {
    return {
      name: principal.name,
      role: principal.role,
      ...(principal.sagaTypes ? { sagaTypes: principal.sagaTypes } : {}),
    };
  }

  /** Counts by status (all time) and, per bucket over `window`, how many sagas started and ended how. */
  @Get('stats')
  @RequireRole('viewer')
  @ApiErrors([400, 'Unknown window'])
  @ApiQuery({ name: 'window', required: false, enum: Object.keys(STATS_WINDOWS), description: 'Default 1h' })
  @ApiResponse({
    status: 200,
    description: 'Counts and a time series',
    schema: {
      type: 'object',
      properties: {
        windowMs: { type: 'integer', example: 3_600_000 },
        bucketMs: { type: 'integer', example: 60_000 },
        counts: {
          type: 'object',
          properties: Object.fromEntries(STATUS_ENUM.map((s) => [s, { type: 'integer' }])),
          example: { RUNNING: 3, COMPLETED: 120, FAILED: 1 },
        },
        series: {
          type: 'array',
          items: {
            type: 'object',
            properties: {
              at: { type: 'string', format: 'date-time', description: 'Start of the bucket' },
              started: { type: 'integer' },
              completed: { type: 'integer' },
              compensated: { type: 'integer' },
              failed: { type: 'integer' },
              cancelled: { type: 'integer' },
            },
          },
        },
      },
    },
  })
  @ApiErrors([400, 'Unknown window'])
  async stats(@Query() query: StatsQuery, @CurrentPrincipal() principal: Principal) {
    const name = query.window ?? '1h';
    const chosen = Object.hasOwn(STATS_WINDOWS, name) ? STATS_WINDOWS[name] : undefined;
    if (!chosen) {
      throw new ApiError(400, 'INPUT_INVALID', `window must be one of ${Object.keys(STATS_WINDOWS).join(', ')}`);
    }
    const stats = await this.queries.stats(chosen.windowMs, chosen.bucketMs, new Date(), principal.sagaTypes ?? null);
    const counts = Object.fromEntries(STATUS_ENUM.map((s) => [s, stats.counts[s] ?? 0]));
    return {
      windowMs: chosen.windowMs,
      bucketMs: chosen.bucketMs,
      counts,
      series: stats.series.map((b) => ({ ...b, at: b.at.toISOString() })),
    };
  }
}
