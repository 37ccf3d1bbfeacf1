import { evaluateCondition } from '../conditions';
import { evaluateSleepUntil } from '../sleep';
import { initialState } from '../initial-state';
import { stepOutputs } from '../outputs';
import { transition } from '../transition';
import type {
  ErrorInfo,
  HistoryEntry,
  SagaCommand,
  SagaDefinition,
  SagaEvent,
  SagaState,
  TransitionResult,
} from '../types';

/** Freezes an object graph in place, so that any mutation by the code under test throws. */
export function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const key of Object.keys(value)) deepFreeze((value as Record<string, unknown>)[key]);
  }
  return value;
}

export function transientError(code = 'UNAVAILABLE', extra: Partial<ErrorInfo> = {}): ErrorInfo {
  return { name: 'Error', code, message: `transient ${code}`, retryable: true, ...extra };
}

export function definiteError(code = 'DECLINED'): ErrorInfo {
  return { name: 'NonRetryableError', code, message: `definite ${code}`, retryable: false };
}

export function timeoutError(): ErrorInfo {
  return { name: 'TimeoutError', code: 'TIMEOUT', message: 'timed out', retryable: true };
}

/** Commands as short strings: `run a#1`, `undo b#2 +1000ms`, `alert CODE`. */
export function describeCommands(commands: readonly SagaCommand[]): string[] {
  return commands.map((command) => {
    switch (command.type) {
      case 'DispatchStep': {
        const item = command.item === undefined ? '' : `[${command.item}]`;
        return `${command.phase} ${command.step}${item}#${command.attempt}${command.delayMs ? ` +${command.delayMs}ms` : ''}`;
      }
      case 'AwaitSignal':
        return `await ${command.step}#${command.attempt} ${command.signal}`;
      case 'RaiseAlert':
        return `alert ${command.error?.code ?? 'null'}`;
      case 'StartTimer':
        return `timer ${command.step}#${command.attempt} ${command.until ?? `+${command.delayMs}ms`}`;
      case 'DelayStart':
        return `delay ${command.startAt ?? `+${command.startInMs}ms`}`;
      case 'StartChild':
        return `child ${command.step}#${command.attempt} ${command.childType}@${command.childVersion}${command.round ? ` round ${command.round}` : ''}`;
      case 'CancelChild':
        return `cancel-child ${command.step}#${command.attempt}`;
      case 'UndoChild':
        return `undo-child ${command.step}#${command.attempt} (${command.compensationAttempt})`;
      case 'StartFanOut':
        return `items ${command.step}#${command.attempt} x${command.items.length}`;
      default: {
        const _never: never = command;
        return 'unknown';
      }
    }
  });
}

/** History entries as short strings: `StepFailed b#1`, `SagaCompensated`. */
export function describeHistory(history: readonly HistoryEntry[]): string[] {
  return history.map((h) =>
    [
      h.type,
      h.step === null ? '' : ` ${h.step}`,
      h.item === undefined ? '' : `[${h.item}]`,
      h.attempt === null ? '' : `#${h.attempt}`,
    ].join(''),
  );
}

/**
 * Feeds events to `transition` one by one, checking on every call what must always hold: the input state is
 * never mutated (it is deep-frozen, and compared before and after), history `seq`s continue `eventCount`
 * without a gap, and an ignored event returns the very same state with nothing else.
 */
export class SagaHarness {
  state: SagaState;
  readonly history: HistoryEntry[] = [];
  last: TransitionResult | null = null;

  constructor(
    readonly def: SagaDefinition,
    input: unknown = {},
    readonly random: () => number = () => 0.5,
  ) {
    this.state = initialState(def, input);
  }

