/**
 * The saga engine for NestJS applications: `SagaModule` runs its roles (agent, api, supervisor) in your app; the
 * invokers call participants with idempotency keys and circuit breakers; the rest helps a process that is
 * configured by environment variables (the engine's own apps) start up.
 */
export { SagaModule, SAGA_MODULE_OPTIONS } from './module/saga.module';
export {
  SAGA_ROLES,
  SagaConfigError,
  type SagaApiKey,
  type SagaApiOptions,
  type SagaModuleExtras,
  type SagaModuleOptions,
  type SagaRole,
} from './module/options';
export { setupSagaApp, type SagaAppSetup } from './api/setup-saga-app';
export { SagaClient } from '@saga-engine/client';
export * from './invokers';

// Running a process from environment variables, as the engine's apps and Docker image do.
export { ConfigError, EngineConfig, loadConfig, loadConfigOrExit, logLevels, type Role } from './config/engine-config';
export { MIN_KEY_LENGTH, parseApiKeySpec, parseApiKeys } from './config/api-keys';
export { CREDENTIAL_SOURCES, type CredentialSource, type Principal } from './api/http/auth';
export { sagaOptionsFromEnv } from './config/env-options';
export { resolveBackends, stopBackendsOnSignals, type Backends } from './config/backends';
export {
  EmbeddedPostgresError,
  startEmbeddedPostgres,
  type EmbeddedPostgres,
  type EmbeddedPostgresOptions,
} from './store/embedded-postgres';
export { generateEncryptionKey, parseEncryptionKey } from './security/input-cipher';
export { listenForClientErrors } from './store/pg-client-errors';
export { engineRoleGrants, migrateDatabase, type MigrateResult } from './store/db-roles';
export { BearerTokens, type OidcOptions, type OidcPublicConfig } from './api/http/oidc';
export { SagaLogger, pinoOptions, type SagaLoggerOptions } from './observability/logger';
export { sagaLogFields, withSagaLog, type SagaLogFields } from './observability/log-context';
export { startTracingFromEnv } from './observability/otel';
export { localAdminKey, localEncryptionKey, type LocalSecret } from './standalone/local-secrets';
export { PortTakenError, exitOnStartFailure, listenOn } from './standalone/listen';
export { startupBanner } from './standalone/banner';
