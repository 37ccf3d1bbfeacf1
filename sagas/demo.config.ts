import 'reflect-metadata';
import { plainToInstance, Transform } from 'class-transformer';
import { existsSync, readFileSync } from 'node:fs';
import { IsIn, IsInt, IsOptional, IsString, IsUrl, Matches, Max, Min, validateSync } from 'class-validator';

const toInt = ({ value }: { value: unknown }) =>
  typeof value === 'string' && /^-?\d+$/.test(value.trim()) ? Number(value) : value;
const HTTP_URL = { protocols: ['http', 'https'], require_protocol: true, require_tld: false };

/**
 * The drone-delivery demo's settings, from the environment: the demo services (`npm run start:demo`), the demo's
 * agent (`npm run start:agent`) and the all-in-one (`npm start`) read them; the engine's own settings are
 * separate. Settings that depend on each other follow each other: DEMO_URL defaults to DEMO_PORT on this machine.
 */
export class DemoConfig {
  /** The engine's Redis, when there is one: the demo services' messages then go over the Redis transport. */
  @IsOptional()
  @Matches(/^rediss?:\/\/\S+$/, { message: 'REDIS_URL must be a redis:// or rediss:// URL' })
  REDIS_URL: string | undefined = undefined;

  /** The demo services' HTTP port (the ground carrier and `GET /v1/demo/ledger`). */
  @Transform(toInt)
  @IsInt({ message: 'DEMO_PORT must be an integer between 0 and 65535' })
  @Min(0, { message: 'DEMO_PORT must be an integer between 0 and 65535' })
  @Max(65535, { message: 'DEMO_PORT must be an integer between 0 and 65535' })
  DEMO_PORT = 3100;

  /** The demo services' @nestjs/microservices TCP port, used when REDIS_URL is unset. */
  @Transform(toInt)
  @IsInt({ message: 'DEMO_TCP_PORT must be an integer between 1 and 65535' })
  @Min(1, { message: 'DEMO_TCP_PORT must be an integer between 1 and 65535' })
  @Max(65535, { message: 'DEMO_TCP_PORT must be an integer between 1 and 65535' })
  DEMO_TCP_PORT = 3101;

  /**
   * Where the agent reaches the demo services' HTTP side; its host is also the TCP transport's. Unset:
   * `http://127.0.0.1:<DEMO_PORT>`.
   */
  @IsOptional()
  @IsUrl(HTTP_URL, { message: 'DEMO_URL must be an http:// or https:// URL' })
  DEMO_URL: string | undefined = undefined;

  /** `npm start` runs the demo services in its own process too, unless this is `false`. */
  @IsIn(['true', 'false'], { message: 'DEMO_IN_PROCESS must be true or false' })
  DEMO_IN_PROCESS: 'true' | 'false' = 'true';

  /** How long a demo drone (or carrier) takes before it reports DeliveryCompleted. */
  @Transform(toInt)
  @IsInt({ message: 'DEMO_FLIGHT_MS must be an integer between 0 and 600000' })
  @Min(0, { message: 'DEMO_FLIGHT_MS must be an integer between 0 and 600000' })
  @Max(600_000, { message: 'DEMO_FLIGHT_MS must be an integer between 0 and 600000' })
  DEMO_FLIGHT_MS = 300;

  /** The engine's REST API, where the drones report DeliveryCompleted. Unset: this machine's PORT. */
  @IsOptional()
  @IsUrl(HTTP_URL, { message: 'SAGA_URL must be an http:// or https:// URL' })
  SAGA_URL: string | undefined = undefined;

  /** An operator (or admin) API key of the engine, with which the drones post their signals. */
  @IsOptional()
  @Matches(/^[^\s:,]{32,}$/, { message: 'SAGA_SIGNAL_KEY must be an API key of 32+ characters' })
  SAGA_SIGNAL_KEY: string | undefined = undefined;

  /**
   * A file that holds that key (the engine's `.saga-data/admin.key`), read when a drone reports: the demo services
   * can start before the engine has made it. SAGA_SIGNAL_KEY wins when both are set.
   */
  @IsOptional()
  @IsString({ message: 'SAGA_SIGNAL_KEY_FILE must be a file path' })
  SAGA_SIGNAL_KEY_FILE: string | undefined = undefined;

  /** The signal key: SAGA_SIGNAL_KEY, else the first line of SAGA_SIGNAL_KEY_FILE when it is there, else null. */
  signalKey(): string | null {
    if (this.SAGA_SIGNAL_KEY) return this.SAGA_SIGNAL_KEY;
    if (!this.SAGA_SIGNAL_KEY_FILE || !existsSync(this.SAGA_SIGNAL_KEY_FILE)) return null;
    return readFileSync(this.SAGA_SIGNAL_KEY_FILE, 'utf8').trim() || null;
  }

  /** DEMO_URL, or the demo services on this machine at DEMO_PORT. */
  get demoUrl(): string {
    return (this.DEMO_URL ?? `http://127.0.0.1:${this.DEMO_PORT}`).replace(/\/+$/, '');
  }
}

/** Reads and checks the demo's settings; throws naming every bad variable. */
export function loadDemoConfig(env: NodeJS.ProcessEnv = process.env): DemoConfig {
  const known = Object.keys(new DemoConfig());
  const raw: Record<string, string> = {};
  for (const key of known) {
    const value = env[key];
    if (value !== undefined && value !== '') raw[key] = value;
  }
  const config = plainToInstance(DemoConfig, raw, { exposeDefaultValues: true });
  const errors = validateSync(config, { forbidUnknownValues: false });
  const problems = errors.flatMap((e) => Object.values(e.constraints ?? {}).slice(0, 1));
  if (problems.length > 0) throw new Error(`Invalid configuration:\n  - ${problems.join('\n  - ')}`);
  return config;
}

/**
 * For the all-in-one, where the demo services run in the same process at DEMO_PORT: a DEMO_URL on this machine
 * must name that port, or every heavy parcel would fail to reach its carrier. Throws naming both variables.
 */
export function checkInProcessDemoUrl(config: DemoConfig): void {
  if (!config.DEMO_URL) return;
  const url = new URL(config.DEMO_URL);
  const local = ['127.0.0.1', 'localhost', '[::1]', '::1'].includes(url.hostname);
  const port = Number(url.port || (url.protocol === 'https:' ? 443 : 80));
  if (local && port !== config.DEMO_PORT) {
    throw new Error(
      `Invalid configuration:\n  - DEMO_URL (${config.DEMO_URL}) names port ${port} on this machine, but the demo ` +
        `services of this process listen on DEMO_PORT ${config.DEMO_PORT}: set one of them, not both`,
    );
  }
}
