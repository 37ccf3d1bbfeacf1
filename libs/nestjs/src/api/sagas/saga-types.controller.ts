import { Get, Param } from '@nestjs/common';
import { ApiResponse } from '@nestjs/swagger';
import { type KnownVersion, SagaRegistry } from '../../scheduler/saga-registry';
import { VersionWatch } from '../../scheduler/version-watch';
import { ApiError } from '../http/api-error';
import { CurrentPrincipal, type Principal, RequireRole, ScopedBy, allowsType } from '../http/auth';
import { ApiErrors, SAGA_TYPE_SCHEMA } from '../http/openapi';
import { SagaApiController } from '../http/saga-api-controller';
import { definitionView } from './saga-views';

const TYPE_NAME = /^[a-z][a-z0-9-]{0,63}$/;

/**
 * The saga types the engine knows: from the code of this process and from the definitions other processes
 * published, so a central API lists the types of every service.
 */
@SagaApiController('v1/saga-types')
export class SagaTypesController {
  constructor(
    private readonly registry: SagaRegistry,
    private readonly versions: VersionWatch,
  ) {}

  @Get()
  @RequireRole('viewer')
  @ScopedBy('handler')
  @ApiResponse({
    status: 200,
    description: 'The newest version of every saga type',
    schema: { type: 'array', items: SAGA_TYPE_SCHEMA },
  })
  @ApiErrors()
  async list(@CurrentPrincipal() principal: Principal) {
    const [known, counts] = await Promise.all([this.registry.all(), this.versions.agentCounts()]);
    return Promise.all(known.filter((k) => allowsType(principal, k.spec.name)).map((k) => this.view(k, counts)));
  }

  @Get(':type')
  @RequireRole('viewer')
  @ScopedBy('type')
  @ApiResponse({ status: 200, description: 'The newest version of one saga type', schema: SAGA_TYPE_SCHEMA })
  @ApiErrors([404, 'No saga type by that name'])
  async get(@Param('type') type: string) {
    const known = TYPE_NAME.test(type) ? await this.registry.latest(type) : undefined;
    if (!known) throw new ApiError(404, 'SAGA_TYPE_UNKNOWN', 'no saga type by that name is registered');
    return this.view(known, await this.versions.agentCounts());
  }

  @Get(':type/versions/:version')
  @RequireRole('viewer')
  @ApiResponse({
    status: 200,
    description: 'One version of a saga type (an older one runs the sagas that started on it)',
    schema: SAGA_TYPE_SCHEMA,
  })
  @ApiErrors([400, 'version is not a positive integer'], [404, 'No such saga type, or no such version of it'])
  async getVersion(@Param('type') type: string, @Param('version') version: string) {
    if (!/^[1-9]\d{0,8}$/.test(version)) {
      throw new ApiError(400, 'INPUT_INVALID', 'version must be a positive integer');
    }
    const versions = TYPE_NAME.test(type) ? await this.registry.versions(type) : [];
    const known = versions.find((v) => v.spec.version === Number(version));
    if (!known) {
      throw new ApiError(
        404,
        'SAGA_TYPE_UNKNOWN',
        versions.length === 0
          ? 'no saga type by that name is registered'
          : `saga type ${type} has no version ${version} (known: ${versions.map((v) => v.spec.version).join(', ')})`,
      );
    }
    return this.view(known, await this.versions.agentCounts());
  }

  private async view(known: KnownVersion, counts: Map<string, number>) {
    const versions = (await this.registry.versions(known.spec.name)).map((v) => v.spec.version);
    return definitionView(known, counts.get(`${known.spec.name}@${known.spec.version}`) ?? 0, versions);
  }
}
