import type { SagaAppSetup } from '../api/setup-saga-app';
import type { SagaModuleOptions } from '../module/options';
import { type EngineConfig, parseRoleMap } from './engine-config';

/**
 * The module options and the app settings an environment configures (see EngineConfig for each variable), for a
 * process configured by environment variables, as the engine's own apps and its Docker image are. `DATABASE_URL`
 * must be resolved first (resolveBackends starts an embedded PostgreSQL when it is unset).
 */
export function sagaOptionsFromEnv(config: EngineConfig): { options: SagaModuleOptions; app: SagaAppSetup } {
  if (!config.DATABASE_URL) {
    throw new Error('DATABASE_URL is not resolved: call resolveBackends() before sagaOptionsFromEnv()');
  }
  const options: SagaModuleOptions = {
    databaseUrl: config.DATABASE_URL,
    databasePoolSize: config.DB_POOL_SIZE,
    databaseStatementTimeoutMs: config.DB_STATEMENT_TIMEOUT_MS,
    databaseConnectTimeoutMs: config.DB_CONNECT_TIMEOUT_MS,
    ...(config.REDIS_URL ? { redisUrl: config.REDIS_URL } : {}),
    queuePrefix: config.SAGA_REDIS_PREFIX,
    redisCommandTimeoutMs: config.REDIS_COMMAND_TIMEOUT_MS,
    scheduleToStartMs: config.SCHEDULE_TO_START_MS,
    agent: { concurrency: config.AGENT_CONCURRENCY, shutdownGraceMs: config.SHUTDOWN_GRACE_MS },
    supervisor: {
      intervalMs: config.SUPERVISOR_INTERVAL_MS,
      ...(config.RETENTION_FINISHED_AFTER ? { retention: config.RETENTION_FINISHED_AFTER } : {}),
      ...(config.ALERT_WEBHOOK_URL ? { alertWebhookUrl: config.ALERT_WEBHOOK_URL } : {}),
      poisonAfterDeaths: config.SAGA_POISON_AFTER_DEATHS,
    },
    api: {
      keys: config.SAGA_API_KEYS ?? '',
      rateLimitPerMinute: config.RATE_LIMIT_PER_MINUTE,
      authFailuresPerAddress: config.AUTH_FAILURES_PER_ADDRESS,
      bodyLimitBytes: config.BODY_LIMIT_BYTES,
      jsonMaxDepth: config.JSON_MAX_DEPTH,
      jsonMaxStringLength: config.JSON_MAX_STRING_LENGTH,
      slowDatabaseMs: config.DB_SLOW_MS,
      ...(config.DASHBOARD_DIR ? { dashboardDir: config.DASHBOARD_DIR } : {}),
      ...(config.SAGA_OIDC_ISSUER && config.SAGA_OIDC_AUDIENCE
        ? {
            oidc: {
              issuer: config.SAGA_OIDC_ISSUER,
              audience: list(config.SAGA_OIDC_AUDIENCE),
              roleClaim: config.SAGA_OIDC_ROLE_CLAIM,
              roleMap: parseRoleMap(config.SAGA_OIDC_ROLE_MAP),
              nameClaim: config.SAGA_OIDC_NAME_CLAIM,
              algorithms: list(config.SAGA_OIDC_ALGORITHMS),
              clockToleranceSec: config.SAGA_OIDC_CLOCK_TOLERANCE_S,
              timeoutMs: config.SAGA_OIDC_TIMEOUT_MS,
              clientId: config.SAGA_OIDC_CLIENT_ID,
              scopes: config.SAGA_OIDC_SCOPES,
              resource: config.SAGA_OIDC_RESOURCE,
            },
          }
        : {}),
    },
    ...(config.SAGA_ENCRYPTION_KEY ? { encryptionKey: config.SAGA_ENCRYPTION_KEY } : {}),
    retiredEncryptionKeys: (config.SAGA_ENCRYPTION_KEYS_OLD ?? '').split(',').filter((k) => k.trim()),
    participants: {
      failuresToOpen: config.PARTICIPANT_FAILURES_TO_OPEN,
      halfOpenMs: config.PARTICIPANT_HALF_OPEN_MS,
      ...(config.SAGA_PARTICIPANT_LIMITS ? { limits: config.SAGA_PARTICIPANT_LIMITS } : {}),
      leaseMs: config.PARTICIPANT_LEASE_MS,
    },
  };
  const corsOrigins = (config.CORS_ORIGINS ?? '')
    .split(',')
    .map((o) => o.trim())
    .filter(Boolean);
  const trust = config.TRUST_PROXY?.trim();
  const trustProxy = trust === undefined ? undefined : /^\d+$/.test(trust) ? Number(trust) : trust;
  return {
    options,
    app: {
      requestTimeoutMs: config.REQUEST_TIMEOUT_MS,
      corsOrigins,
      ...(trustProxy !== undefined ? { trustProxy } : {}),
    },
  };
}

function list(value: string): string[] {
  return value
    .split(',')
    .map((v) => v.trim())
    .filter(Boolean);
}
