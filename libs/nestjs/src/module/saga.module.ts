import {
  ConfigurableModuleBuilder,
  type DynamicModule,
  Inject,
  Injectable,
  Logger,
  type MiddlewareConsumer,
  Module,
  type NestModule,
  type OnApplicationBootstrap,
  Optional,
  type OnApplicationShutdown,
  type Provider,
  RequestMethod,
  type Type,
} from '@nestjs/common';
import { HttpAdapterHost, RouterModule } from '@nestjs/core';
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
import { dashboardHeaders, defaultDashboardDir, dashboardMiddleware } from '../api/dashboard/serve-dashboard';
import { ApiExceptionFilter } from '../api/http/api-exception.filter';
import { API_KEYS, ApiKeyGuard, ApiKeys, Authenticator, CREDENTIAL_SOURCES } from '../api/http/auth';
import { HealthController } from '../api/http/health.controller';
import { BEARER_TOKENS, BearerTokens } from '../api/http/oidc';
import { MetricsController } from '../api/http/metrics.controller';
import { AuthRateLimits, RATE_LIMIT_TIMEOUT_MS } from '../api/http/rate-limit';
import { UnavailableInterceptor } from '../api/http/unavailable.interceptor';
import { bodyLimits, inOrder, securityHeaders } from '../api/http/request-limits';
import { AgentsController } from '../api/participants/agents.controller';
import { ParticipantsController } from '../api/participants/participants.controller';
import { OperatorActions } from '../api/sagas/operator-actions';
import { SagaOperations } from '../api/sagas/saga-operations';
import { SagaActionsController } from '../api/sagas/saga-actions.controller';
import { SagaTypesController } from '../api/sagas/saga-types.controller';
import { SagaVersionsController } from '../api/sagas/saga-versions.controller';
import { SagasController } from '../api/sagas/sagas.controller';
import { ScheduleOperations } from '../api/schedules/schedule-operations';
import { SchedulesController } from '../api/schedules/schedules.controller';
import { ScheduleRunner } from '../schedules/schedule-runner';
import { ScheduleStore } from '../store/schedule-store';
import { LocalSagaTransport } from '../client/local-transport';
import { SagaClient } from '@saga-engine/client';
import { ParticipantPolicies } from '../invokers/participant-policies';
import { ClusterLimiter } from '../invokers/participant-limits';
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
import { VersionWatch } from '../scheduler/version-watch';
import { VersionReport } from '../supervisor/version-report';
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
import { BulkJobRunner } from '../supervisor/bulk-job-runner';
import { BulkJobStore } from '../store/bulk-job-store';
import { BulkActions } from '../api/bulk/bulk-actions';
import { BulkActionsController } from '../api/bulk/bulk-actions.controller';
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
  SagaVersionsController,
  AuditController,
  DashboardApiController,
  HealthController,
  MetricsController,
  ParticipantsController,
  AgentsController,
  SchedulesController,
  BulkActionsController,
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
export class SagaModule extends ConfigurableModuleClass implements NestModule, OnApplicationBootstrap {
  constructor(
    @Inject(RESOLVED_OPTIONS) private readonly options: ResolvedSagaOptions,
    @Inject(SAGA_ROLES) private readonly roles: readonly SagaRole[],
    @Optional() private readonly authenticator?: Authenticator,
    @Optional() private readonly adapterHost?: HttpAdapterHost,
    @Optional() @Inject(BEARER_TOKENS) private readonly tokens: BearerTokens | null = null,
  ) {
    super();
  }

  /**
   * The API's middleware, on its routes only: the security headers, then the key check (key lookup, the limits of
   * wrong keys per address and of requests per key), and only then the body (size, JSON, parse, shape), so that
   * no anonymous body is ever read or parsed. /health reads no body at all. And the dashboard's static files.
   */
  configure(consumer: MiddlewareConsumer): void {
    if (!this.roles.includes('api') || !this.authenticator) return;
    const { api } = this.options;
    consumer.apply(securityHeaders).forRoutes(HealthController);
    consumer
      .apply(inOrder(securityHeaders, this.authenticator.middleware(), ...bodyLimits(api)))
      .forRoutes(...API_CONTROLLERS.filter((controller) => controller !== HealthController));
    if (api.dashboard) {
      const dir = api.dashboardDir ?? defaultDashboardDir();
      consumer
        .apply(...dashboardHeaders(this.tokens), dashboardMiddleware(dir, api.path, this.tokens?.publicConfig()))
        .forRoutes(
          { path: `${api.path}/dashboard`, method: RequestMethod.GET },
          { path: `${api.path}/dashboard/*path`, method: RequestMethod.GET },
        );
    }
  }

