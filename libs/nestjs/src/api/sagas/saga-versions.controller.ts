import { Get, Query } from '@nestjs/common';
import { ApiQuery, ApiResponse } from '@nestjs/swagger';
import { IN_USE_STATUSES, VersionWatch } from '../../scheduler/version-watch';
import { ApiError } from '../http/api-error';
import { RequireRole } from '../http/auth';
import { ApiErrors } from '../http/openapi';
import { SagaApiController } from '../http/saga-api-controller';

const TYPE_NAME = /^[a-z][a-z0-9-]{0,63}$/;

const VERSION_USE_SCHEMA = {
  type: 'object',
  properties: {
    items: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          type: { type: 'string', example: 'order' },
          version: { type: 'integer', example: 1 },
          instances: {
            type: 'object',
            description: `Sagas on this version that have not ended, by status (${IN_USE_STATUSES.join(', ')})`,
            additionalProperties: { type: 'integer' },
            example: { RUNNING: 12, FAILED: 1 },
          },
          agents: { type: 'integer', description: 'live agents with its code', example: 0 },
          known: { type: 'boolean', description: 'its definition is known (code or published)' },
          runnable: { type: 'boolean', description: 'a live agent runs it; false with instances: they wait' },
        },
      },
    },
  },
};

/**
 * Which versions of which saga types are still in use, and whether a live agent runs them: what an operator reads
 * before dropping an old version's code (keep it registered until its sagas have finished).
 */
@SagaApiController('v1/saga-versions')
export class SagaVersionsController {
  constructor(private readonly watch: VersionWatch) {}

  @Get()
  @RequireRole('viewer')
  @ApiQuery({ name: 'type', required: false, description: 'only this saga type' })
  @ApiResponse({
    status: 200,
    description: 'Every version with sagas in use or a live agent, by type and version',
    schema: VERSION_USE_SCHEMA,
  })
  @ApiErrors([400, 'type is not a saga type name'])
  async list(@Query('type') type?: unknown) {
    if (type !== undefined && (typeof type !== 'string' || !TYPE_NAME.test(type))) {
      throw new ApiError(400, 'INPUT_INVALID', 'type must be a kebab-case saga type name');
    }
    return { items: await this.watch.versions(type) };
  }
}
