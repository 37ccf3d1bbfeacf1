import { Injectable } from '@nestjs/common';
import type { Role } from '../../config/engine-config';
import {
  BulkAction,
  type BulkJob,
  BulkJobStore,
  type StoredBulkFilter,
  sagaFilterOf,
} from '../../store/bulk-job-store';
import { AuditAction, AuditLog, AuditOutcome, type AuditRecord } from '../../store/saga-audit';
import { SagaQueries } from '../../store/saga-queries';
import { ApiError } from '../http/api-error';
import type { Principal } from '../http/auth';
import { parseQueryDate } from '../http/query-params';
import { type BulkActionDto, DEFAULT_BULK_CAP } from './bulk-action.dto';

const RANK: Record<Role, number> = { viewer: 1, operator: 2, admin: 3 };

/** The role a bulk action needs: the role of the same action on one saga (resolve admin, the others operator). */
export function roleFor(action: BulkAction): Role {
  switch (action) {
    case BulkAction.RETRY:
    case BulkAction.CANCEL:
      return 'operator';
    case BulkAction.RESOLVE:
      return 'admin';
    default: {
      const unknown: never = action;
      throw new Error(`unknown bulk action ${String(unknown)}`);
    }
  }
}

/** How many matching sagas a dry run lists as a sample. */
export const DRY_RUN_SAMPLE = 10;

/**
 * Bulk actions as the API asks for them: checked (role, the key's types, the step of a resolve, the cap), counted,
 * and written as a job with its audit row; the supervisor's BulkJobRunner does the work. Each saga then goes
 * through OperatorActions.perform, the code of the action on one saga.
 */
@Injectable()
export class BulkActions {
  constructor(
    private readonly jobs: BulkJobStore,
    private readonly queries: SagaQueries,
    private readonly audit: AuditLog,
  ) {}

  /** A dry run: `{ matched, sample }`; else the job asked for (202), or its refusal (403, 409), audited. */
  async request(
    body: BulkActionDto,
    principal: Principal,
  ): Promise<{ dryRun: true; matched: number; sample: string[] } | { dryRun: false; job: BulkJob }> {
    const filter = this.checkedFilter(body);
    if (body.action === BulkAction.RESOLVE && body.step === undefined) {
      throw new ApiError(
        400,
        'INPUT_INVALID',
        'step is required with action resolve: the step to resolve in each saga',
      );
    }
    if (body.action !== BulkAction.RESOLVE && body.step !== undefined) {
      throw new ApiError(400, 'INPUT_INVALID', 'step is only for action resolve');
    }
    if (principal.sagaTypes && filter.type !== undefined && !principal.sagaTypes.includes(filter.type)) {
      throw new ApiError(
        403,
        'FORBIDDEN',
        `filter.type: this key is limited to the saga types ${principal.sagaTypes.join(', ')}`,
      );
    }
    const types = principal.sagaTypes ? [...principal.sagaTypes] : null;
    const step = body.step ?? null;
    const record: AuditRecord = {
      actor: principal.name,
      role: principal.role,
      action: AuditAction.BULK_START,
      sagaId: null,
      step,
      reason: body.reason,
      outcome: AuditOutcome.ACCEPTED,
      statusCode: 202,
      detail: null,
    };
    const needed = roleFor(body.action);
    if (RANK[principal.role] < RANK[needed]) {
      const refusal = new ApiError(
        403,
        'FORBIDDEN',
        `a bulk ${body.action} needs the ${needed} role; the key has ${principal.role}`,
      );
      if (!body.dryRun) await this.refused(record, refusal, body.action);
      throw refusal;
    }
    const sagaFilter = sagaFilterOf({ filter, types });
    if (body.dryRun) {
      const until = new Date();
      const [matched, page] = await Promise.all([
        this.queries.count(sagaFilter, until),
        this.queries.matchingPage(sagaFilter, until, null, DRY_RUN_SAMPLE),
      ]);
      return { dryRun: true, matched, sample: page.map((p) => p.id) };
    }
    const cap = body.cap ?? DEFAULT_BULK_CAP;
    const { matched, created } = await this.jobs.create({
      action: body.action,
      step,
      filter,
      types,
      reason: body.reason,
      requestedBy: principal.name,
      requestedRole: principal.role,
      cap,
      count: (until) => this.queries.count(sagaFilter, until),
      audit: record,
      detail: (id, n) => `bulk job ${id}: ${body.action} of ${n} sagas matching ${JSON.stringify(filter)}, cap ${cap}`,
    });
    if (!created) {
      const refusal = new ApiError(
        409,
        'CAP_EXCEEDED',
        `cap: ${matched} sagas match, more than the cap of ${cap}; narrow the filter or raise cap (at most 100000)`,
      );
      await this.refused(record, refusal, body.action);
      throw refusal;
    }
    return { dryRun: false, job: created };
  }

