import { Inject, Injectable } from '@nestjs/common';
import { v7 as uuidv7 } from 'uuid';
import { INPUT_CIPHER } from '../../module/tokens';
import { validateSagaInput } from '../../scheduler/input-schema';
import { SagaRegistry } from '../../scheduler/saga-registry';
import { type InputCipher, redactSealed, scrubSecrets, secretsAt } from '../../security/input-cipher';
import { sealScheduleInput } from '../../schedules/schedule-input';
import { CatchUpPolicy, OverlapPolicy, nextTick, nextTicks } from '../../schedules/schedule-plan';
import {
  type Schedule,
  type ScheduleAuditAction,
  type ScheduleAuditRecord,
  type ScheduleChange,
  ScheduleStore,
} from '../../store/schedule-store';
import { ApiError } from '../http/api-error';
import type { Principal } from '../http/auth';
import type { CreateScheduleDto, UpdateScheduleDto } from './schedule.dto';

/** How many next runs and last runs `GET /v1/schedules/{id}` shows. */
const NEXT_RUNS = 5;
const LAST_RUNS = 20;
const CHANGES = 20;

/**
 * Schedules as the REST API manages them: validated like a start (the type must exist, the input must match its
 * schema), stored with sensitive fields sealed, every change audited with its reason in the same transaction.
 * The times shown (next runs) are computed from this process's clock; the ticks themselves are judged by the
 * database's, when the supervisor sweeps.
 */
@Injectable()
export class ScheduleOperations {
  constructor(
    private readonly store: ScheduleStore,
    private readonly registry: SagaRegistry,
    @Inject(INPUT_CIPHER) private readonly cipher: InputCipher | null,
  ) {}

  async create(body: CreateScheduleDto, principal: Principal) {
    const id = uuidv7();
    const sensitive = await this.checkStart(body.type, body.input);
    const spec = { cron: body.cron, timeZone: body.timeZone ?? 'UTC' };
    const paused = body.paused ?? false;
    const schedule = {
      id,
      sagaType: body.type,
      input: sealScheduleInput(this.cipher, body.input, sensitive, id),
      ...spec,
      overlap: body.overlap ?? OverlapPolicy.SKIP,
      catchUp: body.catchUp ?? CatchUpPolicy.LAST,
      catchUpLimit: body.catchUpLimit ?? 10,
      description: body.description ?? null,
      paused,
      nextFireAt: paused ? null : nextTick(spec, new Date()),
    };
    const { input: _input, ...shown } = schedule;
    await this.store.create(schedule, audit(principal, 'create', id, body.reason, { ...shown, input: '(set)' }));
    return this.view(id);
  }

  async update(id: string, body: UpdateScheduleDto, principal: Principal) {
    const current = await this.get(id);
    const type = current.sagaType;
    const sensitive = body.input === undefined ? [] : await this.checkStart(type, body.input);
    const updated = await this.store.update(id, (now) => {
      const set: ScheduleChange = {};
      const detail: Record<string, unknown> = {};
      for (const field of ['cron', 'timeZone', 'overlap', 'catchUp', 'catchUpLimit', 'description'] as const) {
        if (body[field] !== undefined && body[field] !== now[field]) {
          (set as Record<string, unknown>)[field] = body[field];
          detail[field] = body[field];
        }
      }
      if (body.input !== undefined) {
        set.input = sealScheduleInput(this.cipher, body.input, sensitive, id);
        detail.input = '(changed)';
      }
      const paused = body.paused ?? now.paused;
      if (paused !== now.paused) {
        set.paused = paused;
        detail.paused = paused;
      }
      // A new rule, or a resume: the next tick after now (ticks while paused are not caught up). Paused: none.
      const spec = { cron: set.cron ?? now.cron, timeZone: set.timeZone ?? now.timeZone };
      if (paused) set.nextFireAt = null;
      else if (set.cron !== undefined || set.timeZone !== undefined || set.paused === false) {
        set.nextFireAt = nextTick(spec, new Date());
      }
      if (set.paused !== undefined) set.bufferedTick = null;
      const action: ScheduleAuditAction = set.paused === true ? 'pause' : set.paused === false ? 'resume' : 'update';
      return { set, audit: audit(principal, action, id, body.reason, detail) };
    });
    if (!updated) throw notFound(id);
    return this.view(id);
  }

