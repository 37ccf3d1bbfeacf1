/**
 * One engine process of `npm run bench` (spawned by scripts/bench.ts with an IPC channel; not an app). Registers
 * only the bench saga. Roles (argv[2]):
 *
 * - `all`: scheduler + agent + supervisor in one process, no HTTP. The driver asks it to run a scenario: it starts
 *   sagas through SagaScheduler.start (the library path, as a peer library would be measured) keeping `inflight` of
 *   them open, and reports each saga's latency (start to terminal commit), each step's overhead (the gap between
 *   one step's handler and the next one's, both no-ops), and its own CPU time and peak RSS.
 * - `all-http`: the same all-in-one engine with the REST API (scenario (e): sagas started over HTTP).
 * - `orchestrator`: the REST API + scheduler + supervisor (scenario (f), the production topology, started over HTTP).
 * - `agent`: a step agent only.
 *
 * Every process counts the invocations of each step attempt (key `<sagaId>:<step>[:undo]#<attempt>`) so that the
 * driver can check that no attempt ran twice, across processes.
 */
import 'reflect-metadata';
import { Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { isTerminal, type SagaStatus } from '@saga-engine/core';
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { SagaModule, type SagaRole, loadConfig, sagaOptionsFromEnv, setupSagaApp } from '@saga-engine/nestjs';
import type * as EngineMetricsModule from '../../libs/nestjs/src/observability/engine-metrics';
import type * as SagaRegistryModule from '../../libs/nestjs/src/scheduler/saga-registry';
import type * as SagaSchedulerModule from '../../libs/nestjs/src/scheduler/saga-scheduler';
import type * as SupervisorModule from '../../libs/nestjs/src/supervisor/supervisor';
import { defineSaga } from '@saga-engine/sdk';
import { BENCH_SAGA, benchSaga } from './bench-saga';

/** The timers line: sagas that sleep an hour (pending timers), and sagas that sleep 2 s and then run a step. */
const timerPending = defineSaga('bench-timer-pending', { version: 1 }).sleep('nap', '1h').build();
const timerDue = defineSaga('bench-timer-due', { version: 1 })
  .sleep('nap', '2s')
  .step('after', { run: () => undefined })
  .build();

interface TimersCommand {
  cmd: 'timers';
  pending: number;
  due: number;
}

// The engine's internal classes the bench reads (providers of SagaModule, not in the package's exports), from the
// package's own build, so that they are the very classes its module registered. (Imported by source path, the
// compiled script looked for them under dist/tools/, where nothing is emitted for them.)
const internal = createRequire(join(dirname(require.resolve('@saga-engine/nestjs')), 'index.js'));
const { EngineMetrics } = internal('./observability/engine-metrics') as typeof EngineMetricsModule;
const { SagaRegistry } = internal('./scheduler/saga-registry') as typeof SagaRegistryModule;
const { SagaScheduler } = internal('./scheduler/saga-scheduler') as typeof SagaSchedulerModule;
const { Supervisor } = internal('./supervisor/supervisor') as typeof SupervisorModule;

type Role = 'all' | 'all-http' | 'orchestrator' | 'agent';
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
  if (role === 'orchestrator' || role === 'agent') invocations.set(key, (invocations.get(key) ?? 0) + 1);
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

let profiler: Session | undefined;

function inspect(session: Session, method: string): Promise<unknown> {
  return new Promise((resolvePost, reject) =>
    session.post(method, (error, result) => (error ? reject(error) : resolvePost(result))),
  );
}

async function main(): Promise<void> {
  const config = loadConfig();
  const { options, app: appSetup } = sagaOptionsFromEnv(config);
  const roles: SagaRole[] = {
    all: ['agent', 'supervisor'] as SagaRole[],
    'all-http': ['api', 'agent', 'supervisor'] as SagaRole[],
    orchestrator: ['api', 'supervisor'] as SagaRole[],
    agent: ['agent'] as SagaRole[],
  }[role];
  const serves = roles.includes('api');
  const sagas = role === 'all' ? [definition, timerPending, timerDue] : [definition];
  @Module({ imports: [SagaModule.forRoot({ ...options, roles, sagas })] })
  class BenchEngineModule {}
  const app = serves
    ? await NestFactory.create(BenchEngineModule, { bodyParser: false, logger: ['error', 'warn'] })
    : await NestFactory.createApplicationContext(BenchEngineModule, { logger: ['error', 'warn'] });
  if (serves) {
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

  /**
   * `pending` sagas that sleep an hour (their timers pending), then: RSS after a GC before and after, the time of
   * a supervisor sweep with them pending, and `due` sagas that sleep 2 s and then run a step (the driver reads the
   * delay between each timer's due time and its next step from PostgreSQL).
   */
  const runTimers = async (command: TimersCommand) => {
    const runtime = app.get(SagaScheduler);
    const registry = app.get(SagaRegistry);
    const gc = () => (globalThis as { gc?: () => void }).gc?.();
    const startMany = async (type: string, n: number, lanes: number, wait: boolean) => {
      const def = (await registry.latest(type))!.spec;
      let next = 0;
      await Promise.all(
        Array.from({ length: lanes }, async () => {
          while (next < n) {
            next++;
            let resolveEnd!: (status: string) => void;
            const end = new Promise<string>((r) => (resolveEnd = r));
            const result = await runtime.start(def, {}, null);
            if (result.outcome !== 'created') throw new Error(`start: ${result.outcome}`);
            if (!wait) continue;
            waiters.set(result.snapshot.id, resolveEnd);
            await end;
          }
        }),
      );
    };
    // Memory at a tenth of the timers and at all of them: what grows with their number is their cost (what the first
    // tenth adds is bounded caches, and what the allocator keeps from the burst of starts).
    gc();
    const before = process.memoryUsage();
    const t0 = performance.now();
    const tenth = Math.round(command.pending / 10);
    await startMany(timerPending.name, tenth, 200, false);
    gc();
    const atTenth = process.memoryUsage();
    await startMany(timerPending.name, command.pending - tenth, 200, false);
    const pendingWallMs = performance.now() - t0;
    gc();
    const after = process.memoryUsage();
    const [rssBefore, rssAfter, heapBefore, heapAfter] = [before.rss, after.rss, before.heapUsed, after.heapUsed];
    const [rssTenth, heapTenth] = [atTenth.rss, atTenth.heapUsed];
    const supervisor = app.get(Supervisor);
    const sweepMs: number[] = [];
    for (let i = 0; i < 20; i++) {
      const began = performance.now();
      await supervisor.sweep();
      sweepMs.push(performance.now() - began);
    }
    const t1 = performance.now();
    await startMany(timerDue.name, command.due, 100, true);
    gc();
    const rssEnd = process.memoryUsage().rss;
    return {
      rssBefore,
      rssAfter,
      rssEnd,
      heapBefore,
      heapAfter,
      rssTenth,
      heapTenth,
      pendingWallMs,
      sweepMs,
      dueWallMs: performance.now() - t1,
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
          case 'timers':
            reply(await runTimers(message as unknown as TimersCommand));
            break;
          case 'sweep-memory': {
            // A process that only sweeps (what the timers already in PostgreSQL cost a fresh engine).
            const supervisor = app.get(Supervisor);
            const sweepMs: number[] = [];
            for (let i = 0; i < 10; i++) {
              const began = performance.now();
              await supervisor.sweep();
              sweepMs.push(performance.now() - began);
            }
            (globalThis as { gc?: () => void }).gc?.();
            const mem = process.memoryUsage();
            reply({ rss: mem.rss, heapUsed: mem.heapUsed, sweepMs });
            break;
          }
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
          case 'profile-start': {
            // BENCH_CPU_PROF: a V8 CPU profile of the scenario's window only (not the boot or the warm-up).
            profiler = new Session();
            profiler.connect();
            await inspect(profiler, 'Profiler.enable');
            await inspect(profiler, 'Profiler.start');
            reply({});
            break;
          }
          case 'profile-stop': {
            const { profile } = (await inspect(profiler!, 'Profiler.stop')) as { profile: unknown };
            profiler!.disconnect();
            profiler = undefined;
            writeFileSync((message as unknown as { file: string }).file, JSON.stringify(profile));
            reply({});
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