  send(event: SagaEvent): TransitionResult {
    const before = deepFreeze(this.state);
    const snapshot = JSON.stringify(before);
    const result = transition(this.def, before, event, { random: this.random });
    expect(JSON.stringify(before)).toBe(snapshot);
    if (result.ignored !== null) {
      expect(result.state).toBe(before);
      expect(result.commands).toEqual([]);
      expect(result.history).toEqual([]);
    } else {
      expect(result.state).not.toBe(before);
      expect(result.history.length).toBeGreaterThan(0);
      expect(result.history.map((h) => h.seq)).toEqual(result.history.map((_, i) => before.eventCount + i + 1));
      expect(result.state.eventCount).toBe(before.eventCount + result.history.length);
    }
    this.state = result.state;
    this.history.push(...result.history);
    this.last = result;
    return result;
  }

  /** Commands of the last transition as short strings. */
  get commands(): string[] {
    return describeCommands(this.last?.commands ?? []);
  }

  /** History of the last transition as short strings. */
  get recorded(): string[] {
    return describeHistory(this.last?.history ?? []);
  }

  step(name: string) {
    return this.state.steps[name];
  }

  private attemptOf(step: string): number {
    return this.state.steps[step].attempt;
  }

  private undoAttemptOf(step: string): number {
    return this.state.steps[step].compensation?.attempt ?? 0;
  }

  start(): TransitionResult {
    return this.send({ type: 'SagaStarted' });
  }

  started(step: string, attempt = this.attemptOf(step)): TransitionResult {
    return this.send({ type: 'StepStarted', step, phase: 'run', attempt });
  }

  succeed(step: string, output: unknown = { from: step }, attempt = this.attemptOf(step)): TransitionResult {
    return this.send({ type: 'StepSucceeded', step, attempt, output });
  }

  fail(step: string, error: ErrorInfo, attempt = this.attemptOf(step)): TransitionResult {
    return this.send({ type: 'StepFailed', step, attempt, error });
  }

  undoStarted(step: string, attempt = this.undoAttemptOf(step)): TransitionResult {
    return this.send({ type: 'StepStarted', step, phase: 'undo', attempt });
  }

  undone(step: string, attempt = this.undoAttemptOf(step)): TransitionResult {
    return this.send({ type: 'CompensationSucceeded', step, attempt });
  }

  undoFailed(step: string, error: ErrorInfo, attempt = this.undoAttemptOf(step)): TransitionResult {
    return this.send({ type: 'CompensationFailed', step, attempt, error });
  }

  cancel(reason = 'customer changed their mind'): TransitionResult {
    return this.send({ type: 'CancelRequested', by: 'ops@example.com', reason });
  }

  retry(reason = 'participant fixed'): TransitionResult {
    return this.send({ type: 'RetryRequested', by: 'ops@example.com', reason });
  }

  resolve(step: string, reason = 'refunded by hand'): TransitionResult {
    return this.send({ type: 'CompensationResolved', step, by: 'ops@example.com', reason });
  }

  signal(signal: string, payload: unknown = { signal }, step?: string): TransitionResult {
    return this.send(
      step === undefined
        ? { type: 'SignalReceived', signal, payload }
        : { type: 'SignalReceived', signal, step, payload },
    );
  }

  signalTimedOut(step: string, attempt = this.attemptOf(step)): TransitionResult {
    return this.send({ type: 'SignalTimedOut', step, attempt });
  }

  skipped(step: string, attempt = this.attemptOf(step)): TransitionResult {
    return this.send({ type: 'StepSkipped', step, attempt });
  }

  waitStarted(step: string, attempt = this.attemptOf(step)): TransitionResult {
    return this.send({ type: 'WaitStarted', step, attempt });
  }

  sleepStarted(step: string, until?: string, attempt = this.attemptOf(step)): TransitionResult {
    return this.send({ type: 'SleepStarted', step, attempt, ...(until === undefined ? {} : { until }) });
  }

  timerFired(
    step: string,
    firedAt = '2026-12-01T10:00:01.000Z',
    dueAt = '2026-12-01T10:00:00.000Z',
    attempt = this.attemptOf(step),
  ): TransitionResult {
    return this.send({ type: 'TimerFired', step, attempt, dueAt, firedAt });
  }

