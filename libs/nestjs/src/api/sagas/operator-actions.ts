import { Injectable } from '@nestjs/common';
import { type SagaEvent, normalizeOutput } from '@saga-engine/core';
import { type ApplyResult, SagaScheduler } from '../../scheduler/saga-scheduler';
import { SagaRegistry, VersionUnavailableError } from '../../scheduler/saga-registry';
import { VersionWatch } from '../../scheduler/version-watch';
import { AuditAction, AuditLog, AuditOutcome, type AuditRecord } from '../../store/saga-audit';
import { validateStepOutput } from '../../scheduler/input-schema';
import { ApiError } from '../http/api-error';
import type { Principal } from '../http/auth';
import { SagaStore } from '../../store/saga-store';
import { SagaOperations } from './saga-operations';

/** The actions that make steps run, and the saga statuses in which they need a live agent of its version. */
const RUNS_STEPS: Partial<Record<AuditAction, readonly string[]>> = {
  [AuditAction.RETRY]: ['FAILED'],
  [AuditAction.RETRY_FROM_STEP]: ['FAILED', 'COMPLETED'],
  [AuditAction.SKIP_STEP]: ['RUNNING', 'FAILED'],
};

export interface OperatorActionRequest {
  action: AuditAction;
  sagaId: string;
  /**
   * The step whose compensation is resolved (`resolve-compensation`), from which the saga is re-run
   * (`retry-from-step`), or which is skipped (`skip-step`); null for the others.
   */
  step: string | null;
  /** The skipped step's output (`skip-step` only), already checked (skipOutputProblem). */
  output?: unknown;
  /** Trimmed, 1..500 characters (validated by the DTO). */
  reason: string;
  principal: Principal;
  /** The bulk job this action is part of: its audit row's `detail` names it (`bulk job <id>`). */
  bulkJobId?: string;
}

/**
 * Cancel, retry and resolve: an operator's word turned into an engine event, audited exactly once. The engine
 * alone decides whether the event is legal now (`transition` ignores it otherwise, with its reason); this only
 * maps its answer to HTTP. An accepted action's audit row commits in the transition's own statement; a refused
 * one is written on its own, since nothing else changes.
 */
@Injectable()
export class OperatorActions {
  constructor(
    private readonly runtime: SagaScheduler,
    private readonly registry: SagaRegistry,
    private readonly audit: AuditLog,
    private readonly versions: VersionWatch,
    private readonly operations: SagaOperations,
    private readonly store: SagaStore,
  ) {}

  /**
   * Delivers a signal (SagaOperations.signal), audited like the other actions: an accepted signal's row commits
   * with its transition; a refused one (404, 409) is written on its own. Bad input (400) is not an action.
   */
  async signal(sagaId: string, name: string, body: unknown, principal: Principal): Promise<void> {
    const record: AuditRecord = {
      actor: principal.name,
      role: principal.role,
      action: AuditAction.SIGNAL,
      sagaId,
      step: null,
      signal: name,
      reason: '',
      outcome: AuditOutcome.ACCEPTED,
      statusCode: 202,
      detail: null,
    };
    try {
      await this.operations.signal(sagaId, name, body, actorLabel(principal), record);
    } catch (error) {
      const status = error instanceof ApiError ? error.getStatus() : 0;
      if (status === 404 || status === 409) {
        await this.audit.record({
          ...record,
          outcome: AuditOutcome.REFUSED,
          statusCode: status,
          detail: (error as ApiError).message,
        });
      }
      throw error;
    }
  }

  /** Applies the action; throws the refusal (404, 409) after auditing it. */
  async perform(request: OperatorActionRequest): Promise<void> {
    const { action, sagaId, step, reason, principal, bulkJobId } = request;
    if (action === AuditAction.SKIP_STEP) await this.checkSkipOutput(request);
    const job = bulkJobId === undefined ? null : `bulk job ${bulkJobId}`;
    const record: AuditRecord = {
      actor: principal.name,
      role: principal.role,
      action,
      sagaId,
      step,
      reason,
      outcome: AuditOutcome.ACCEPTED,
      statusCode: 202,
      detail: job,
    };
    const stranded = RUNS_STEPS[action] ? await this.strandedVersion(sagaId, RUNS_STEPS[action]) : null;
    const early = stranded ?? (await this.childRefusal(request));
    const result = early ? null : await this.runtime.apply(sagaId, this.event(request), undefined, { audit: record });
    if (result?.applied) return;
    const refusal = early ?? (await this.refusal(request, result!));
    await this.audit.record({
      ...record,
      outcome: AuditOutcome.REFUSED,
      statusCode: refusal.getStatus(),
      detail: job === null ? refusal.message : `${job}: ${refusal.message}`,
    });
    throw refusal;
  }

