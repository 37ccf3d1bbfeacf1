import { Controller, Get, Param } from '@nestjs/common';
import { SagaRegistry } from '@app/runtime';
import { ApiError } from '../http/api-error';
import { RequireRole } from '../http/auth';
import { definitionView } from './saga-views';

@Controller('v1/saga-types')
export class SagaTypesController {
  constructor(private readonly registry: SagaRegistry) {}

  @Get()
  @RequireRole('viewer')
  list() {
    return this.registry.all().map(definitionView);
  }

  @Get(':type')
  @RequireRole('viewer')
  get(@Param('type') type: string) {
    const definition = /^[a-z0-9-]{1,64}$/.test(type) ? this.registry.latest(type) : undefined;
    if (!definition) throw new ApiError(404, 'SAGA_TYPE_UNKNOWN', 'no saga type by that name is registered');
    return definitionView(definition);
  }
}
