import {
  ConfigurableModuleBuilder,
  type DynamicModule,
  Inject,
  Injectable,
  type MiddlewareConsumer,
  Module,
  type NestModule,
  type OnApplicationShutdown,
  type Provider,
  RequestMethod,
  type Type,
} from '@nestjs/common';
import { RouterModule } from '@nestjs/core';
import type { DataSource } from 'typeorm';
import type { SagaDefinition } from '@saga-engine/core';
import { AgentPresence } from '../agent/agent-presence';
import { AttemptIsolation } from '../agent/attempt-isolation';
import { CircuitRecorder } from '../agent/circuit-recorder';
import { StepDeps } from '../agent/step-deps';
import { StepExecutor } from '../agent/step-executor';
import { StepWorker } from '../agent/step-worker';
import { AuditController } from '../api/audit/audit.controller';
import { DashboardApiController } from '../api/dashboard/dashboard-api.controller';
import { defaultDashboardDir, dashboardMiddleware } from '../api/dashboard/serve-dashboard';
import { ApiExceptionFilter } from '../api/http/api-exception.filter';
import { API_KEYS, ApiKeyGuard, ApiKeys, RATE_LIMIT_PER_MINUTE, RateLimiter } from '../api/http/auth';
import { HealthController } from '../api/http/health.controller';
import { MetricsController } from '../api/http/metrics.controller';
import { RATE_LIMIT_TIMEOUT_MS, RedisRateLimiter } from '../api/http/rate-limit';
import { UnavailableInterceptor } from '../api/http/unavailable.interceptor';
import { requestLimits, securityHeaders } from '../api/http/request-limits';
import { AgentsController } from '../api/participants/agents.controller';
import { ParticipantsController } from '../api/participants/participants.controller';
import { OperatorActions } from '../api/sagas/operator-actions';
import { SagaOperations } from '../api/sagas/saga-operations';
import { SagaActionsController } from '../api/sagas/saga-actions.controller';
import { SagaTypesController } from '../api/sagas/saga-types.controller';
import { SagasController } from '../api/sagas/sagas.controller';
import { ScheduleOperations } from '../api/schedules/schedule-operations';
import { SchedulesController } from '../api/schedules/schedules.controller';
import { ScheduleRunner } from '../schedules/schedule-runner';
import { ScheduleStore } from '../store/schedule-store';
import { LocalSagaTransport } from '../client/local-transport';
import { SagaClient } from '@saga-engine/client';
import { ParticipantPolicies } from '../invokers/participant-policies';
import { AlertService } from '../observability/alert.service';
import { DEPENDENCY_LEVEL_VALUE, DependencyMonitor } from '../observability/dependency-monitor';
import { DependencyWatchdog } from '../observability/dependency-watchdog';
import { EngineMetrics } from '../observability/engine-metrics';
import { within } from '../observability/time-limit';
import { queueBackendFor } from '../queue/queue-backend';
import { createRedis } from '../queue/redis';
import { StepQueue } from '../queue/step-queue';
import { TRANSPORT_OPTIONS, type TransportOptions } from '../queue/transport-options';
import { DefinitionPublisher } from '../scheduler/definition-publisher';
import { SagaRegistry } from '../scheduler/saga-registry';
import { SagaScheduler } from '../scheduler/saga-scheduler';
import { SnapshotCache } from '../scheduler/snapshot-cache';
import { cipherForSagas } from '../security/input-cipher';
import { AgentStore } from '../store/agent-store';
import { SAGA_DATA_SOURCE, openSagaDataSource } from '../store/data-source';
import { DefinitionStore } from '../store/definition-store';
import { AlertOutbox } from '../store/saga-alerts';
import { AuditLog } from '../store/saga-audit';
import { SagaQueries } from '../store/saga-queries';
import { SagaStore } from '../store/saga-store';
import { SupervisorStore } from '../store/supervisor-store';
import type { PgTimeouts } from '../store/pg-timeouts';
import { ALERT_SENDER_OPTIONS, AlertSender, DEFAULT_ALERT_SENDER_OPTIONS } from '../supervisor/alert-sender';
import { Supervisor } from '../supervisor/supervisor';
import {
  type ResolvedSagaOptions,
  SAGA_ROLES as ALL_ROLES,
  SagaConfigError,
  type SagaModuleExtras,
  type SagaModuleOptions,
  type SagaRole,
  normalizeApiPath,
  resolveSagaOptions,
  runningMarkMs,
} from './options';
import {
  INPUT_CIPHER,
  RESOLVED_OPTIONS,
  RUNTIME_OPTIONS,
  type RuntimeOptions,
  SAGA_DEFINITIONS,
  SAGA_ROLES,
  SUPERVISOR_OPTIONS,
  type SupervisorOptions,
} from './tokens';

