/**
 * One engine process of `npm run bench` (spawned by scripts/bench.ts with an IPC channel; not an app). Registers
 * only the bench saga. Roles (argv[2]):
 *
 * - `all`: scheduler + agent + supervisor in one process, no HTTP. The driver asks it to run a scenario: it starts
 *   sagas through SagaScheduler.start (the library path, as a peer library would be measured) keeping `inflight` of
 *   them open, and reports each saga's latency (start to terminal commit), each step's overhead (the gap between
 *   one step's handler and the next one's, both no-ops), and its own CPU time and peak RSS.
 * - `orchestrator`: the REST API + scheduler + supervisor (for the scale-out runs, started over HTTP).
 * - `agent`: a step agent only.
 *
 * Every process counts the invocations of each step attempt (key `<sagaId>:<step>[:undo]#<attempt>`) so that the
 * driver can check that no attempt ran twice, across processes.
 */
import 'reflect-metadata';
import { Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { isTerminal, type SagaStatus } from '@saga-engine/core';
import { EngineMetrics } from '../../libs/nestjs/src/observability/engine-metrics';
import { SagaRegistry } from '../../libs/nestjs/src/scheduler/saga-registry';
import { SagaScheduler } from '../../libs/nestjs/src/scheduler/saga-scheduler';
import { SagaModule } from '../../libs/nestjs/src/module/saga.module';
import type { SagaRole } from '../../libs/nestjs/src/module/options';
import { loadConfig } from '../../libs/nestjs/src/config/engine-config';
import { sagaOptionsFromEnv } from '../../libs/nestjs/src/config/env-options';
import { setupSagaApp } from '../../libs/nestjs/src/api/setup-saga-app';
import { BENCH_SAGA, benchSaga } from './bench-saga';

type Role = 'all' | 'orchestrator' | 'agent';
const role = (process.argv[2] ?? 'all') as Role;

/** Invocations per attempt key, and the last handler time per saga (for the step overhead). */
const invocations = new Map<string, number>();
const lastHandlerAt = new Map<string, number>();
let stepGaps: number[] = [];
let peakRss = 0;
const rssTimer = setInterval(() => {
  peakRss = Math.max(peakRss, process.memoryUsage.rss());
}, 100);
rssTimer.unref();

const definition = benchSaga((sagaId, key) => {
  // Only the scale-out runs check them (across processes); kept in the `all` role, they would weigh on its RSS.
  if (role !== 'all') invocations.set(key, (invocations.get(key) ?? 0) + 1);
  const now = performance.now();
  const last = lastHandlerAt.get(sagaId);
  if (last !== undefined) stepGaps.push(now - last);
  lastHandlerAt.set(sagaId, now);
});

interface RunCommand {
  cmd: 'run';
  n: number;
  inflight: number;
  failAt?: number;
  /** Report RSS (after a GC when exposed) once this many sagas ended. */
  rssAt?: number[];
}

async function main(): Promise<void> {
  const config = loadConfig();
  const { options, app: appSetup } = sagaOptionsFromEnv(config);
  const roles: SagaRole[] =
    role === 'orchestrator' ? ['api', 'supervisor'] : role === 'all' ? ['agent', 'supervisor'] : ['agent'];
  @Module({ imports: [SagaModule.forRoot({ ...options, roles, sagas: [definition] })] })
  class BenchEngineModule {}
  const app =
    role === 'orchestrator'
      ? await NestFactory.create(BenchEngineModule, { bodyParser: false, logger: ['error', 'warn'] })
      : await NestFactory.createApplicationContext(BenchEngineModule, { logger: ['error', 'warn'] });
  if (role === 'orchestrator') {
    const http = app as Awaited<ReturnType<typeof NestFactory.create>>;
    setupSagaApp(http, { ...appSetup, docs: false });
    await http.listen(config.PORT, '127.0.0.1');
  } else {
    await app.init();
  }

  // Saga ends, seen by the process that committed them (the scheduler calls this after every commit).
  const waiters = new Map<string, (status: string) => void>();
  const metrics = app.get(EngineMetrics);
  const transitioned = metrics.sagaTransitioned.bind(metrics);
  metrics.sagaTransitioned = (id, type, before, after) => {
    transitioned(id, type, before, after);
    if (isTerminal(after as SagaStatus)) {
      lastHandlerAt.delete(id);
      const waiter = waiters.get(id);
      if (waiter) {
        waiters.delete(id);
        waiter(after);
      }
    }
  };

  const runScenario = async (command: RunCommand) => {
    const runtime = app.get(SagaScheduler);
    const def = (await app.get(SagaRegistry).latest(BENCH_SAGA))!.spec;
    const latencies: number[] = [];
    const statuses: Record<string, number> = {};
    const rssMarks: { ended: number; rss: number; heapUsed: number; external: number; heapTotal: number }[] = [];
    const marks = [...(command.rssAt ?? [])];
    stepGaps = [];
    peakRss = process.memoryUsage.rss();
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    let next = 0;
    let ended = 0;
    const input = command.failAt ? { failAt: command.failAt } : {};
    const lane = async () => {
      while (next < command.n) {
        next++;
        const began = performance.now();
        let resolveEnd!: (status: string) => void;
        const end = new Promise<string>((r) => (resolveEnd = r));
        const result = await runtime.start(def, input, null);
        if (result.outcome !== 'created') throw new Error(`start: ${result.outcome}`);
        const id = result.snapshot.id;
        // The first step's gap counts from the start call.
        if (!lastHandlerAt.has(id)) lastHandlerAt.set(id, began);
        waiters.set(id, resolveEnd);
        const status = await end;
        latencies.push(performance.now() - began);
        statuses[status] = (statuses[status] ?? 0) + 1;
        ended++;
        if (marks.length > 0 && ended >= marks[0]) {
          marks.shift();
          (globalThis as { gc?: () => void }).gc?.();
          const mem = process.memoryUsage();
          rssMarks.push({
            ended,
            rss: mem.rss,
            heapUsed: mem.heapUsed,
            external: mem.external,
            heapTotal: mem.heapTotal,
          });
        }
      }
    };
    await Promise.all(Array.from({ length: command.inflight }, lane));
    const wallMs = performance.now() - t0;
    const cpu = process.cpuUsage(cpu0);
    return {
      wallMs,
      latencies,
      stepGaps,
      statuses,
      cpuMs: (cpu.user + cpu.system) / 1000,
      peakRss,
      rssMarks,
    };
  };

  process.on('message', (message: { cmd: string; seq: number }) => {
    const reply = (body: unknown) => process.send!({ seq: message.seq, ...(body as object) });
    void (async () => {
      try {
        switch (message.cmd) {
          case 'run':
            reply(await runScenario(message as unknown as RunCommand));
            break;
          case 'stats': {
            const cpu = process.cpuUsage();
            const doubles = [...invocations].filter(([, n]) => n > 1).map(([k]) => k);
            reply({
              cpuMs: (cpu.user + cpu.system) / 1000,
              rss: process.memoryUsage.rss(),
              keys: [...invocations.keys()],
              doubles,
            });
            break;
          }
          case 'reset':
            invocations.clear();
            reply({});
            break;
          case 'stop':
            await app.close();
            reply({});
            process.exit(0);
        }
      } catch (error) {
        reply({ error: String((error as Error).stack ?? error) });
      }
    })();
  });
  process.send!({ ready: true });
}

void main().catch((error: unknown) => {
  console.error(`bench engine (${role}) failed: ${String((error as Error).stack ?? error)}`);
  process.exit(1);
});
