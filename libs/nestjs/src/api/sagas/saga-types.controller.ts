import { Controller, Get, Param } from '@nestjs/common';
import { SagaRegistry } from '../../scheduler/saga-registry';
import { ApiResponse } from '@nestjs/swagger';
import { ApiError } from '../http/api-error';
import { ApiErrors, SAGA_TYPE_SCHEMA } from '../http/openapi';
import { RequireRole } from '../http/auth';
import { definitionView } from './saga-views';

@Controller('v1/saga-types')
export class SagaTypesController {
  constructor(private readonly registry: SagaRegistry) {}

  @Get()
  @RequireRole('viewer')
  @ApiResponse({
    status: 200,
    description: 'Every registered definition',
    schema: { type: 'array', items: SAGA_TYPE_SCHEMA },
  })
  @ApiErrors()
  list() {
    return this.registry.all().map(definitionView);
  }

  @Get(':type')
  @RequireRole('viewer')
  @ApiResponse({ status: 200, description: 'The latest version of one definition', schema: SAGA_TYPE_SCHEMA })
  @ApiErrors([404, 'No saga type by that name'])
  get(@Param('type') type: string) {
    const definition = /^[a-z0-9-]{1,64}$/.test(type) ? this.registry.latest(type) : undefined;
    if (!definition) throw new ApiError(404, 'SAGA_TYPE_UNKNOWN', 'no saga type by that name is registered');
    return definitionView(definition);
  }
}
