import { Body, Get, HttpCode, Param, ParseUUIDPipe, Post, Query, Res } from '@nestjs/common';
import { ApiResponse } from '@nestjs/swagger';
import type { Response } from 'express';
import { ApiError } from '../http/api-error';
import { CurrentPrincipal, type Principal, RequireRole, ScopedBy } from '../http/auth';
import { ApiErrors, BULK_DRY_RUN_SCHEMA, BULK_JOB_PAGE_SCHEMA, BULK_JOB_SCHEMA } from '../http/openapi';
import { SagaApiController } from '../http/saga-api-controller';
import { BulkActionDto, ListBulkJobsQuery, StopBulkJobDto } from './bulk-action.dto';
import { BulkActions, bulkJobView } from './bulk-actions';

const jobIdPipe = new ParseUUIDPipe({
  exceptionFactory: () => new ApiError(400, 'INPUT_INVALID', 'id must be a UUID'),
});

/**
 * Bulk actions: retry, cancel or resolve every saga a filter matches, as a durable job that the supervisor works
 * through in batches (see docs/operations.md). A dry run counts first; a job past its cap is refused. Each saga
 * goes through the same compare-and-set action as `POST /v1/sagas/{id}/...`, audited with the job's reason.
 * A key limited to some saga types acts on those only (`@ScopedBy('handler')`: BulkActions checks the filter).
 */
@SagaApiController('v1/bulk-actions')
@ScopedBy('handler')
export class BulkActionsController {
  constructor(private readonly bulk: BulkActions) {}

  /**
   * `dryRun: true`: 200 with how many sagas match now (and a sample), nothing done. Otherwise 202 with the job,
   * PENDING until a supervisor takes it (COMPLETED at once when nothing matches). Retry and cancel need the
   * operator role, resolve admin (with `step`).
   */
  @Post()
  @HttpCode(202)
  @RequireRole('operator')
  @ApiResponse({ status: 202, description: 'The job, asked for', schema: BULK_JOB_SCHEMA })
  @ApiResponse({ status: 200, description: 'Dry run: the count', schema: BULK_DRY_RUN_SCHEMA })
  @ApiErrors(
    [400, 'Invalid action, step, filter, reason or cap'],
    [409, 'More sagas match than the cap (CAP_EXCEEDED)'],
  )
  async request(
    @Body() body: BulkActionDto,
    @CurrentPrincipal() principal: Principal,
    @Res({ passthrough: true }) res: Response,
  ) {
    const result = await this.bulk.request(body, principal);
    if (result.dryRun) {
      res.status(200);
      return { dryRun: true, matched: result.matched, sample: result.sample };
    }
    return bulkJobView(result.job);
  }

  @Get()
  @RequireRole('viewer')
  @ApiResponse({ status: 200, description: 'The jobs, newest first', schema: BULK_JOB_PAGE_SCHEMA })
  @ApiErrors([400, 'Invalid limit'])
  async list(@Query() query: ListBulkJobsQuery, @CurrentPrincipal() principal: Principal) {
    const jobs = await this.bulk.list(query.limit ?? 50, principal);
    return { items: jobs.map(bulkJobView) };
  }

  @Get(':id')
  @RequireRole('viewer')
  @ApiResponse({ status: 200, description: 'The job and its progress', schema: BULK_JOB_SCHEMA })
  @ApiErrors([404, 'No such job (BULK_JOB_NOT_FOUND)'])
  async get(@Param('id', jobIdPipe) id: string, @CurrentPrincipal() principal: Principal) {
    return bulkJobView(await this.bulk.get(id.toLowerCase(), principal));
  }

  /** Stops the job: sagas already acted on stay so, the others are left alone. The role of the job's action. */
  @Post(':id/cancel')
  @HttpCode(202)
  @RequireRole('operator')
  @ApiResponse({ status: 202, description: 'CANCELLED: the job as it stopped', schema: BULK_JOB_SCHEMA })
  @ApiErrors([404, 'No such job (BULK_JOB_NOT_FOUND)'], [409, 'The job has ended (INVALID_STATE)'])
  async cancel(
    @Param('id', jobIdPipe) id: string,
    @Body() body: StopBulkJobDto,
    @CurrentPrincipal() principal: Principal,
  ) {
    return bulkJobView(await this.bulk.stop(id.toLowerCase(), body.reason, principal));
  }
}
