import { randomUUID } from 'node:crypto';
import {
  createSagaApiError,
  type AgentView,
  type SagaEventView,
  type SagaStatus,
  type SagaTransport,
  type SagaTypeView,
  type SagaView,
  type StartLater,
} from '@saga-engine/client';

/*
 * An engine in memory behind the client's `SagaTransport`, for the CLI's unit tests: `run` talks to it through a
 * real `SagaClient`, without a socket. It answers with the API's shapes, statuses and error codes (as the client
 * maps them); the e2e test holds the CLI to the real engine.
 */

interface Saga {
  view: SagaView;
  /** Statuses the next reads return, one per read; the last one stays. */
  script: SagaStatus[];
  events: SagaEventView[];
  waitingFor: string | null;
  key: string | null;
}

export class MemoryEngine implements SagaTransport {
  /** Every call, as `method arg...` (the input and payloads as JSON). */
  readonly calls: string[] = [];
  /** Errors the next calls throw, in order, before doing anything. */
  readonly failNext: Error[] = [];
  /** The statuses the reads of the next saga `start` creates return (see `script`). */
  nextStartScript: SagaStatus[] = [];
  sagaTypesList: SagaTypeView[] = [];
  agentsList: AgentView[] = [];
  private readonly sagas = new Map<string, Saga>();
  private clock = Date.parse('2026-12-01T08:00:00.000Z');

  /** Adds a saga (RUNNING unless said otherwise) and returns its id. */
  add(options: { type?: string; status?: SagaStatus; waitingFor?: string; input?: Record<string, unknown> } = {}) {
    const id = randomUUID();
    const at = this.tick();
    const status = options.status ?? 'RUNNING';
    this.sagas.set(id, {
      view: {
        id,
        type: options.type ?? 'order',
        version: 1,
        status,
        input: options.input ?? {},
        output: null,
        error: null,
        createdAt: at,
        updatedAt: at,
        completedAt: ['COMPLETED', 'COMPENSATED', 'CANCELLED'].includes(status) ? at : null,
        steps: [],
      },
      script: [],
      events: [{ seq: 1, type: 'SagaStarted', step: null, attempt: null, at, data: null }],
      waitingFor: options.waitingFor ?? null,
      key: null,
    });
    return id;
  }

  /** The saga as stored. */
  saga(id: string): SagaView {
    return this.found(id).view;
  }

  /** The statuses of its next reads, one each; the last one stays. */
  script(id: string, statuses: SagaStatus[]): void {
    this.found(id).script.push(...statuses);
  }

  /** Appends an event to its history. */
  event(id: string, type: string, step: string | null = null, data: Record<string, unknown> | null = null): void {
    const saga = this.found(id);
    saga.events.push({ seq: saga.events.length + 1, type, step, attempt: step ? 1 : null, at: this.tick(), data });
  }

  async start(type: string, input: Record<string, unknown>, key: string | null, later?: StartLater) {
    this.call('start', type, JSON.stringify(input), String(key), ...(later ? [JSON.stringify(later)] : []));
    if (type !== 'order') throw createSagaApiError(400, 'SAGA_TYPE_UNKNOWN', 'type is not a registered saga type');
    const prior = [...this.sagas.values()].find((s) => key !== null && s.key === key);
    if (prior) return { saga: prior.view, created: false };
    const id = this.add({ input });
    this.found(id).key = key;
    this.script(id, this.nextStartScript.splice(0));
    return { saga: this.saga(id), created: true };
  }

  async get(id: string) {
    this.call('get', id);
    const saga = this.sagas.get(id);
    if (!saga) return null;
    const next = saga.script.length > 1 ? saga.script.shift() : saga.script[0];
    if (next && next !== saga.view.status) this.setStatus(saga, next);
    return saga.view;
  }

  async signal(id: string, name: string, payload: Record<string, unknown> | undefined) {
    this.call('signal', id, name, payload === undefined ? '-' : JSON.stringify(payload));
    const saga = this.found(id);
    if (saga.waitingFor !== name) throw createSagaApiError(409, 'NOT_WAITING', `no step waits for signal "${name}"`);
    saga.waitingFor = null;
    this.event(id, 'SignalReceived', null, { signal: name });
  }

  async cancel(id: string, reason: string) {
    this.call('cancel', id, reason);
    const saga = this.found(id);
    if (saga.view.status !== 'RUNNING') {
      throw createSagaApiError(409, 'INVALID_STATE', `saga is ${saga.view.status}`);
    }
    this.setStatus(saga, 'COMPENSATING');
    return saga.view;
  }

