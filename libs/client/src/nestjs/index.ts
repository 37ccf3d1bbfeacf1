/**
 * `@saga-engine/client/nestjs`: `SagaClientModule`, which provides `SagaClient` to a Nest application. The only
 * entry point of the package that imports `@nestjs/common` (an optional peer dependency).
 */
export {
  SAGA_CLIENT_MODULE_OPTIONS,
  SagaClientModule,
  type SagaClientModuleExtras,
  type SagaClientModuleForRootAsyncOptions,
  type SagaClientModuleForRootOptions,
  type SagaClientModuleOptions,
} from './saga-client.module';
