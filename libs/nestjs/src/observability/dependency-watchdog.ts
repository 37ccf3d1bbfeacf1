import { Inject, Injectable, Logger, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { Client } from 'pg';
import { RESOLVED_OPTIONS } from '../module/tokens';
import type { ResolvedSagaOptions } from '../module/options';
import { refusesWrites } from '../queue/redis';
import { StepQueue } from '../queue/step-queue';
import { DependencyMonitor } from './dependency-monitor';
import { within } from './time-limit';
import { unavailability } from './unavailable';

/** Pause between two probes of PostgreSQL (Redis: every other one). */
export const WATCHDOG_INTERVAL_MS = 500;
/** A probe not answered within this is a failure: the dependency is down. */
export const PROBE_TIMEOUT_MS = 1_000;
/** PostgreSQL is degraded when the median of this many last probes is over the threshold (one slow probe is noise). */
const SLOW_WINDOW = 5;

/**
 * Watches PostgreSQL and Redis for the API (it runs in processes with the `api` role): a `SELECT 1` every
 * WATCHDOG_INTERVAL_MS on a connection of its own (so that a busy pool is not taken for a dead server), and a write
 * of a short-lived key in Redis every other time. What it finds goes to the DependencyMonitor:
 *
 * - no answer within PROBE_TIMEOUT_MS, or an error: `down`. The API then answers 503 at once, and requests already
 *   waiting for PostgreSQL are answered 503 too (UnavailableInterceptor): a hung PostgreSQL costs a request at most
 *   the probe interval plus its timeout, about 1.5 s, whatever the statement time limits are.
 * - PostgreSQL answering, but the median of the last probes slower than `api.slowDatabaseMs`; Redis answering but
 *   refusing writes (OOM, MISCONF, READONLY): `degraded` (`/health` says so, with 200).
 */
@Injectable()
export class DependencyWatchdog implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('Dependencies');
  private timer?: NodeJS.Timeout;
  private client: Client | null = null;
  private connecting: Promise<Client> | null = null;
  private ticks = 0;
  private stopped = false;
  private readonly latencies: number[] = [];

  constructor(
    @Inject(RESOLVED_OPTIONS) private readonly options: ResolvedSagaOptions,
    private readonly queue: StepQueue,
    private readonly monitor: DependencyMonitor,
  ) {}

  onApplicationBootstrap(): void {
    this.schedule(WATCHDOG_INTERVAL_MS);
  }

  onApplicationShutdown(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.drop();
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => void this.tick(), ms);
    this.timer.unref();
  }

  private async tick(): Promise<void> {
    try {
      await Promise.all([
        this.probePostgres(),
        this.ticks++ % 2 === 0 && this.queue.dependency === 'redis' ? this.probeRedis() : undefined,
      ]);
    } catch (error) {
      this.logger.debug(`probe failed: ${String(error)}`);
    } finally {
      this.schedule(WATCHDOG_INTERVAL_MS);
    }
  }

  /** One `SELECT 1` on the watchdog's own connection (opened again after any failure). */
  async probePostgres(): Promise<void> {
    const started = performance.now();
    try {
      await within(this.selectOne(), PROBE_TIMEOUT_MS, `no answer within ${PROBE_TIMEOUT_MS} ms`);
    } catch (error) {
      this.drop();
      this.latencies.length = 0;
      this.monitor.record('postgres', 'down', unavailability(error)?.reason ?? (error as Error).message);
      return;
    }
    this.latencies.push(performance.now() - started);
    if (this.latencies.length > SLOW_WINDOW) this.latencies.shift();
    const median = [...this.latencies].sort((a, b) => a - b)[Math.floor(this.latencies.length / 2)];
    const slowMs = this.options.api.slowDatabaseMs;
    const slow = this.latencies.length >= Math.ceil(SLOW_WINDOW / 2) && median > slowMs;
    this.monitor.record(
      'postgres',
      slow ? 'degraded' : 'up',
      slow ? `SELECT 1 takes ${Math.round(median)} ms (more than ${slowMs} ms)` : null,
    );
  }

  /** Writes a short-lived key: Redis down or hung, or refusing writes. */
  async probeRedis(): Promise<void> {
    try {
      await within(this.queue.probeWrite(), PROBE_TIMEOUT_MS, `no answer within ${PROBE_TIMEOUT_MS} ms`);
      this.monitor.record('redis', 'up', null);
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      if (refusesWrites(error)) this.monitor.record('redis', 'degraded', `refuses writes: ${message.split('\n')[0]}`);
      else this.monitor.record('redis', 'down', message.split('\n')[0]);
    }
  }

  private async selectOne(): Promise<void> {
    const client = await (this.connecting ??= this.connect());
    await client.query('SELECT 1');
  }

  private async connect(): Promise<Client> {
    const client = new Client({
      connectionString: this.options.databaseUrl,
      connectionTimeoutMillis: PROBE_TIMEOUT_MS,
      query_timeout: PROBE_TIMEOUT_MS,
      keepAlive: true,
      application_name: 'saga-engine watchdog',
    });
    client.on('error', () => undefined); // the next probe fails and drops it
    this.client = client;
    try {
      await client.connect();
    } catch (error) {
      this.drop();
      throw error;
    }
    return client;
  }

  /** Forgets the connection, closing its socket at once (a hung server would never answer a polite end). */
  private drop(): void {
    const client = this.client;
    this.client = null;
    this.connecting = null;
    if (!client) return;
    (client as unknown as { connection?: { stream?: { destroy(): void } } }).connection?.stream?.destroy();
    client.end().catch(() => undefined);
  }
}
