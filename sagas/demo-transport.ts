import { Transport } from '@nestjs/microservices';
import type { RedisOptions, TcpClientOptions, TcpOptions } from '@nestjs/microservices';
import type { DemoConfig } from './demo.config';

export type DemoServerTransport = TcpOptions | RedisOptions;
export type DemoClientTransport = TcpClientOptions | RedisOptions;

/**
 * How the demo's agent and the demo services talk (@nestjs/microservices): the Redis transport when REDIS_URL is
 * set (production already runs Redis for the step queue, so there is no new broker to run), TCP on DEMO_TCP_PORT
 * when it is not (the all-in-one `npm start` runs without Redis, so a first try needs nothing installed). The
 * services bind TCP on `bindHost`.
 */
export function demoServerTransport(config: DemoConfig, bindHost: string): DemoServerTransport {
  if (config.REDIS_URL) return { transport: Transport.REDIS, options: redisOptions(config.REDIS_URL) };
  return { transport: Transport.TCP, options: { host: bindHost, port: config.DEMO_TCP_PORT } };
}

/** The client side: TCP to DEMO_URL's host on DEMO_TCP_PORT, or Redis. */
export function demoClientTransport(config: DemoConfig): DemoClientTransport {
  if (config.REDIS_URL) return { transport: Transport.REDIS, options: redisOptions(config.REDIS_URL) };
  return { transport: Transport.TCP, options: { host: new URL(config.demoUrl).hostname, port: config.DEMO_TCP_PORT } };
}

function redisOptions(url: string): NonNullable<RedisOptions['options']> {
  const u = new URL(url);
  const db = u.pathname.replace(/^\//, '');
  return {
    host: u.hostname,
    port: u.port ? Number(u.port) : 6379,
    ...(u.username ? { username: decodeURIComponent(u.username) } : {}),
    ...(u.password ? { password: decodeURIComponent(u.password) } : {}),
    ...(db ? { db: Number(db) } : {}),
    ...(u.protocol === 'rediss:' ? { tls: {} } : {}),
    retryAttempts: 1_000_000,
    retryDelay: 1_000,
  };
}
