import { join } from 'node:path';
import { Cluster, EngineProcess, ROOT, freePort, poll, prepareEngine } from '../scripts/support/cluster';
import { TEST_QUEUE_KIND } from './support/urls';

/**
 * Timers and schedules with the engine as real processes (the built dist/): an orchestrator (API and supervisor,
 * no saga code) and an agent (scripts/support/timer-agent.ts, with the `timer-probe` and `tick-probe` sagas).
 */
const INTERVAL_MS = 1_000;
const d = TEST_QUEUE_KIND === 'redis' ? describe : describe.skip;

d('timers and schedules with real processes (e2e, kill -9)', () => {
  let cluster: Cluster;
  const agents: EngineProcess[] = [];
  const startAgent = async () => {
    const name = `timer-agent-${agents.length + 1}`;
    const proc = new EngineProcess(
      name,
      join(ROOT, 'dist/tools/scripts/support/timer-agent.js'),
      [],
      cluster.env(),
      join(cluster.logDir, `${name}.log`),
    );
    agents.push(proc);
    cluster.processes.push(proc);
    await proc.waitForOutput(/timer agent is ready/);
    return proc;
  };

  beforeAll(async () => {
    await prepareEngine();
    cluster = new Cluster({ env: { SUPERVISOR_INTERVAL_MS: String(INTERVAL_MS) } });
    await cluster.createDatabase();
    await cluster.startOrchestrator();
    await startAgent();
    await poll(async () => (await cluster.request('GET', '/v1/saga-types/timer-probe')).body?.agents === 1, {
      what: 'the timer agent to publish its sagas',
    });
  });
  afterAll(async () => {
    await cluster?.close();
  });

  it('a saga sleeping 2 s survives a kill -9 of every engine process and wakes on time', async () => {
    const id = await cluster.startSaga({}, 'timer-probe');
    const nap = await poll(
      async () => {
        const saga = await cluster.saga(id);
        const step = saga.steps.find((s: any) => s.name === 'nap');
        return step.status === 'SLEEPING' ? step : undefined;
      },
      { what: 'the saga to sleep' },
    );
    // Every engine process dies during the sleep (the timer is a row: nothing of it was in their memory).
    const killedAt = Date.now();
    await Promise.all(cluster.processes.filter((p) => p.alive).map((p) => p.kill('SIGKILL')));
    // The supervisor that fires the timer is the orchestrator's: its /health answering is when the engine is back.
    let backAt = 0;
    const [, agent] = await Promise.all([cluster.startOrchestrator().then(() => (backAt = Date.now())), startAgent()]);
    expect(agent.alive).toBe(true);

    const done = await cluster.waitForStatus(id, ['COMPLETED', 'FAILED', 'COMPENSATED'], 30_000);
    expect(done.status).toBe('COMPLETED');
    const steps = Object.fromEntries(done.steps.map((s: any) => [s.name, s]));
    const { wokeAt, dueAt } = steps.nap.output;
    expect(dueAt).toBe(nap.wakeAt);
    // On time: at the first sweep after it was due, or, when it fell due while no process ran (a restart on this
    // machine takes longer than the sleep), at the first sweep after the engine came back.
    const from = Math.max(Date.parse(dueAt), backAt);
    const lateMs = Date.parse(wokeAt) - from;
    console.log(
      `timer: due ${dueAt}, processes killed ${killedAt - Date.parse(nap.startedAt ?? dueAt)} ms into the sleep ` +
        `(restart took ${backAt - killedAt} ms), woke ${Date.parse(wokeAt) - Date.parse(dueAt)} ms after its due ` +
        `time, ${lateMs} ms after max(due, restart); the next step ran ${Date.parse(steps.after.startedAt) - Date.parse(dueAt)} ms after due`,
    );
    expect(Date.parse(wokeAt)).toBeGreaterThanOrEqual(Date.parse(dueAt));
    expect(lateMs).toBeLessThan(INTERVAL_MS + 500);
    const fired = (await cluster.events(id)).filter((e) => e.type === 'TimerFired');
    expect(fired).toHaveLength(1);
  }, 90_000);

  it('a schedule firing every second with two orchestrators starts each tick exactly once over 30 s', async () => {
    const second = await cluster.startOrchestrator({ env: { PORT: String(await freePort()) } });
    expect(second.alive).toBe(true);
    const created = await cluster.request('POST', '/v1/schedules', {
      type: 'tick-probe',
      input: {},
      cron: '* * * * * *',
      timeZone: 'UTC',
      overlap: 'allow',
      catchUp: 'all',
      reason: 'the two-orchestrator test',
    });
    expect(created.status).toBe(201);
    const scheduleId = created.body.id;
    const began = Date.now();
    await poll(async () => Date.now() - began >= 30_000 && true, { timeoutMs: 40_000, intervalMs: 500, what: '30 s' });
    const paused = await cluster.request('PATCH', `/v1/schedules/${scheduleId}`, { paused: true, reason: 'done' });
    expect(paused.status).toBe(200);

    const keys = await cluster.query<{ key: string; status: string }>(
      `SELECT idempotency_key AS key, status FROM saga_instance WHERE idempotency_key LIKE $1 ORDER BY 1`,
      [`schedule:${scheduleId}:%`],
    );
    const ticks = keys.map((k) => Date.parse(k.key.slice(`schedule:${scheduleId}:`.length)));
    const runs = await cluster.query<{ tick: Date; outcome: string; saga_id: string }>(
      `SELECT tick, outcome, saga_id FROM saga_schedule_run WHERE schedule_id = $1 ORDER BY tick`,
      [scheduleId],
    );
    console.log(`schedule: ${ticks.length} ticks started in ${((Date.now() - began) / 1000).toFixed(1)} s`);
    // One saga per tick (the key is unique), one per second with no gap, from the first to the last.
    expect(ticks.length).toBeGreaterThanOrEqual(28);
    expect(new Set(ticks).size).toBe(ticks.length);
    for (let i = 1; i < ticks.length; i++) expect(ticks[i] - ticks[i - 1]).toBe(1_000);
    // Every tick's run names its saga, and none was skipped or failed.
    expect(runs.map((r) => r.outcome)).toEqual(ticks.map(() => 'started'));
    expect(new Set(runs.map((r) => r.saga_id)).size).toBe(ticks.length);
  }, 120_000);
});