  /**
   * A skip's output must fit the step's declared output type (its `output` class when this process has the code,
   * else the JSON Schema its agents published): a 400 `INPUT_INVALID` naming the fields otherwise, before anything
   * is written (bad input is not an action, so it is not audited). An unknown saga, step or version is left to
   * the action's own answers (404, 409); a step without a declared type takes any storable output.
   */
  private async checkSkipOutput({ sagaId, step, output }: OperatorActionRequest): Promise<void> {
    if (step === null) return;
    const snapshot = await this.store.load(sagaId, { items: false });
    if (!snapshot) return;
    let spec;
    try {
      spec = (await this.registry.version(snapshot.type, snapshot.definitionVersion)).spec;
    } catch (error) {
      if (error instanceof VersionUnavailableError) return;
      throw error;
    }
    if (!Object.hasOwn(spec.stepsByName, step)) return;
    const problems = await validateStepOutput(spec.stepsByName[step], normalizeOutput(output));
    if (problems.length > 0) throw new ApiError(400, 'INPUT_INVALID', problems.join('; '));
  }

  /**
   * A retry (from where the saga stopped, or from a step) and a skip run steps: refused (409) while no live agent
   * runs the saga's version, rather than accepted and left waiting where nobody sees it. Cancel and resolve are
   * accepted: they record the operator's decision, and the undos run when the version's code is back.
   */
  private async strandedVersion(sagaId: string, statuses: readonly string[]): Promise<ApiError | null> {
    try {
      await this.versions.assertRunnable(sagaId, statuses);
      return null;
    } catch (error) {
      if (error instanceof VersionUnavailableError) return new ApiError(409, error.code, error.message);
      throw error;
    }
  }

  /**
   * A COMPLETED child saga is not re-run from a step: its parent already took its output as its step's, and would
   * never see the re-run's. (Its parent's own operator actions decide.)
   */
  private async childRefusal(request: OperatorActionRequest): Promise<ApiError | null> {
    if (request.action !== AuditAction.RETRY_FROM_STEP) return null;
    const snapshot = await this.store.load(request.sagaId, { items: false });
    if (snapshot?.parent && snapshot.state.status === 'COMPLETED') {
      return new ApiError(
        409,
        'INVALID_STATE',
        `saga ${snapshot.id} is a COMPLETED child of saga ${snapshot.parent.id} (step "${snapshot.parent.step}"): ` +
          'its parent already has its output, re-run the parent instead',
      );
    }
    return null;
  }

  private event({ action, step, reason, principal, output }: OperatorActionRequest): SagaEvent {
    const by = actorLabel(principal);
    switch (action) {
      case AuditAction.CANCEL:
        return { type: 'CancelRequested', by, reason };
      case AuditAction.RETRY:
        return { type: 'RetryRequested', by, reason };
      case AuditAction.RESOLVE_COMPENSATION:
        if (step === null) throw new Error('resolve-compensation needs a step');
        return { type: 'CompensationResolved', step, by, reason };
      case AuditAction.RETRY_FROM_STEP:
        if (step === null) throw new Error('retry-from-step needs a step');
        return { type: 'RetryFromStepRequested', step, by, reason };
      case AuditAction.SKIP_STEP:
        if (step === null) throw new Error('skip-step needs a step');
        return { type: 'SkipRequested', step, output: normalizeOutput(output), by, reason };
      case AuditAction.SIGNAL:
        throw new Error('a signal is delivered by signal(), not perform()');
      case AuditAction.BULK_START:
      case AuditAction.BULK_STOP:
        throw new Error('a bulk job is not an action on one saga');
      default: {
        const unknown: never = action;
        throw new Error(`unknown operator action ${String(unknown)}`);
      }
    }
  }

  private async refusal(
    request: OperatorActionRequest,
    result: Extract<ApplyResult, { applied: false }>,
  ): Promise<ApiError> {
    const { snapshot } = result;
    if (snapshot === null) return new ApiError(404, 'SAGA_NOT_FOUND', `saga ${request.sagaId} not found`);
    if (request.step !== null) {
      const definition = await this.registry.spec(snapshot.type, snapshot.definitionVersion);
      if (!Object.hasOwn(definition.stepsByName, request.step)) {
        return new ApiError(
          404,
          'STEP_NOT_FOUND',
          `saga ${snapshot.id} (${snapshot.type} v${snapshot.definitionVersion}) has no step "${request.step}"`,
        );
      }
    }
    // The engine's own words: "saga is COMPLETED", "past the pivot step ...", "compensation of step ... is ...".
    return new ApiError(409, 'INVALID_STATE', result.reason);
  }
}

/**
 * Who acted, as the saga's history records it (`by`): the key's non-secret id and its role, never the key.
 * The audit row keeps the two apart (`actor`, `role`).
 */
export function actorLabel(principal: Principal): string {
  return `key ${principal.name} (${principal.role})`;
}

/**
 * What is wrong with the output of a skip, or null: it must be present (any JSON value, `null` for none) and
 * storable as a step's output (the same checks as an agent's, see normalizeOutput). Its fit to the step's declared
 * output type, if any, needs the saga's definition: OperatorActions checks it (checkSkipOutput).
 */
export function skipOutputProblem(body: { output?: unknown }): string | null {
  if (!Object.hasOwn(body, 'output') || body.output === undefined) {
    return 'output is required: the JSON value the skipped step is to have as its output (null for none)';
  }
  try {
    normalizeOutput(body.output);
    return null;
  } catch (error) {
    return `output: ${(error as Error).message.replace(/^step output /, '')}`;
  }
}
