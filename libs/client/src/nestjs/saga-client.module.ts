import { ConfigurableModuleBuilder, Module, type ConfigurableModuleAsyncOptions } from '@nestjs/common';
import type { HttpSagaClientOptions } from '../http-saga-transport';
import { SagaClient } from '../saga-client';

/** What `SagaClientModule.forRoot` takes, or `forRootAsync`'s factory returns: the HTTP client's options. */
export type SagaClientModuleOptions = HttpSagaClientOptions;

const { ConfigurableModuleClass, MODULE_OPTIONS_TOKEN } = new ConfigurableModuleBuilder<SagaClientModuleOptions>({
  moduleName: 'SagaClient',
})
  .setClassMethodName('forRoot')
  .setExtras<SagaClientModuleExtras>({ isGlobal: false }, (definition, extras) => ({
    ...definition,
    global: extras.isGlobal,
  }))
  .build();

/** The token of the module's options, for a provider of your own that needs them. */
export const SAGA_CLIENT_MODULE_OPTIONS = MODULE_OPTIONS_TOKEN;
/** The module's extra option: `isGlobal: true` provides SagaClient to every module, without importing this one. */
export interface SagaClientModuleExtras {
  isGlobal?: boolean;
}
export type SagaClientModuleForRootOptions = SagaClientModuleOptions & SagaClientModuleExtras;
export type SagaClientModuleForRootAsyncOptions = ConfigurableModuleAsyncOptions<SagaClientModuleOptions> &
  SagaClientModuleExtras;

/**
 * Provides `SagaClient` (inject it by the class) configured once for the application:
 *
 * ```ts
 * SagaClientModule.forRoot({ url: 'https://sagas.internal', apiKey: process.env.SAGA_API_KEY!, isGlobal: true })
 * SagaClientModule.forRootAsync({
 *   imports: [ConfigModule],
 *   inject: [ConfigService],
 *   useFactory: (config: ConfigService) => ({
 *     url: config.getOrThrow('SAGA_URL'),
 *     apiKey: config.getOrThrow('SAGA_API_KEY'),
 *   }),
 * })
 * ```
 *
 * The client holds no connection (each call is one `fetch`), so there is nothing to close at shutdown. Its options
 * are checked when the module is built: a bad url or key fails the application's boot, not its first request.
 */
@Module({
  providers: [
    {
      provide: SagaClient,
      useFactory: (options: SagaClientModuleOptions) => new SagaClient(options),
      inject: [MODULE_OPTIONS_TOKEN],
    },
  ],
  exports: [SagaClient],
})
export class SagaClientModule extends ConfigurableModuleClass {}