const { ConfigurableModuleClass, MODULE_OPTIONS_TOKEN } = new ConfigurableModuleBuilder<SagaModuleOptions>({
  moduleName: 'Saga',
})
  .setClassMethodName('forRoot')
  .setExtras<SagaModuleExtras>({ roles: ALL_ROLES, sagas: [], isGlobal: false, apiPath: '' }, (definition, extras) =>
    sagaModuleDefinition(definition, extras),
  )
  .build();

/** The engine's controllers: the API role's routes, under `api.path`. */
const API_CONTROLLERS: Type[] = [
  SagasController,
  SagaActionsController,
  SagaTypesController,
  AuditController,
  DashboardApiController,
  HealthController,
  MetricsController,
  ParticipantsController,
  AgentsController,
  SchedulesController,
];

/**
 * The saga engine in a Nest application:
 *
 * ```ts
 * SagaModule.forRoot({ databaseUrl, redisUrl, api: { keys }, roles: ['agent', 'api'], sagas: [orderSaga] })
 * SagaModule.forRootAsync({ roles: ['agent'], sagas: [orderSaga], inject: [ConfigService],
 *   useFactory: (config: ConfigService) => ({ databaseUrl: config.getOrThrow('DATABASE_URL') }) })
 * ```
 *
 * `roles` and `sagas` are declared with the module (they decide its providers and routes); everything else may
 * come from a factory. It logs through the app's logger and stops with the app (`enableShutdownHooks()`): the agent
 * lets its running steps report, then the queues and the database close. Inject `SagaClient` to start and follow
 * sagas, `ParticipantPolicies` to build invokers whose circuits the engine reports.
 */
@Module({})
export class SagaModule extends ConfigurableModuleClass implements NestModule {
  constructor(
    @Inject(RESOLVED_OPTIONS) private readonly options: ResolvedSagaOptions,
    @Inject(SAGA_ROLES) private readonly roles: readonly SagaRole[],
  ) {
    super();
  }

  /** The API's request limits on its routes only, and the dashboard's static files. */
  configure(consumer: MiddlewareConsumer): void {
    if (!this.roles.includes('api')) return;
    const { api } = this.options;
    consumer.apply(...requestLimits(api)).forRoutes(...API_CONTROLLERS);
    if (api.dashboard) {
      const dir = api.dashboardDir ?? defaultDashboardDir();
      consumer
        .apply(securityHeaders, dashboardMiddleware(dir, api.path))
        .forRoutes(
          { path: `${api.path}/dashboard`, method: RequestMethod.GET },
          { path: `${api.path}/dashboard/*path`, method: RequestMethod.GET },
        );
    }
  }
}