  async retry(id: string, reason: string) {
    this.call('retry', id, reason);
    const saga = this.found(id);
    if (saga.view.status !== 'FAILED') throw createSagaApiError(409, 'INVALID_STATE', `saga is ${saga.view.status}`);
    this.setStatus(saga, 'COMPENSATING');
    return saga.view;
  }

  async retryFrom(id: string, step: string, reason: string) {
    this.call('retryFrom', id, step, reason);
    const saga = this.found(id);
    if (saga.view.status !== 'FAILED' && saga.view.status !== 'COMPLETED') {
      throw createSagaApiError(409, 'INVALID_STATE', `saga is ${saga.view.status}`);
    }
    this.setStatus(saga, 'RUNNING');
    return saga.view;
  }

  async skip(id: string, step: string, output: unknown, reason: string) {
    this.call('skip', id, step, JSON.stringify(output), reason);
    const saga = this.found(id);
    if (step !== 'charge-card') throw createSagaApiError(404, 'STEP_NOT_FOUND', `saga ${id} has no step "${step}"`);
    this.setStatus(saga, 'RUNNING');
    return saga.view;
  }

  async resolve(id: string, step: string, reason: string) {
    this.call('resolve', id, step, reason);
    const saga = this.found(id);
    if (step !== 'charge-card') throw createSagaApiError(404, 'STEP_NOT_FOUND', `saga ${id} has no step "${step}"`);
    return saga.view;
  }

  async list(query: {
    type?: string;
    status?: readonly string[];
    limit?: number;
    cursor?: string;
    [k: string]: unknown;
  }) {
    this.call('list', JSON.stringify(query));
    const limit = query.limit ?? 50;
    let items = [...this.sagas.values()]
      .map((s) => s.view)
      .reverse()
      .filter(
        (v) =>
          (query.type === undefined || v.type === query.type) && (!query.status || query.status.includes(v.status)),
      );
    if (query.cursor !== undefined) {
      const at = items.findIndex((v) => v.id === query.cursor);
      if (at < 0) throw createSagaApiError(400, 'INPUT_INVALID', 'cursor is invalid');
      items = items.slice(at + 1);
    }
    const page = items.slice(0, limit);
    return {
      items: page.map(({ input: _i, output: _o, steps: _s, ...summary }) => summary),
      nextCursor: items.length > limit ? page[page.length - 1].id : null,
    };
  }

  async events(id: string, query: { afterSeq?: number; limit?: number }) {
    this.call('events', id, String(query.afterSeq ?? 0));
    const saga = this.found(id);
    const limit = query.limit ?? 1000;
    const items = saga.events.filter((e) => e.seq > (query.afterSeq ?? 0)).slice(0, limit);
    return { items, nextAfterSeq: items.length === limit ? items[items.length - 1].seq : null };
  }

  async sagaTypes() {
    this.call('sagaTypes');
    return this.sagaTypesList;
  }

  async agents() {
    this.call('agents');
    return this.agentsList;
  }

  private call(...parts: string[]): void {
    this.calls.push(parts.join(' '));
    const failure = this.failNext.shift();
    if (failure) throw failure;
  }

  private found(id: string): Saga {
    const saga = this.sagas.get(id);
    if (!saga) throw createSagaApiError(404, 'SAGA_NOT_FOUND', `saga ${id} not found`);
    return saga;
  }

  private setStatus(saga: Saga, status: SagaStatus): void {
    const at = this.tick();
    const ended = ['COMPLETED', 'COMPENSATED', 'CANCELLED'].includes(status);
    saga.view = {
      ...saga.view,
      status,
      updatedAt: at,
      completedAt: ended ? at : null,
      output: status === 'COMPLETED' ? { done: true } : null,
    };
    const type: Record<SagaStatus, string> = {
      DELAYED: 'SagaDelayed',
      COMPLETED: 'SagaCompleted',
      COMPENSATED: 'SagaCompensated',
      CANCELLED: 'SagaCancelled',
      FAILED: 'SagaFailed',
      COMPENSATING: 'CompensationStarted',
      RUNNING: 'SagaResumed',
    };
    saga.events.push({
      seq: saga.events.length + 1,
      type: type[status],
      step: null,
      attempt: null,
      at,
      data: null,
    });
  }

  private tick(): string {
    this.clock += 1_000;
    return new Date(this.clock).toISOString();
  }
}
