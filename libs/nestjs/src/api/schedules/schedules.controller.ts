import { Body, Delete, Get, HttpCode, Param, Patch, Post, Query } from '@nestjs/common';
import { ApiResponse } from '@nestjs/swagger';
import { SagaApiController } from '../http/saga-api-controller';
import { CurrentPrincipal, type Principal, RequireRole, ScopedBy, allowsType } from '../http/auth';
import { ApiErrors, SCHEDULE_PAGE_SCHEMA, SCHEDULE_SCHEMA, SCHEDULE_SUMMARY_SCHEMA } from '../http/openapi';
import { OperatorActionDto } from '../sagas/operator-action.dto';
import { unknownType, uuidPipe } from '../sagas/sagas.controller';
import { CreateScheduleDto, ListSchedulesQuery, UpdateScheduleDto } from './schedule.dto';
import { ScheduleOperations } from './schedule-operations';

/**
 * Schedules: a cron expression in a time zone that starts a saga type with an input, with an overlap and a
 * catch-up policy. Viewers read them; operators create, change, pause, resume and delete them, each change with a
 * reason (audited, shown in the schedule's `changes`). The supervisor fires the ticks: with any number of
 * orchestrators, each tick starts its saga once (its idempotency key is `schedule:<id>:<tick>`).
 */
@SagaApiController('v1/schedules')
@ScopedBy('schedule')
export class SchedulesController {
  constructor(private readonly schedules: ScheduleOperations) {}

  @Post()
  @RequireRole('operator')
  @ScopedBy('handler')
  @ApiResponse({ status: 201, description: 'Created: the schedule with its next runs', schema: SCHEDULE_SCHEMA })
  @ApiErrors([400, 'Bad cron, time zone, policy, unknown type or invalid input (the message names the field)'])
  async create(@Body() body: CreateScheduleDto, @CurrentPrincipal() principal: Principal) {
    if (!allowsType(principal, body.type)) throw unknownType();
    return this.schedules.create(body, principal);
  }

  @Get()
  @RequireRole('viewer')
  @ScopedBy('handler')
  @ApiResponse({ status: 200, description: 'Schedules, newest first', schema: SCHEDULE_PAGE_SCHEMA })
  @ApiErrors([400, 'Invalid filter'])
  async list(@Query() query: ListSchedulesQuery, @CurrentPrincipal() principal: Principal) {
    return { items: await this.schedules.list(query.limit ?? 100, query.type, principal.sagaTypes) };
  }

  @Get(':id')
  @RequireRole('viewer')
  @ApiResponse({
    status: 200,
    description: 'The schedule, its next runs, last runs and changes',
    schema: SCHEDULE_SCHEMA,
  })
  @ApiErrors([404, 'No such schedule'])
  async get(@Param('id', uuidPipe) id: string) {
    return this.schedules.view(id);
  }

  /** Changes any field; `paused: true` pauses, `paused: false` resumes from the next tick after now. */
  @Patch(':id')
  @RequireRole('operator')
  @ApiResponse({ status: 200, description: 'Changed: the schedule as it is now', schema: SCHEDULE_SCHEMA })
  @ApiErrors([400, 'Bad field (the message names it)'], [404, 'No such schedule'])
  async update(
    @Param('id', uuidPipe) id: string,
    @Body() body: UpdateScheduleDto,
    @CurrentPrincipal() principal: Principal,
  ) {
    return this.schedules.update(id, body, principal);
  }

  /** Deletes it: no more ticks. The sagas it started run on; its audit stays. Answers it as it was. */
  @Delete(':id')
  @HttpCode(200)
  @RequireRole('operator')
  @ApiResponse({ status: 200, description: 'Deleted: the schedule as it was', schema: SCHEDULE_SUMMARY_SCHEMA })
  @ApiErrors([404, 'No such schedule'])
  async delete(
    @Param('id', uuidPipe) id: string,
    @Body() body: OperatorActionDto,
    @CurrentPrincipal() principal: Principal,
  ) {
    return this.schedules.delete(id, body.reason, principal);
  }
}