function sagaModuleDefinition(definition: DynamicModule, extras: SagaModuleExtras): DynamicModule {
  const roles = [...new Set(extras.roles ?? ALL_ROLES)];
  for (const role of roles) {
    if (!ALL_ROLES.includes(role)) {
      throw new SagaConfigError(`SagaModule: unknown role "${String(role)}" (roles are ${ALL_ROLES.join(', ')})`);
    }
  }
  const sagas = [...(extras.sagas ?? [])] as SagaDefinition[];
  const api = roles.includes('api');
  const problems: string[] = [];
  const apiPath = normalizeApiPath(extras.apiPath ?? '', problems);
  if (problems.length > 0) throw new SagaConfigError(`Invalid SagaModule options:\n  - ${problems.join('\n  - ')}`);
  const providers: Provider[] = [
    ...(definition.providers ?? []),
    { provide: SAGA_ROLES, useValue: roles },
    { provide: SAGA_DEFINITIONS, useValue: sagas },
    {
      provide: RESOLVED_OPTIONS,
      useFactory: (options: SagaModuleOptions) => resolveSagaOptions(options, roles, apiPath),
      inject: [MODULE_OPTIONS_TOKEN],
    },
    ...coreProviders(sagas),
    ...(roles.includes('agent') ? agentProviders() : []),
    ...(roles.includes('supervisor') ? supervisorProviders() : []),
    ...(api ? apiProviders() : []),
  ];
  return {
    ...definition,
    global: extras.isGlobal ?? false,
    imports: [
      ...(definition.imports ?? []),
      ...(api && apiPath ? [RouterModule.register([{ path: apiPath, module: SagaModule }])] : []),
    ],
    controllers: api ? API_CONTROLLERS : [],
    providers,
    exports: [SagaClient, ParticipantPolicies, SagaScheduler, EngineMetrics, DependencyMonitor],
  };
}

/** What every role needs: the store, the queues, the registry and the scheduler. */
function coreProviders(sagas: readonly SagaDefinition[]): Provider[] {
  return [
    DependencyMonitor,
    {
      provide: SAGA_DATA_SOURCE,
      useFactory: (o: ResolvedSagaOptions) => openSagaDataSource(o.databaseUrl, o.databasePoolSize, pgTimeouts(o)),
      inject: [RESOLVED_OPTIONS],
    },
    DataSourceCloser,
    SagaStore,
    SagaQueries,
    AuditLog,
    AlertOutbox,
    SupervisorStore,
    DefinitionStore,
    AgentStore,
    ScheduleStore,
    {
      provide: TRANSPORT_OPTIONS,
      useFactory: (o: ResolvedSagaOptions): TransportOptions => ({
        queue: queueBackendFor(o.redisUrl ?? undefined, o.databaseUrl),
        prefix: o.queuePrefix,
        redisCommandTimeoutMs: o.redisCommandTimeoutMs,
        pgTimeouts: pgTimeouts(o),
      }),
      inject: [RESOLVED_OPTIONS],
    },
    StepQueue,
    {
      provide: RUNTIME_OPTIONS,
      useFactory: (o: ResolvedSagaOptions): RuntimeOptions => ({
        agentConcurrency: o.agentConcurrency,
        runningMarkMs: runningMarkMs(o.scheduleToStartMs),
        shutdownGraceMs: o.shutdownGraceMs,
      }),
      inject: [RESOLVED_OPTIONS],
    },
    {
      provide: INPUT_CIPHER,
      useFactory: (o: ResolvedSagaOptions) => cipherForSagas(o.encryptionKey, o.retiredEncryptionKeys, sagas),
      inject: [RESOLVED_OPTIONS],
    },
    {
      provide: ParticipantPolicies,
      useFactory: (o: ResolvedSagaOptions) =>
        new ParticipantPolicies({ consecutiveFailures: o.failuresToOpen, halfOpenAfterMs: o.halfOpenMs }),
      inject: [RESOLVED_OPTIONS],
    },
    SagaRegistry,
    DefinitionPublisher,
    SnapshotCache,
    {
      provide: EngineMetrics,
      useFactory: (
        store: SagaStore,
        queue: StepQueue,
        participants: ParticipantPolicies,
        monitor: DependencyMonitor,
      ) => {
        const metrics = new EngineMetrics();
        // A scrape must answer even while a dependency hangs: each source read has a second at most.
        metrics.setSources({
          failedSagas: async () => {
            const rows: { n: number }[] = await within(
              store.dataSource.query(`SELECT count(*)::int AS n FROM saga_instance WHERE status = 'FAILED'`),
              SCRAPE_READ_MS,
              'no answer from PostgreSQL',
            );
            return rows[0].n;
          },
          queue: () => within(queue.stats(), SCRAPE_READ_MS, 'the queue did not answer'),
          circuits: () => participants.states(),
          dependencies: () =>
            [...new Set([...monitor.known(), 'postgres' as const, queue.dependency])].map((dependency) => ({
              dependency,
              value: DEPENDENCY_LEVEL_VALUE[monitor.level(dependency)],
            })),
        });
        return metrics;
      },
      inject: [SagaStore, StepQueue, ParticipantPolicies, DependencyMonitor],
    },
    AlertService,
    SagaScheduler,
    SagaOperations,
    ScheduleOperations,
    OperatorActions,
    LocalSagaTransport,
    {
      provide: SagaClient,
      useFactory: (transport: LocalSagaTransport) => new SagaClient(transport),
      inject: [LocalSagaTransport],
    },
  ];
}

