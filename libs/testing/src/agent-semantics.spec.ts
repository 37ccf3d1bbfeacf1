import { Logger } from '@nestjs/common';
import { type SagaDefinition, type SagaEvent, initialState, transition } from '@saga-engine/core';
import { NonRetryableError, RetryableError, defineSaga } from '@saga-engine/sdk';
// The agent and the supervisor themselves, with their I/O faked: what the kit must behave like.
import { StepExecutor } from '../../nestjs/src/agent/step-executor';
import { DEADLINE_GRACE_MS as STORE_GRACE_MS } from '../../nestjs/src/store/saga-store';
import {
  DEADLINE_EXCEEDED as SUPERVISOR_CODE,
  DEFAULT_POISON_AFTER_DEATHS as SUPERVISOR_POISON_AFTER,
  Supervisor,
} from '../../nestjs/src/supervisor/supervisor';
import type { ClaimedAttempt } from '../../nestjs/src/store/supervisor-store';
import { validateStepOutput } from '../../nestjs/src/scheduler/input-schema';
import { IsInt, IsString, Min } from 'class-validator';
import {
  DEADLINE_EXCEEDED,
  DEADLINE_GRACE_MS,
  DEFAULT_POISON_AFTER_DEATHS,
  deadlineExceeded,
  outputProblems,
} from './agent-semantics';
import { SagaTestEnvironment } from './';

/*
 * The kit runs attempts "exactly as the agent does". These tests hold it to that: the same saga runs once on the
 * agent's own StepExecutor (its store, queue and scheduler faked, the engine's transition between attempts) and
 * once in SagaTestEnvironment; the handlers see the same ctx and deps, and the engine gets the same events.
 */

class Ledger {
  note(_what: string): void {}
}

type Seen = Record<string, unknown>;

/** Every handler records what it was given; each attempt's outcome depends only on its ctx. */
function paritySaga(seen: Seen[]) {
  const record = (ctx: Record<string, unknown>, deps: Record<string, unknown>) => {
    const { signal, ...rest } = ctx;
    seen.push({
      ...rest,
      signal: signal instanceof AbortSignal && !signal.aborted,
      deps: Object.keys(deps),
    });
  };
  return defineSaga<{ orderId: string; when: string }, { ledger: typeof Ledger }>('parity', {
    version: 1,
    deps: { ledger: Ledger },
    defaults: { retry: { maximumAttempts: 6, initialInterval: '1s' }, compensationRetry: { maximumAttempts: 3 } },
  })
    .step('plain', {
      run: (ctx, deps) => {
        record(ctx as never, deps);
        return { at: new Date(0), attempt: ctx.attempt, nothing: undefined };
      },
      compensate: (ctx, deps) => {
        record(ctx as never, deps);
        if (ctx.attempt === 1) throw new Error('undo hiccup');
      },
    })
    .step('flaky', {
      run: (ctx, deps) => {
        record(ctx as never, deps);
        switch (ctx.attempt) {
          case 1:
            throw Object.assign(new Error('connection reset'), { code: 'ECONNRESET' });
          case 2:
            // eslint-disable-next-line @typescript-eslint/only-throw-error -- what a careless participant client does
            throw 'a thrown string';
          case 3:
            throw new RetryableError('slow down', { code: 'RATE_LIMITED', retryAfter: '2s' });
          case 4:
            return { big: BigInt(1) };
          default:
            return { ok: ctx.steps.plain.attempt };
        }
      },
      compensate: (ctx, deps) => record(ctx as never, deps),
    })
    .step('maybe', {
      when: (c) => c.input.when === 'yes',
      run: (ctx, deps) => {
        record(ctx as never, deps);
        return {};
      },
    })
    .step('guarded', {
      when: (c) => {
        if (c.input.when !== 'yes') throw new Error(`cannot decide on "${c.input.when}"`);
        return true;
      },
      run: (ctx, deps) => {
        record(ctx as never, deps);
        throw new NonRetryableError('refused', { code: 'REFUSED' });
      },
    })
    .build();
}

/** The saga on the agent's StepExecutor: each dispatched attempt executed in turn, its report fed to transition. */
async function runOnAgent(def: SagaDefinition, input: unknown, sagaId: string, deps: object): Promise<SagaEvent[]> {
  const reported: SagaEvent[] = [];
  const executor = new StepExecutor(
    { apply: async (_id: string, event: SagaEvent) => (reported.push(event), { applied: true }) } as never,
    {} as never,
    { code: () => def } as never,
    {} as never,
    { of: () => Object.freeze({ ...deps }) } as never,
    null,
    { runningMarkMs: 60_000 } as never,
    { attempt: () => undefined } as never,
  );
  const env = { random: () => 0.5 };
  const events: SagaEvent[] = [{ type: 'SagaStarted' }];
  let result = transition(def, initialState(def, input), events[0], env);
  const queue = [...result.commands];
  while (queue.length > 0) {
    const command = queue.shift()!;
    if (command.type !== 'DispatchStep') continue;
    const { step, phase, attempt } = command;
    const snapshot = { id: sagaId, type: def.name, definitionVersion: def.version, version: 1, state: result.state };
    await executor.execute({ sagaId, type: def.name, version: def.version, step, phase, attempt }, snapshot);
    const event = reported.pop()!;
    events.push(event);
    result = transition(def, result.state, event, env);
    queue.push(...result.commands);
  }
  return events;
}