  /** The job, if this key may see it (see `visible`); else 404. */
  async get(id: string, principal: Principal): Promise<BulkJob> {
    const job = await this.jobs.get(id);
    if (!job || !visible(job, principal)) throw notFound(id);
    return job;
  }

  async list(limit: number, principal: Principal): Promise<BulkJob[]> {
    return this.jobs.list(limit, principal.sagaTypes ?? null);
  }

  /**
   * Stops a PENDING or RUNNING job (the role of its action): the sagas it acted on stay so, the rest are left
   * alone. 409 when it had ended. Audited (`bulk-stop`), accepted or refused.
   */
  async stop(id: string, reason: string, principal: Principal): Promise<BulkJob> {
    const job = await this.get(id, principal);
    const record: AuditRecord = {
      actor: principal.name,
      role: principal.role,
      action: AuditAction.BULK_STOP,
      sagaId: null,
      step: null,
      reason,
      outcome: AuditOutcome.ACCEPTED,
      statusCode: 202,
      detail: `bulk job ${id}`,
    };
    const needed = roleFor(job.action);
    if (RANK[principal.role] < RANK[needed]) {
      const refusal = new ApiError(
        403,
        'FORBIDDEN',
        `stopping a bulk ${job.action} needs the ${needed} role; the key has ${principal.role}`,
      );
      await this.audit.record({
        ...record,
        outcome: AuditOutcome.REFUSED,
        statusCode: 403,
        detail: `bulk job ${id}: ${refusal.message}`,
      });
      throw refusal;
    }
    const result = await this.jobs.cancel(id, record);
    if (!result) throw notFound(id);
    if (!result.cancelled) {
      const refusal = new ApiError(409, 'INVALID_STATE', `bulk job ${id} is ${result.job.status}: it has ended`);
      await this.audit.record({
        ...record,
        outcome: AuditOutcome.REFUSED,
        statusCode: 409,
        detail: refusal.message,
      });
      throw refusal;
    }
    return result.job;
  }

  private async refused(record: AuditRecord, refusal: ApiError, action: BulkAction): Promise<void> {
    await this.audit.record({
      ...record,
      outcome: AuditOutcome.REFUSED,
      statusCode: refusal.getStatus(),
      detail: `bulk ${action}: ${refusal.message}`,
    });
  }

  /** The filter as stored: dates checked and normalized (ISO), as `GET /v1/sagas` reads them. */
  private checkedFilter(body: BulkActionDto): StoredBulkFilter {
    const given = body.filter;
    const filter: StoredBulkFilter = {};
    if (given.type !== undefined) filter.type = given.type;
    if (given.status?.length) filter.status = [...new Set(given.status)];
    for (const field of ['createdAfter', 'createdBefore'] as const) {
      const value = given[field];
      if (value === undefined) continue;
      const date = parseQueryDate(value);
      if (!date) throw new ApiError(400, 'INPUT_INVALID', `filter.${field} is not a valid date`);
      filter[field] = date.toISOString();
    }
    return filter;
  }
}

/** A key limited to some types sees only the jobs of keys limited to some of those (never one that spans more). */
function visible(job: BulkJob, principal: Principal): boolean {
  if (!principal.sagaTypes) return true;
  const allowed = principal.sagaTypes;
  return job.types !== null && job.types.every((t) => allowed.includes(t));
}

function notFound(id: string): ApiError {
  return new ApiError(404, 'BULK_JOB_NOT_FOUND', `bulk job ${id} not found`);
}

/** A job as the API shows it. */
export function bulkJobView(job: BulkJob) {
  return {
    id: job.id,
    action: job.action,
    step: job.step,
    filter: job.filter,
    reason: job.reason,
    requestedBy: job.requestedBy,
    status: job.status,
    cap: job.cap,
    matched: job.matched,
    processed: job.done + job.skipped + job.failed,
    done: job.done,
    skipped: job.skipped,
    failed: job.failed,
    errors: job.errors,
    lastError: job.lastError,
    cancelledBy: job.cancelledBy,
    cancelReason: job.cancelReason,
    createdAt: job.createdAt.toISOString(),
    updatedAt: job.updatedAt.toISOString(),
    finishedAt: job.finishedAt ? job.finishedAt.toISOString() : null,
  };
}