function agentProviders(): Provider[] {
  return [AttemptIsolation, StepDeps, StepExecutor, StepWorker, CircuitRecorder, AgentPresence];
}

function supervisorProviders(): Provider[] {
  return [
    {
      provide: SUPERVISOR_OPTIONS,
      useFactory: (o: ResolvedSagaOptions): SupervisorOptions => ({
        intervalMs: o.supervisorIntervalMs,
        scheduleToStartMs: o.scheduleToStartMs,
        retentionMs: o.retentionMs,
        poisonAfterDeaths: o.poisonAfterDeaths,
      }),
      inject: [RESOLVED_OPTIONS],
    },
    ScheduleRunner,
    Supervisor,
    {
      provide: ALERT_SENDER_OPTIONS,
      useFactory: (o: ResolvedSagaOptions) => ({ ...DEFAULT_ALERT_SENDER_OPTIONS, webhookUrl: o.alertWebhookUrl }),
      inject: [RESOLVED_OPTIONS],
    },
    AlertSender,
  ];
}

function apiProviders(): Provider[] {
  return [
    {
      provide: API_KEYS,
      useFactory: (o: ResolvedSagaOptions) => new ApiKeys(new Map(o.api.keys.map((k) => [k.key, k.role]))),
      inject: [RESOLVED_OPTIONS],
    },
    { provide: RATE_LIMIT_PER_MINUTE, useFactory: rateLimit, inject: [RESOLVED_OPTIONS, DependencyMonitor] },
    ApiKeyGuard,
    ApiExceptionFilter,
    UnavailableInterceptor,
    DependencyWatchdog,
  ];
}

/** How long `/metrics` waits for each value it reads from PostgreSQL or the queue. */
const SCRAPE_READ_MS = 1_000;

/** The time limits of every PostgreSQL pool of the engine (see PgTimeouts). */
function pgTimeouts(o: ResolvedSagaOptions): PgTimeouts {
  return { statementMs: o.databaseStatementTimeoutMs, connectMs: o.databaseConnectTimeoutMs };
}

/** Shared by every API process through Redis when there is one; per process otherwise. */
function rateLimit(o: ResolvedSagaOptions, monitor: DependencyMonitor): RedisRateLimiter | RateLimiter {
  const perMinute = o.api.rateLimitPerMinute;
  const local = new RateLimiter(perMinute);
  if (!o.redisUrl || perMinute <= 0) return local;
  // Its own connection, with a short command timeout: it runs before every request and fails open (see take()).
  const redis = createRedis(o.redisUrl, 'producer', {
    connectionName: 'saga-rate-limit',
    commandTimeout: RATE_LIMIT_TIMEOUT_MS,
  });
  redis.on('error', () => undefined); // reported by take() when it matters; ioredis reconnects by itself
  return new RedisRateLimiter(redis, perMinute, o.queuePrefix, local, Date.now, monitor);
}

/** Closes the engine's database last, after every other shutdown hook that may still write to it. */
@Injectable()
class DataSourceCloser implements OnApplicationShutdown {
  constructor(@Inject(SAGA_DATA_SOURCE) private readonly dataSource: DataSource) {}

  async onApplicationShutdown(): Promise<void> {
    if (this.dataSource.isInitialized) await this.dataSource.destroy();
  }
}

export { MODULE_OPTIONS_TOKEN as SAGA_MODULE_OPTIONS };
