import { type INestApplication, type INestApplicationContext, Module, type ModuleMetadata } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { DestinationStream } from 'pino';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { Transport } from '@nestjs/microservices';
import { Client } from 'pg';
import { Redis } from 'ioredis';
import request from 'supertest';
import TestAgent from 'supertest/lib/agent';
import type { SagaDefinition } from '@saga-engine/core';
import { DroneDeliveryClientModule, DroneDeliveryParticipants, droneDeliverySaga, parcelOrderSaga } from '@demo/sagas';
import { loadConfig } from '../../libs/nestjs/src/config/engine-config';
import { sagaOptionsFromEnv } from '../../libs/nestjs/src/config/env-options';
import { ParticipantPolicies } from '../../libs/nestjs/src/invokers/participant-policies';
import { SagaModule } from '../../libs/nestjs/src/module/saga.module';
import type { SagaRole } from '../../libs/nestjs/src/module/options';
import { setupSagaApp } from '../../libs/nestjs/src/api/setup-saga-app';
import { SagaLogger } from '../../libs/nestjs/src/observability/logger';
import type { LedgerEntry } from '../../apps/demo-services/src/demo-ledger';
import { type DemoServices, startDemoServices } from '../../apps/demo-services/src/demo-services.module';
import { TEST_PG_ADMIN_URL, TEST_QUEUE_KIND, TEST_REDIS_URL } from './urls';
import { waitFor } from './wait-for';

/** The tests' SAGA_ENCRYPTION_KEY (32 bytes, base64): the demo saga has a sensitive field. */
export const TEST_ENCRYPTION_KEY = Buffer.alloc(32, 7).toString('base64');

/** The tests' API keys, named as their roles (`SAGA_API_KEYS=admin:<key>:admin,...`). */
export const KEYS = {
  admin: 'test-admin-key-0123456789abcdefghijkl',
  operator: 'test-operator-key-0123456789abcdefghijkl',
  viewer: 'test-viewer-key-0123456789abcdefghijkl',
} as const;

/** `SAGA_API_KEYS` for KEYS, each named as its role. */
export const TEST_API_KEYS = `admin:${KEYS.admin}:admin,operator:${KEYS.operator}:operator,viewer:${KEYS.viewer}:viewer`;

/** A database of its own for one test file: created empty, dropped at the end. */
export class TestDatabase {
  readonly name = `saga_test_${Date.now().toString(36)}_${randomBytes(4).toString('hex')}`;
  readonly url: string;

  constructor(private readonly adminUrl = TEST_PG_ADMIN_URL) {
    const url = new URL(adminUrl);
    url.pathname = `/${this.name}`;
    this.url = url.toString();
  }

  async create(): Promise<void> {
    await this.admin((c) => c.query(`CREATE DATABASE "${this.name}"`));
  }

  async drop(): Promise<void> {
    await this.admin((c) => c.query(`DROP DATABASE IF EXISTS "${this.name}" WITH (FORCE)`));
  }

  /** Runs one query against this test database. */
  async query<T = Record<string, unknown>>(sql: string, params: unknown[] = []): Promise<T[]> {
    const client = new Client({ connectionString: this.url });
    await client.connect();
    try {
      return (await client.query(sql, params)).rows as T[];
    } finally {
      await client.end();
    }
  }

  private async admin(fn: (c: Client) => Promise<unknown>): Promise<void> {
    const client = new Client({ connectionString: this.adminUrl });
    await client.connect();
    try {
      await fn(client);
    } finally {
      await client.end();
    }
  }
}

/** Deletes every Redis key under a test's prefix. */
export async function dropRedisPrefix(prefix: string): Promise<void> {
  const redis = new Redis(TEST_REDIS_URL, { maxRetriesPerRequest: 1 });
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
      if (keys.length) await redis.del(...keys);
      cursor = next;
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
}

export interface TestEngine {
  app: INestApplication;
  db: TestDatabase;
  prefix: string;
  http(): TestAgent;
  /** A request builder with the given role's key. */
  as(role: keyof typeof KEYS): { get(path: string): request.Test; post(path: string): request.Test };
  /** Waits until the saga is in one of `statuses`, and returns it. */
  waitForStatus(id: string, statuses: string[], timeoutMs?: number): Promise<any>;
  /** The demo participants' ledger for a saga, through the demo services' `GET /v1/demo/ledger`. */
  ledger(sagaId: string): Promise<LedgerEntry[]>;
  /** The engine's own URL (`http://127.0.0.1:<port>`). */
  url: string;
  /** The configuration it runs with. */
  config: ReturnType<typeof loadConfig>;
  /** The demo services run in this process (`demo: true`), or null. */
  demo: DemoServices | null;
  /** The demo services' HTTP URL (in-process or external), or null. */
  demoUrl: string | null;
  /** The circuit breakers of this engine's agent. */
  participants: ParticipantPolicies;
  /** The drone-delivery participants as the saga calls them (through the invokers), with `demo`. */
  droneDelivery: DroneDeliveryParticipants | null;
  /** The engine's API key of each role. */
  keys: typeof KEYS;
  close(): Promise<void>;
  /** Stops the engine but keeps its database and Redis keys, for another engine to start on (`db`, `prefix`). */
  stop(): Promise<void>;
}