  /**
   * Warns when the app parses JSON bodies for every route before the engine's key check: Nest does unless the app
   * is created with `NestFactory.create(AppModule, { bodyParser: false })`, and then anonymous clients can make
   * this process read and parse large bodies before they are refused.
   */
  onApplicationBootstrap(): void {
    if (!this.roles.includes('api')) return;
    const instance: unknown = this.adapterHost?.httpAdapter?.getInstance?.();
    const router = (instance as { router?: { stack?: { name?: string }[] } } | undefined)?.router;
    const parsers = (router?.stack ?? []).filter(
      (layer) => layer.name === 'jsonParser' || layer.name === 'urlencodedParser',
    );
    if (parsers.length > 0) {
      new Logger('SagaModule').warn(
        "the app parses request bodies before the API key check (Nest's default body parser): create it with " +
          'NestFactory.create(AppModule, { bodyParser: false }) and parse JSON for your own routes only ' +
          '(docs/nestjs.md, "Mounting the API")',
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
    BulkJobStore,
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
        new ParticipantPolicies(
          { consecutiveFailures: o.failuresToOpen, halfOpenAfterMs: o.halfOpenMs },
          {
            // Every role gets one with Redis: agents take slots, the API shows them (GET /v1/participants).
            limiter: o.redisUrl ? openClusterLimiter(o.redisUrl, o.queuePrefix, o.participantLeaseMs) : null,
            overrides: o.participantLimits,
          },
        ),
      inject: [RESOLVED_OPTIONS],
    },
    SagaRegistry,
    VersionWatch,
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
        participants.onThrottle((participant) => metrics.participantThrottled.inc({ participant }));
        return metrics;
      },
      inject: [SagaStore, StepQueue, ParticipantPolicies, DependencyMonitor],
    },
    AlertService,
    SagaScheduler,
    SagaOperations,
    ScheduleOperations,
    OperatorActions,
    BulkActions,
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
    BulkJobRunner,
    VersionReport,
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
      useFactory: (o: ResolvedSagaOptions) => new ApiKeys(o.api.keys),
      inject: [RESOLVED_OPTIONS],
    },
    // The API keys, then (with single sign-on) the OIDC tokens: each a credential source of the Authenticator.
    {
      provide: BEARER_TOKENS,
      useFactory: (o: ResolvedSagaOptions) => {
        if (!o.api.oidc) return null;
        const tokens = new BearerTokens(o.api.oidc);
        tokens.warmUp();
        return tokens;
      },
      inject: [RESOLVED_OPTIONS],
    },
    {
      provide: CREDENTIAL_SOURCES,
      useFactory: (keys: ApiKeys, tokens: BearerTokens | null) =>
        tokens ? [keys, tokens.asCredentialSource()] : [keys],
      inject: [API_KEYS, BEARER_TOKENS],
    },
    { provide: AuthRateLimits, useFactory: authRateLimits, inject: [RESOLVED_OPTIONS] },
    Authenticator,
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

/**
 * Shared by every API process through Redis when there is one (per process while it does not answer); per process
 * otherwise. Its own connection: fail fast (no offline queue, 250 ms per command), so that a slow or absent Redis
 * never holds a request.
 */
function authRateLimits(o: ResolvedSagaOptions): AuthRateLimits {
  const limits = { perKeyPerMinute: o.api.rateLimitPerMinute, failuresPerAddress: o.api.authFailuresPerAddress };
  const needed = limits.perKeyPerMinute > 0 || limits.failuresPerAddress > 0;
  if (!o.redisUrl || !needed) return new AuthRateLimits(limits);
  const redis = createRedis(o.redisUrl, 'producer', {
    connectionName: 'saga-rate-limit',
    commandTimeout: RATE_LIMIT_TIMEOUT_MS,
  });
  return new AuthRateLimits(limits, redis, o.queuePrefix);
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

/**
 * The Redis connection of the participant limits: fail fast (no offline queue, one retry, a command timeout), so
 * that a Redis away throttles calls within a second instead of hanging them (see ClusterLimiter).
 */
function openClusterLimiter(redisUrl: string, prefix: string, leaseMs: number): ClusterLimiter {
  const redis = createRedis(redisUrl, 'producer', { commandTimeout: 1_000 });
  // Its failures show as throttled calls (their message says Redis did not answer); the queues log Redis's state.
  redis.on('error', () => undefined);
  return new ClusterLimiter(redis, { prefix, leaseMs });
}
