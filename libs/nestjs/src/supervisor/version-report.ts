import { Injectable, Logger, type OnApplicationBootstrap, type OnModuleDestroy } from '@nestjs/common';
import { EngineMetrics } from '../observability/engine-metrics';
import { type VersionUse, VersionWatch } from '../scheduler/version-watch';
import { AGENT_SILENT_MS } from '../store/agent-store';

/** How often the supervisor checks for versions in use that no agent runs. */
const CHECK_EVERY_MS = 15_000;

/**
 * Says loudly when sagas are stranded on a version that no live agent runs (a deploy dropped its code while they
 * ran): an error log line at start-up and whenever the set changes, the `saga_version_unavailable_sagas` gauge, and
 * `/health` (degraded). The first check waits for agents to send a heartbeat (AGENT_SILENT_MS) after a restart of
 * everything, so that agents still starting do not count as gone.
 */
@Injectable()
export class VersionReport implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger('Versions');
  private timer: NodeJS.Timeout | null = null;
  private last: VersionUse[] | null = null;
  private lastKey = '';

  constructor(
    private readonly watch: VersionWatch,
    private readonly metrics: EngineMetrics,
  ) {}

  onApplicationBootstrap(): void {
    const first = Math.min(AGENT_SILENT_MS, CHECK_EVERY_MS);
    this.timer = setTimeout(() => void this.tick(), first);
    this.timer.unref();
  }

  onModuleDestroy(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  /** The last check's stranded versions; null before the first check. */
  stranded(): VersionUse[] | null {
    return this.last;
  }

  /** Checks now (also what the timer runs). */
  async check(): Promise<VersionUse[]> {
    const stranded = await this.watch.stranded();
    this.metrics.strandedSagas.reset();
    for (const v of stranded) {
      const n = Object.values(v.instances).reduce((a, b) => a + (b ?? 0), 0);
      this.metrics.strandedSagas.set({ type: v.type, version: String(v.version) }, n);
    }
    const key = stranded.map((v) => `${v.type}@${v.version}:${JSON.stringify(v.instances)}`).join(',');
    if (key !== this.lastKey) {
      if (stranded.length > 0) {
        this.logger.error(
          `sagas wait on versions no live agent runs: ${stranded.map(describe).join('; ')}. Deploy those versions' ` +
            'code again (keep old versions registered until their sagas finish), or cancel the sagas. ' +
            'GET /v1/saga-versions lists every version in use.',
        );
      } else if (this.lastKey !== '') {
        this.logger.log('every version in use has a live agent again');
      }
      this.lastKey = key;
    }
    this.last = stranded;
    return stranded;
  }

  private async tick(): Promise<void> {
    try {
      await this.check();
    } catch (error) {
      this.logger.warn(`could not check the versions in use: ${(error as Error).message}`);
    } finally {
      if (this.timer) {
        this.timer = setTimeout(() => void this.tick(), CHECK_EVERY_MS);
        this.timer.unref();
      }
    }
  }
}

function describe(v: VersionUse): string {
  const counts = Object.entries(v.instances)
    .map(([status, n]) => `${n} ${status}`)
    .join(', ');
  return `${v.type} v${v.version} (${counts}${v.known ? '' : '; its definition is not published either'})`;
}
