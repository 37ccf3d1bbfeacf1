import { HttpException, Injectable } from '@nestjs/common';
import { hostname } from 'node:os';
import {
  type BulkActionRequest,
  type BulkDryRunView,
  type BulkJobView,
  type SagaTransport,
  type SagaView,
  type StartLater,
  createSagaApiError,
} from '@saga-engine/client';
import { plainToInstance } from 'class-transformer';
import { type ValidationError, validate } from 'class-validator';
import { BulkActionDto } from '../api/bulk/bulk-action.dto';
import { BulkActions, bulkJobView } from '../api/bulk/bulk-actions';
import { reasonProblem } from '../api/sagas/operator-action.dto';
import { ApiError } from '../api/http/api-error';
import { VersionUnavailableError } from '../scheduler/saga-registry';
import { OperatorActions, skipOutputProblem } from '../api/sagas/operator-actions';
import { SagaOperations, parseStartDelay } from '../api/sagas/saga-operations';
import { AuditAction } from '../store/saga-audit';

/**
 * The transport of the `SagaClient` that `SagaModule` provides: the same operations as the REST API, run in this
 * process (no HTTP, no key), with the same validation, answers and errors (bulk actions included). Operator actions
 * are audited as done by this process, with the admin role (`in-process <host>:<pid>`): the app's code decides who
 * may call them.
 */
@Injectable()
export class LocalSagaTransport implements SagaTransport {
  private readonly principal = { name: `in-process ${hostname()}:${process.pid}`, role: 'admin' as const };

  constructor(
    private readonly operations: SagaOperations,
    private readonly actions: OperatorActions,
    private readonly bulkActions: BulkActions,
  ) {}

  start(type: string, input: Record<string, unknown>, idempotencyKey: string | null, later?: StartLater) {
    return translate(async () => {
      // The same checks as the REST API's (a 400 naming the field), then the same start.
      const delay = later ? parseStartDelay(later) : undefined;
      if (later?.version !== undefined && !(Number.isInteger(later.version) && later.version >= 1)) {
        throw new ApiError(400, 'INPUT_INVALID', 'version must be a positive integer');
      }
      const started = await this.operations.start(type, input, idempotencyKey, delay, later?.version);
      return { saga: (await this.operations.started(started)) as unknown as SagaView, created: started.created };
    });
  }

  get(id: string) {
    return translate(async () => {
      try {
        return await this.view(id);
      } catch (error) {
        if (error instanceof ApiError && error.code === 'SAGA_NOT_FOUND') return null;
        throw error;
      }
    });
  }

  signal(id: string, name: string, payload: Record<string, unknown> | undefined) {
    return translate(() => this.actions.signal(id, name, payload === undefined ? {} : { payload }, this.principal));
  }

  cancel(id: string, reason: string) {
    return this.act(AuditAction.CANCEL, id, null, reason);
  }

  retry(id: string, reason: string) {
    return this.act(AuditAction.RETRY, id, null, reason);
  }

  resolve(id: string, step: string, reason: string) {
    return this.act(AuditAction.RESOLVE_COMPENSATION, id, step, reason);
  }

  /** A bulk action, checked as the REST API checks its body (the same messages), as this process (admin). */
  bulk(request: BulkActionRequest): Promise<BulkDryRunView | BulkJobView> {
    return translate(async () => {
      const body = plainToInstance(BulkActionDto, request);
      const errors = await validate(body, { whitelist: true, forbidNonWhitelisted: true, forbidUnknownValues: true });
      if (errors.length > 0) throw new ApiError(400, 'INPUT_INVALID', messagesOf(errors).join('; '));
      const result = await this.bulkActions.request(body, this.principal);
      if (result.dryRun) return { dryRun: true as const, matched: result.matched, sample: result.sample };
      return bulkJobView(result.job);
    });
  }

  bulkJob(id: string) {
    return translate(async () => {
      try {
        return bulkJobView(await this.bulkActions.get(id, this.principal));
      } catch (error) {
        if (error instanceof ApiError && error.code === 'BULK_JOB_NOT_FOUND') return null;
        throw error;
      }
    });
  }

  bulkJobs(limit = 50) {
    return translate(async () => {
      const jobs = await this.bulkActions.list(Math.min(Math.max(Math.trunc(limit), 1), 200), this.principal);
      return jobs.map((job) => bulkJobView(job) as BulkJobView);
    });
  }

  stopBulkJob(id: string, reason: string) {
    return translate(async () => {
      const trimmed = reason.trim();
      const problem = reasonProblem(trimmed);
      if (problem !== null) throw new ApiError(400, 'INPUT_INVALID', `reason ${problem}`);
      return bulkJobView(await this.bulkActions.stop(id, trimmed, this.principal));
    });
  }

  retryFrom(id: string, step: string, reason: string) {
    return this.act(AuditAction.RETRY_FROM_STEP, id, step, reason);
  }

  skip(id: string, step: string, output: unknown, reason: string) {
    return this.act(AuditAction.SKIP_STEP, id, step, reason, { output });
  }

  private act(action: AuditAction, sagaId: string, step: string | null, reason: string, body?: { output: unknown }) {
    return translate(async () => {
      const trimmed = reason.trim();
      if (trimmed.length < 1 || trimmed.length > 500) {
        throw new ApiError(400, 'INPUT_INVALID', 'reason must be 1 to 500 characters');
      }
      const problem = body === undefined ? null : skipOutputProblem(body);
      if (problem !== null) throw new ApiError(400, 'INPUT_INVALID', problem);
      await this.actions.perform({
        action,
        sagaId,
        step,
        reason: trimmed,
        principal: this.principal,
        ...(body === undefined ? {} : { output: body.output }),
      });
      return this.view(sagaId);
    });
  }

  private async view(id: string): Promise<SagaView> {
    return (await this.operations.view(id)) as unknown as SagaView;
  }
}

/** The messages of class-validator's errors, nested ones included (`filter.status must be one of ...`). */
function messagesOf(errors: ValidationError[]): string[] {
  return errors.flatMap((e) => [...Object.values(e.constraints ?? {}), ...messagesOf(e.children ?? [])]);
}

/** The API's errors as the client's (the same status and code), so callers handle both transports alike. */
async function translate<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (error instanceof ApiError) throw createSagaApiError(error.getStatus(), error.code, error.message);
    if (error instanceof VersionUnavailableError) throw createSagaApiError(409, error.code, error.message);
    if (error instanceof HttpException) throw createSagaApiError(error.getStatus(), 'INPUT_INVALID', error.message);
    throw createSagaApiError(0, 'UNAVAILABLE', (error as Error).message ?? String(error), { cause: error });
  }
}