  delay(start: { startAt: string } | { startInMs: number } = { startInMs: 60_000 }): TransitionResult {
    return this.send({ type: 'SagaDelayed', ...start });
  }

  childRequested(step: string, input: unknown = { for: step }, attempt = this.attemptOf(step)): TransitionResult {
    return this.send({ type: 'ChildRequested', step, attempt, input });
  }

  childEnded(
    step: string,
    status: 'COMPLETED' | 'COMPENSATED' | 'CANCELLED',
    output: unknown = { child: step },
    attempt = this.attemptOf(step),
  ): TransitionResult {
    const error =
      status === 'COMPLETED' ? null : { step: 'x', code: 'DECLINED', message: 'child said no', transient: false };
    return this.send({ type: 'ChildEnded', step, attempt, childId: `child-of-${step}`, status, output, error });
  }

  undoRequested(reason = 'the parent compensates'): TransitionResult {
    return this.send({ type: 'UndoRequested', by: 'saga parent-1', reason });
  }

  fanOutStarted(step: string, items: unknown[], keys?: string[], attempt = this.attemptOf(step)): TransitionResult {
    return this.send({ type: 'FanOutStarted', step, attempt, items, ...(keys ? { keys } : {}) });
  }

  item(step: string, index: number) {
    const fanOut = this.state.steps[step].fanOut;
    if (!fanOut) throw new Error(`step "${step}" has no items`);
    return fanOut.items[index];
  }

  itemStarted(step: string, index: number, attempt = this.item(step, index).attempt): TransitionResult {
    return this.send({ type: 'StepStarted', step, phase: 'run', attempt, item: index });
  }

  itemSucceed(
    step: string,
    index: number,
    output: unknown = { item: index },
    attempt = this.item(step, index).attempt,
  ): TransitionResult {
    return this.send({ type: 'StepSucceeded', step, attempt, output, item: index });
  }

  itemFail(step: string, index: number, error: ErrorInfo, attempt = this.item(step, index).attempt): TransitionResult {
    return this.send({ type: 'StepFailed', step, attempt, error, item: index });
  }

  itemUndone(step: string, index: number, attempt = this.item(step, index).compensation?.attempt ?? 0) {
    return this.send({ type: 'CompensationSucceeded', step, attempt, item: index });
  }

  itemUndoFailed(
    step: string,
    index: number,
    error: ErrorInfo,
    attempt = this.item(step, index).compensation?.attempt ?? 0,
  ): TransitionResult {
    return this.send({ type: 'CompensationFailed', step, attempt, error, item: index });
  }

  /**
   * What an agent does with a dispatched conditional step before running it: evaluates its `when` and reports
   * `StepSkipped` (false), `StepFailed` (it threw) or, for a wait step, `WaitStarted` (true). Answers whether the
   * action would run now (true) or what was sent.
   */
  evaluate(step: string): true | TransitionResult {
    const def = this.def.stepsByName[step];
    const verdict = evaluateCondition(def, { input: this.state.input, steps: stepOutputs(this.def, this.state) });
    if (verdict === false) return this.skipped(step);
    if (verdict !== true) return this.fail(step, verdict);
    if (def.sleep) {
      const until = evaluateSleepUntil(def, { input: this.state.input, steps: stepOutputs(this.def, this.state) });
      if (typeof until === 'object') return this.fail(step, until);
      return this.sleepStarted(step, until);
    }
    const ctx = { input: this.state.input, steps: stepOutputs(this.def, this.state) };
    if (def.child) return this.childRequested(step, def.childInput ? def.childInput(ctx) : ctx.input);
    if (def.fanOut) return this.fanOutStarted(step, [...(def.items ? def.items(ctx) : [])]);
    return def.signal === null ? true : this.waitStarted(step);
  }
}