  /** Deletes it and answers it as it was (its runs go with it; its audit stays). */
  async delete(id: string, reason: string, principal: Principal) {
    const last = this.summary(await this.get(id));
    if (!(await this.store.delete(id, audit(principal, 'delete', id, reason, null)))) throw notFound(id);
    return last;
  }

  /** `types`: only schedules of these saga types (a key limited to them); unset: every type. */
  async list(limit: number, type?: string, types?: readonly string[]) {
    return (await this.store.list(limit, type, types)).map((s) => this.summary(s));
  }

  /** The schedule with its next runs, its last runs (with their sagas) and its last changes. */
  async view(id: string) {
    const schedule = await this.get(id);
    const [runs, changes] = await Promise.all([this.store.runs(id, LAST_RUNS), this.store.audits(id, CHANGES)]);
    const next = schedule.paused ? [] : nextTicks(schedule, new Date(), NEXT_RUNS);
    return {
      ...this.summary(schedule),
      // None while paused: a resume fires from the next tick after it.
      nextRuns: next.map((d) => d.toISOString()),
      lastRuns: runs.map((r) => ({
        tick: r.tick.toISOString(),
        outcome: r.outcome,
        sagaId: r.sagaId,
        sagaStatus: r.sagaStatus,
        detail: r.detail,
        at: r.at.toISOString(),
      })),
      changes: changes.map((c) => ({
        at: c.at.toISOString(),
        actor: c.actor,
        role: c.role,
        action: c.action,
        reason: c.reason,
        detail: c.detail,
      })),
    };
  }

  private summary(s: Schedule) {
    return {
      id: s.id,
      type: s.sagaType,
      input: redactSealed(s.input),
      cron: s.cron,
      timeZone: s.timeZone,
      overlap: s.overlap,
      catchUp: s.catchUp,
      catchUpLimit: s.catchUpLimit,
      description: s.description,
      paused: s.paused,
      nextFireAt: s.nextFireAt?.toISOString() ?? null,
      bufferedTick: s.bufferedTick?.toISOString() ?? null,
      lastSagaId: s.lastSagaId,
      createdAt: s.createdAt.toISOString(),
      updatedAt: s.updatedAt.toISOString(),
    };
  }

  private async get(id: string): Promise<Schedule> {
    const schedule = await this.store.get(id);
    if (!schedule) throw notFound(id);
    return schedule;
  }

  /** The type exists and the input matches its schema now (each tick checks again); its sensitive paths. */
  private async checkStart(type: string, input: Record<string, unknown>): Promise<readonly string[]> {
    const known = await this.registry.latest(type);
    if (!known) {
      throw new ApiError(
        400,
        'SAGA_TYPE_UNKNOWN',
        'type is not a registered saga type (GET /v1/saga-types lists them)',
      );
    }
    const problems = await validateSagaInput(known.code ?? { inputSchema: known.inputSchema }, input);
    if (problems.length > 0) {
      const message = scrubSecrets(problems.join('; '), secretsAt(input, known.spec.sensitive));
      throw new ApiError(400, 'INPUT_INVALID', message);
    }
    if (known.spec.sensitive.length > 0 && !this.cipher) {
      throw new ApiError(400, 'INPUT_INVALID', `saga type ${type} has sensitive fields and no encryption key is set`);
    }
    return known.spec.sensitive;
  }
}

function audit(
  principal: Principal,
  action: ScheduleAuditAction,
  scheduleId: string,
  reason: string,
  detail: Record<string, unknown> | null,
): ScheduleAuditRecord {
  return { actor: principal.name, role: principal.role, action, scheduleId, reason, detail };
}

function notFound(id: string): ApiError {
  return new ApiError(404, 'SCHEDULE_NOT_FOUND', `schedule ${id} not found`);
}
