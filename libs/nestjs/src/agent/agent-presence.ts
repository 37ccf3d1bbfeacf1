import {
  Injectable,
  Logger,
  type OnApplicationBootstrap,
  type BeforeApplicationShutdown,
  Optional,
} from '@nestjs/common';
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { AGENT_HEARTBEAT_MS, AgentStore } from '../store/agent-store';
import { SagaRegistry } from '../scheduler/saga-registry';
import { DependencyMonitor } from '../observability/dependency-monitor';

/**
 * Tells the other processes that this agent runs, and which saga types and versions it has the code for: a row
 * in `saga_agent` refreshed every AGENT_HEARTBEAT_MS, removed on a clean shutdown. The API reads it to say that a
 * saga waits for an agent that is not running (its jobs wait in their queue until one starts).
 */
@Injectable()
export class AgentPresence implements OnApplicationBootstrap, BeforeApplicationShutdown {
  readonly id = `${hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`;
  private readonly logger = new Logger('Agent');
  private timer: NodeJS.Timeout | null = null;
  private beating: Promise<void> = Promise.resolve();
  private failing = false;

  constructor(
    private readonly store: AgentStore,
    private readonly registry: SagaRegistry,
    @Optional() private readonly monitor: DependencyMonitor = new DependencyMonitor(),
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    await this.beat();
    this.timer = setInterval(() => {
      this.beating = this.beat();
    }, AGENT_HEARTBEAT_MS);
    this.timer.unref();
  }

  async beforeApplicationShutdown(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.beating;
    await this.store.remove(this.id).catch(() => undefined);
  }

  private async beat(): Promise<void> {
    try {
      await this.store.heartbeat({
        id: this.id,
        host: hostname(),
        pid: process.pid,
        sagaTypes: this.registry.codeDefinitions().map((d) => `${d.name}@${d.version}`),
      });
      this.failing = false;
      this.monitor.succeeded('postgres');
    } catch (error) {
      // PostgreSQL away: the steps cannot commit either; said once per outage (by the monitor), not every 5 s.
      if (!this.failing && !this.monitor.failed('postgres', error, 'heartbeat')) {
        this.logger.warn(`could not record this agent's heartbeat: ${(error as Error).message}`);
      }
      this.failing = true;
    }
  }
}