/**
 * Where a test's engine finds demo services that run as separate processes: their HTTP URL, and their TCP port,
 * or none for the transport the engine's configuration picks (Redis when REDIS_URL is set).
 */
export interface ExternalDemo {
  url: string;
  tcpPort?: number;
}

export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/**
 * The real engine (SagaModule with the API, the supervisor, and an agent unless `agent: false`) on a fresh
 * database and Redis prefix, listening on an ephemeral loopback port. `demo: true` runs the drone-delivery saga
 * against the demo services, started in this process as their own Nest application (HTTP on an ephemeral port,
 * messages over the real TCP transport on a free port), their schema in the same fresh database; `demo: { url,
 * tcpPort }` against demo services the test runs as separate processes. `sagas` are added to the demo's (their
 * `deps` may name `DroneDeliveryParticipants` when `demo` is set); `imports` add modules that provide other deps.
 */
export async function startTestEngine(options: {
  sagas?: readonly SagaDefinition<any, any>[];
  demo?: boolean | ExternalDemo;
  agent?: boolean;
  env?: Record<string, string>;
  /** Modules that provide the `deps` of `sagas`. */
  imports?: ModuleMetadata['imports'];
  /** Where the step jobs go: Redis, or BullMQ's PostgreSQL backend in the test database. Default: this run's. */
  queue?: 'redis' | 'postgres';
  /** The PostgreSQL to create the test database in (a private one, for tests that stop it). Default: this run's. */
  pgAdminUrl?: string;
  /** Log through pino (as the apps do) into this stream, instead of Nest's console logger. */
  logs?: DestinationStream;
  /** A database the caller made (and migrated, and maybe granted): used as is, still dropped by close(). */
  db?: TestDatabase;
  /** Connect as this PostgreSQL role instead of the URL's (the owner's): e.g. a least-privilege role. */
  dbUser?: string;
  /** The Redis key prefix of an engine stopped with `stop()`, to pick up its jobs. */
  prefix?: string;
  /** Listen on this loopback port (e.g. one an OIDC provider's redirect URI names) instead of an ephemeral one. */
  port?: number;
}): Promise<TestEngine> {
  const db = options.db ?? new TestDatabase(options.pgAdminUrl);
  if (!options.db) await db.create();
  const databaseUrl = new URL(db.url);
  if (options.dbUser) databaseUrl.username = options.dbUser;
  const prefix = options.prefix ?? `test-${randomBytes(6).toString('hex')}`;
  const queue = options.queue ?? TEST_QUEUE_KIND;
  const config = loadConfig({
    DATABASE_URL: databaseUrl.toString(),
    ...(queue === 'redis' ? { REDIS_URL: TEST_REDIS_URL } : {}),
    SAGA_REDIS_PREFIX: prefix,
    SAGA_API_KEYS: TEST_API_KEYS,
    // Tests poll and probe a lot: the limits are tested on their own (security, rate-limit), with their values.
    RATE_LIMIT_PER_MINUTE: '100000',
    AUTH_FAILURES_PER_ADDRESS: '100000',
    DB_POOL_SIZE: '10',
    SAGA_ENCRYPTION_KEY: TEST_ENCRYPTION_KEY,
    LOG_LEVEL: process.env.LOG_LEVEL ?? 'error',
    // A circuit opened by a test's faults lets a trial call through soon (the default is 5 s).
    PARTICIPANT_HALF_OPEN_MS: '1000',
    ...options.env,
  });
  // Filled in once the engine listens: the in-process demo services report DeliveryCompleted to it.
  let engineUrl: string | null = null;
  let demo: DemoServices | null = null;
  let demoAt: ExternalDemo | null = typeof options.demo === 'object' ? options.demo : null;
  if (options.demo === true) {
    const tcpPort = await freePort();
    demo = await startDemoServices({
      databaseUrl: db.url,
      port: 0,
      host: '127.0.0.1',
      transport: { transport: Transport.TCP, options: { host: '127.0.0.1', port: tcpPort } },
      patternPrefix: prefix,
      flightMs: Number(options.env?.DEMO_FLIGHT_MS ?? 300),
      signalTarget: () => (engineUrl ? { url: engineUrl, apiKey: KEYS.operator } : null),
      poolSize: 5,
      logger: ['error'],
    });
    demoAt = { url: demo.url, tcpPort };
  }
  const sagas = [...(demoAt ? [droneDeliverySaga, parcelOrderSaga] : []), ...(options.sagas ?? [])];
  if (sagas.length === 0) throw new Error('startTestEngine needs `sagas` or `demo`');
  const { options: sagaOptions, app: appSetup } = sagaOptionsFromEnv(config);
  const roles: SagaRole[] = [
    ...(options.agent === false ? [] : (['agent'] as const)),
    'api',
    ...(config.SUPERVISOR_ENABLED === 'true' ? (['supervisor'] as const) : []),
  ];
  const demoClient = demoAt
    ? [
        DroneDeliveryClientModule.forRoot({
          transport:
            demoAt.tcpPort === undefined
              ? {
                  transport: Transport.REDIS,
                  options: {
                    host: new URL(TEST_REDIS_URL).hostname,
                    port: Number(new URL(TEST_REDIS_URL).port || 6379),
                  },
                }
              : { transport: Transport.TCP, options: { host: '127.0.0.1', port: demoAt.tcpPort } },
          demoUrl: demoAt.url,
          patternPrefix: prefix,
        }),
      ]
    : [];

  @Module({
    imports: [
      SagaModule.forRoot({ ...sagaOptions, roles, sagas, isGlobal: true }),
      ...demoClient,
      ...(options.imports ?? []),
    ],
  })
  class TestEngineModule {}

  const app = await NestFactory.create(TestEngineModule, {
    // A start that fails throws to the test (Nest's default exits the process, ending the whole jest run).
    abortOnError: false,
    bodyParser: false,
    logger: ['error', 'warn'].slice(0, config.LOG_LEVEL === 'error' ? 1 : 2) as ('error' | 'warn')[],
  });
  if (options.logs)
    app.useLogger(new SagaLogger({ level: config.LOG_LEVEL, format: 'json', destination: options.logs }));
  setupSagaApp(app, appSetup);
  await app.listen(options.port ?? 0, '127.0.0.1');
  engineUrl = (await app.getUrl()).replace('[::1]', '127.0.0.1');
  const server = app.getHttpServer();
  const http = () => request(server);
  const as = (role: keyof typeof KEYS) => ({
    get: (path: string) => request(server).get(path).set('Authorization', `Bearer ${KEYS[role]}`),
    post: (path: string) => request(server).post(path).set('Authorization', `Bearer ${KEYS[role]}`),
  });
  return {
    app,
    db,
    prefix,
    http,
    as,
    keys: KEYS,
    waitForStatus: (id, statuses, timeoutMs = 20_000) =>
      waitFor(
        async () => {
          const res = await as('viewer').get(`/v1/sagas/${id}`);
          return statuses.includes(res.body.status) ? res.body : undefined;
        },
        { timeoutMs, what: `saga ${id} to reach ${statuses.join('|')}` },
      ),
    ledger: async (sagaId) => {
      if (!demoAt) throw new Error('no demo services');
      const res = await fetch(`${demoAt.url}/v1/demo/ledger?sagaId=${encodeURIComponent(sagaId)}`);
      if (res.status !== 200) throw new Error(`GET /v1/demo/ledger answered ${res.status}`);
      return (await res.json()) as LedgerEntry[];
    },
    url: engineUrl,
    config,
    demo,
    demoUrl: demoAt?.url ?? null,
    participants: app.get(ParticipantPolicies),
    droneDelivery: demoAt ? app.get(DroneDeliveryParticipants) : null,
    close: async () => {
      await app.close();
      await demo?.close();
      await db.drop();
      if (queue === 'redis') await dropRedisPrefix(prefix);
    },
    stop: async () => {
      await app.close();
      await demo?.close();
    },
  };
}

