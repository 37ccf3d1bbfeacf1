import { Transport } from '@nestjs/microservices';
import type { RedisOptions, TcpClientOptions, TcpOptions } from '@nestjs/microservices';
import type { EngineConfig } from '../../../libs/nestjs/src/config/engine-config';

export type DemoTransportOptions = TcpOptions | RedisOptions;

/**
 * How the engine and the demo services talk (@nestjs/microservices): the Redis transport when REDIS_URL is set
 * (production already runs Redis for the step queue, so there is no new broker to run), TCP on DEMO_TCP_PORT when
 * it is not (the all-in-one `npm start` runs without Redis, so a first try needs nothing installed). The server
 * binds TCP on `bindHost`; a client connects to DEMO_URL's host.
 */
export function demoTransport(
  config: Pick<EngineConfig, 'REDIS_URL' | 'DEMO_URL' | 'DEMO_TCP_PORT'>,
  side: { bindHost: string } | 'client',
): DemoTransportOptions {
  if (config.REDIS_URL) return { transport: Transport.REDIS, options: redisOptions(config.REDIS_URL) };
  const host = side === 'client' ? new URL(config.DEMO_URL).hostname : side.bindHost;
  return { transport: Transport.TCP, options: { host, port: config.DEMO_TCP_PORT } };
}

/** The same options as a client's (ClientProxyFactory.create). */
export function demoClientOptions(
  config: Pick<EngineConfig, 'REDIS_URL' | 'DEMO_URL' | 'DEMO_TCP_PORT'>,
): TcpClientOptions | RedisOptions {
  return demoTransport(config, 'client') as TcpClientOptions | RedisOptions;
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
