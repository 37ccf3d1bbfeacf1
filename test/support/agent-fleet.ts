import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { ROOT } from '../../scripts/support/cluster';
import type { TestEngine } from './test-engine';
import { waitFor } from './wait-for';

/**
 * Agent processes of the probe sagas (scripts/support/probe-agent.ts, built into dist/tools/), as many as asked, on
 * a test engine's database and queue: the way a fleet of services runs the steps beside a central API. Counts the
 * ones that died of SIGABRT (a step that aborts its agent); `fill` starts new ones in their place. Core dumps are off
 * (`ulimit -c 0`): each crash would write one. It stops only what it started, by pid.
 */
export class AgentFleet {
  crashes = 0;
  /** Agents started so far. */
  started = 0;
  private readonly agents = new Set<ChildProcess>();
  private readonly ended: string[] = [];
  private counter = 0;

  constructor(
    private readonly engine: Pick<TestEngine, 'config' | 'prefix'>,
    private readonly cwd: string,
    private readonly env: Record<string, string> = {},
  ) {}

  get size(): number {
    return this.agents.size;
  }

  /** Starts agents until `size` run, and waits until each is ready. */
  async fill(size: number): Promise<void> {
    const starting: Promise<void>[] = [];
    for (let i = this.agents.size; i < size; i++) starting.push(this.startOne());
    await Promise.all(starting);
  }

  /** The last lines of the agents that ended, for a failing test's message. */
  logs(): string {
    return this.ended.join('\n');
  }

  private async startOne(): Promise<void> {
    const name = `probe-agent-${++this.counter}`;
    this.started++;
    const config = this.engine.config;
    const env: Record<string, string> = {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      NODE_PATH: join(ROOT, 'node_modules'),
      DATABASE_URL: config.DATABASE_URL!,
      ...(config.REDIS_URL ? { REDIS_URL: config.REDIS_URL } : {}),
      SAGA_REDIS_PREFIX: this.engine.prefix,
      SCHEDULE_TO_START_MS: String(config.SCHEDULE_TO_START_MS),
      DB_POOL_SIZE: '5',
      LOG_LEVEL: 'log',
      LOG_FORMAT: 'json',
      NO_COLOR: '1',
      ...this.env,
    };
    const script = join(ROOT, 'dist/tools/scripts/support/probe-agent.js');
    const child = spawn('/bin/sh', ['-c', 'ulimit -c 0; exec "$0" "$@"', process.execPath, script], {
      cwd: this.cwd,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    const keep = (chunk: Buffer) => {
      output = (output + chunk.toString()).slice(-20_000);
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    this.agents.add(child);
    child.once('exit', (_code, signal) => {
      this.agents.delete(child);
      if (signal === 'SIGABRT') this.crashes++;
      this.ended.push(`--- ${name} (pid ${child.pid}, ${signal ?? 'exit'}) ---\n${output.slice(-3000)}`);
    });
    await waitFor(
      () => {
        if (child.exitCode !== null || child.signalCode !== null) throw new Error(`${name} exited:\n${output}`);
        return /probe agent is ready/.test(output) || undefined;
      },
      { timeoutMs: 60_000, intervalMs: 50, what: `${name} to be ready` },
    );
  }

  /** Kills every agent it started (SIGKILL) and waits for them to be gone. */
  async stop(): Promise<void> {
    await Promise.all(
      [...this.agents].map(
        (child) =>
          new Promise<void>((resolve) => {
            child.once('exit', () => resolve());
            child.kill('SIGKILL');
          }),
      ),
    );
  }
}