/**
 * An agent of its own beside a test engine (same database, Redis and prefix): `SagaModule` with the `agent` role
 * only, the way a service that runs sagas' steps is, in this process. For tests whose engine runs without an agent
 * (`agent: false`), so that every step goes through the queue; `env` overrides the engine's configuration.
 */
export async function startTestAgent(
  engine: Pick<TestEngine, 'config'>,
  sagas: readonly SagaDefinition<any, any>[],
  env: Record<string, string> = {},
): Promise<INestApplicationContext> {
  const config = loadConfig({ ...configAsEnv(engine.config), ...env });
  const { options } = sagaOptionsFromEnv(config);
  @Module({ imports: [SagaModule.forRoot({ ...options, roles: ['agent'], sagas })] })
  class TestAgentModule {}
  const app = await NestFactory.createApplicationContext(TestAgentModule, {
    logger: ['error', 'warn'].slice(0, config.LOG_LEVEL === 'error' ? 1 : 2) as ('error' | 'warn')[],
  });
  await app.init();
  return app;
}

/** A loaded configuration back as environment variables (what loadConfig reads). */
function configAsEnv(config: ReturnType<typeof loadConfig>): Record<string, string> {
  return Object.fromEntries(
    Object.entries(config).flatMap(([key, value]) => (value === undefined ? [] : [[key, String(value)]])),
  );
}
