import { type INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { Logger as PinoLogger } from 'nestjs-pino';
import type { DestinationStream } from 'pino';
import { randomBytes } from 'node:crypto';
import { Client } from 'pg';
import { Redis } from 'ioredis';
import request from 'supertest';
import TestAgent from 'supertest/lib/agent';
import type { SagaDefinition } from '@app/engine';
import { allSagas } from '@app/sagas';
import { loadConfig } from '@app/runtime';
import { configureApp } from '../../apps/orchestrator/src/configure-app';
import { OrchestratorModule } from '../../apps/orchestrator/src/orchestrator.module';
import { DemoLedger, type LedgerEntry } from '../../apps/demo-services/src/demo-ledger';
import { DemoServicesModule } from '../../apps/demo-services/src/demo-services.module';
import { inProcessParticipants } from '../../apps/demo-services/src/in-process-participants';
import { TEST_PG_ADMIN_URL, TEST_QUEUE_KIND, TEST_REDIS_URL } from './urls';
import { waitFor } from './wait-for';

/** The tests' SAGA_ENCRYPTION_KEY (32 bytes, base64): the demo saga has a sensitive field. */
export const TEST_ENCRYPTION_KEY = Buffer.alloc(32, 7).toString('base64');

export const KEYS = {
  admin: 'test-admin-key-0123456789',
  operator: 'test-operator-key-0123456789',
  viewer: 'test-viewer-key-0123456789',
} as const;

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
  /** The demo participants' ledger for a saga, through `GET /v1/demo/ledger` (with `demo: true` only). */
  ledger(sagaId: string): Promise<LedgerEntry[]>;
  close(): Promise<void>;
}

/**
 * The real engine (API, scheduler, supervisor, and an agent unless `agent: false`) on a fresh database and Redis
 * prefix, listening on an ephemeral loopback port. `demo: true` runs the drone-delivery saga with the demo
 * participants, whose PostgreSQL ledger lives in the same fresh database; `sagas` adds saga types (or replaces the
 * demo when `demo` is not set).
 */
export async function startTestEngine(options: {
  sagas?: readonly SagaDefinition[];
  demo?: boolean;
  agent?: boolean;
  env?: Record<string, string>;
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
}): Promise<TestEngine> {
  const db = options.db ?? new TestDatabase(options.pgAdminUrl);
  if (!options.db) await db.create();
  const databaseUrl = new URL(db.url);
  if (options.dbUser) databaseUrl.username = options.dbUser;
  const prefix = `test-${randomBytes(6).toString('hex')}`;
  const queue = options.queue ?? TEST_QUEUE_KIND;
  const config = loadConfig({
    DATABASE_URL: databaseUrl.toString(),
    ...(queue === 'redis' ? { REDIS_URL: TEST_REDIS_URL } : {}),
    SAGA_REDIS_PREFIX: prefix,
    SAGA_API_KEYS: `${KEYS.admin}:admin,${KEYS.operator}:operator,${KEYS.viewer}:viewer`,
    DB_POOL_SIZE: '10',
    SAGA_ENCRYPTION_KEY: TEST_ENCRYPTION_KEY,
    LOG_LEVEL: process.env.LOG_LEVEL ?? 'error',
    ...options.env,
  });
  const demo = options.demo ? new DemoLedger(db.url, 5) : null;
  // `demo` and `sagas` together: the drone-delivery saga and the given ones.
  const sagas = [...(demo ? allSagas({ droneDelivery: inProcessParticipants(demo) }) : []), ...(options.sagas ?? [])];
  if (sagas.length === 0) throw new Error('startTestEngine needs `sagas` or `demo: true`');
  const app = await NestFactory.create(
    OrchestratorModule.forRoot({
      config,
      sagas,
      agent: options.agent ?? true,
      modules: demo ? [DemoServicesModule.forRoot(demo, { http: true })] : [],
      logDestination: options.logs,
    }),
    {
      bodyParser: false,
      logger: ['error', 'warn'].slice(0, config.LOG_LEVEL === 'error' ? 1 : 2) as ('error' | 'warn')[],
    },
  );
  if (options.logs) app.useLogger(app.get(PinoLogger));
  configureApp(app, config);
  await app.listen(0, '127.0.0.1');
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
    waitForStatus: (id, statuses, timeoutMs = 20_000) =>
      waitFor(
        async () => {
          const res = await as('viewer').get(`/v1/sagas/${id}`);
          return statuses.includes(res.body.status) ? res.body : undefined;
        },
        { timeoutMs, what: `saga ${id} to reach ${statuses.join('|')}` },
      ),
    ledger: async (sagaId) => {
      const res = await as('viewer').get(`/v1/demo/ledger?sagaId=${encodeURIComponent(sagaId)}`);
      if (res.status !== 200) throw new Error(`GET /v1/demo/ledger answered ${res.status}`);
      return res.body as LedgerEntry[];
    },
    close: async () => {
      await app.close();
      await db.drop();
      if (queue === 'redis') await dropRedisPrefix(prefix);
    },
  };
}