describe('the kit runs attempts as the agent does', () => {
  beforeAll(() => Logger.overrideLogger(false));

  it.each([['yes'], ['unsure']])('gives the same ctx, deps and events as StepExecutor (when = %s)', async (when) => {
    const input = { orderId: 'o-1', when };
    const ledger = { note: () => undefined };

    const onKit: Seen[] = [];
    const saga = paritySaga(onKit);
    const run = new SagaTestEnvironment().start(saga, input, { deps: { ledger } });
    const kit = await run.result();

    const onAgent: Seen[] = [];
    const agentEvents = await runOnAgent(paritySaga(onAgent), input, run.id, { ledger });

    expect(kit.events.map((e) => e.event)).toEqual(agentEvents);
    expect(onKit).toEqual(onAgent);
    // Not vacuous: every kind of outcome went through both.
    expect(onKit.length).toBeGreaterThanOrEqual(8);
    const types = new Set(agentEvents.map((e) => e.type));
    expect([...types].sort()).toEqual(
      when === 'yes'
        ? ['CompensationFailed', 'CompensationSucceeded', 'SagaStarted', 'StepFailed', 'StepSucceeded']
        : ['CompensationFailed', 'CompensationSucceeded', 'SagaStarted', 'StepFailed', 'StepSkipped', 'StepSucceeded'],
    );
    expect(kit.status).toBe('COMPENSATED');
  });

  it("reports a lost attempt with the supervisor's own error and deadline", async () => {
    expect(DEADLINE_GRACE_MS).toBe(STORE_GRACE_MS);
    expect(DEADLINE_EXCEEDED).toBe(SUPERVISOR_CODE);
    expect(DEFAULT_POISON_AFTER_DEATHS).toBe(SUPERVISOR_POISON_AFTER);

    for (const [phase, deaths] of [
      ['run', 0],
      ['undo', 0],
      ['run', 1],
      ['undo', 1],
    ] as const) {
      const applied: SagaEvent[] = [];
      const claim: ClaimedAttempt = {
        sagaId: 's1',
        sagaType: 't',
        definitionVersion: 1,
        step: 'pay',
        phase,
        attempt: 2,
        fence:
          phase === 'run'
            ? { status: 'RUNNING', attempt: 2, compStatus: null, compAttempt: 0 }
            : { status: 'COMPENSATING', attempt: 1, compStatus: 'RUNNING', compAttempt: 2 },
        deaths,
      };
      const supervisor = new Supervisor(
        {
          claimExpired: async () => [claim],
          claimExpiredItems: async () => [],
          claimOverdue: async () => [],
          claimOverdueItems: async () => [],
          claimDueStarts: async () => [],
          purgeFinished: async () => 0,
        } as never,
        { apply: async (_id: string, event: SagaEvent) => (applied.push(event), { applied: true }) } as never,
        { spec: async () => ({ stepsByName: { pay: {} } }) } as never,
        { liveness: async () => 'active', throttled: async () => null } as never,
        { intervalMs: 1_000, scheduleToStartMs: 5_000, retentionMs: null },
      );
      await supervisor.sweep();
      expect(applied).toEqual([
        {
          type: phase === 'run' ? 'StepFailed' : 'CompensationFailed',
          step: 'pay',
          attempt: 2,
          error: deadlineExceeded('pay', phase, 2, deaths + 1),
        },
      ]);
    }
  });
});

describe("the kit's check of a step's output class, against the agent's (validateStepOutput)", () => {
  class Parcel {
    @IsString()
    trackingId!: string;

    @IsInt()
    @Min(1)
    parcels!: number;
  }
  const step = { name: 'ship', outputClass: Parcel, fanOut: null } as never;
  const fanOut = { name: 'ship', outputClass: Parcel, fanOut: { concurrency: 1, keyed: false } } as never;

  it.each([{ trackingId: 'T', parcels: 1 }, { trackingId: 7, parcels: 0 }, { parcels: 1, extra: true }, 'T-1', null])(
    'names the same problems for %p',
    async (value) => {
      expect(outputProblems(step, value)).toEqual(await validateStepOutput(step, value));
      expect(outputProblems(fanOut, [value, value])).toEqual(await validateStepOutput(fanOut, [value, value]));
      expect(outputProblems(fanOut, value, true)).toEqual(await validateStepOutput(fanOut, value, { item: true }));
    },
  );
});
