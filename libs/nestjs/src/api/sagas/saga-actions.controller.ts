import { SagaApiController } from '../http/saga-api-controller';
import { Body, HttpCode, Param, Post } from '@nestjs/common';
import { AuditAction } from '../../store/saga-audit';
import { ApiBody, ApiResponse } from '@nestjs/swagger';
import { ApiError } from '../http/api-error';
import { ApiErrors, SAGA_SCHEMA } from '../http/openapi';
import { AuditAs, CurrentPrincipal, type Principal, RequireRole, ScopedBy } from '../http/auth';
import { OperatorActionDto, SkipStepDto } from './operator-action.dto';
import { OperatorActions, skipOutputProblem } from './operator-actions';
import { TYPE_PATTERN } from './saga.dto';
import { uuidPipe } from './sagas.controller';
import { SagaOperations } from './saga-operations';

/**
 * Operator actions on one saga. Each needs a `reason`, is audited (accepted or refused, and refused by role), and
 * shows in the saga's events with who and why. 202: the engine has recorded the decision; the saga gets there
 * asynchronously (a cancel waits for a step in flight, then compensates).
 */
@SagaApiController('v1/sagas')
@ScopedBy('saga')
export class SagaActionsController {
  constructor(
    private readonly actions: OperatorActions,
    private readonly operations: SagaOperations,
  ) {}

  /** Stops a RUNNING saga (before its pivot) and compensates what completed; it ends CANCELLED. */
  @Post(':id/cancel')
  @HttpCode(202)
  @RequireRole('operator')
  @AuditAs(AuditAction.CANCEL)
  @ApiResponse({ status: 202, description: 'Accepted: the saga as it is now', schema: SAGA_SCHEMA })
  @ApiErrors([404, 'No such saga'], [409, 'Not allowed in the current status'])
  async cancel(
    @Param('id', uuidPipe) id: string,
    @Body() body: OperatorActionDto,
    @CurrentPrincipal() principal: Principal,
  ) {
    await this.actions.perform({ action: AuditAction.CANCEL, sagaId: id, step: null, reason: body.reason, principal });
    return this.view(id);
  }

  /** Resumes a FAILED saga where it stopped: failed compensations (or a failed step past the pivot) run again. */
  @Post(':id/retry')
  @HttpCode(202)
  @RequireRole('operator')
  @AuditAs(AuditAction.RETRY)
  @ApiResponse({ status: 202, description: 'Accepted: the saga as it is now', schema: SAGA_SCHEMA })
  @ApiErrors([404, 'No such saga'], [409, 'Not allowed in the current status'])
  async retry(
    @Param('id', uuidPipe) id: string,
    @Body() body: OperatorActionDto,
    @CurrentPrincipal() principal: Principal,
  ) {
    await this.actions.perform({ action: AuditAction.RETRY, sagaId: id, step: null, reason: body.reason, principal });
    return this.view(id);
  }

  /**
   * Declares a FAILED compensation done by hand; the saga goes on (and may end COMPENSATED or CANCELLED).
   *
   * Admin only, unlike cancel and retry: those make the engine run real, keyed compensations, whereas this
   * asserts a fact about the outside world that the engine cannot check, and if it is wrong an effect stays in
   * place while the saga reads as undone. (research/reliability.md §3.2: "mark resolved" is an admin permission.)
   */
  @Post(':id/steps/:step/resolve')
  @HttpCode(202)
  @RequireRole('admin')
  @AuditAs(AuditAction.RESOLVE_COMPENSATION)
  @ApiResponse({ status: 202, description: 'Accepted: the saga as it is now', schema: SAGA_SCHEMA })
  @ApiErrors([404, 'No such saga'], [409, 'Not allowed in the current status'])
  async resolve(
    @Param('id', uuidPipe) id: string,
    @Param('step') step: string,
    @Body() body: OperatorActionDto,
    @CurrentPrincipal() principal: Principal,
  ) {
    checkStepName(step);
    await this.actions.perform({
      action: AuditAction.RESOLVE_COMPENSATION,
      sagaId: id,
      step,
      reason: body.reason,
      principal,
    });
    return this.view(id);
  }

  /**
   * Re-runs the saga from step `step` (Temporal's "reset"): the step and every later one go back to PENDING and run
   * again, each with a new idempotency key (`<sagaId>:<step>:rerun-<n>`); the saga is RUNNING. For a FAILED saga
   * (a step failed past its pivot) and a COMPLETED one; `step` must have SUCCEEDED, been SKIPPED or FAILED, come
   * after the pivot once the pivot SUCCEEDED, and every step before it must be settled. Earlier runs' effects are
   * not undone. Operator, like retry: the engine runs real, keyed steps.
   */
  @Post(':id/steps/:step/retry')
  @HttpCode(202)
  @RequireRole('operator')
  @AuditAs(AuditAction.RETRY_FROM_STEP)
  @ApiResponse({ status: 202, description: 'Accepted: the saga as it is now', schema: SAGA_SCHEMA })
  @ApiErrors(
    [404, 'No such saga, or no such step'],
    [409, 'Not allowed in the current status (INVALID_STATE), or no live agent runs its version (VERSION_UNAVAILABLE)'],
  )
  async retryFromStep(
    @Param('id', uuidPipe) id: string,
    @Param('step') step: string,
    @Body() body: OperatorActionDto,
    @CurrentPrincipal() principal: Principal,
  ) {
    checkStepName(step);
    await this.actions.perform({
      action: AuditAction.RETRY_FROM_STEP,
      sagaId: id,
      step,
      reason: body.reason,
      principal,
    });
    return this.view(id);
  }

  /**
   * Skips a forward step: one that FAILED past the pivot (saga FAILED), waits for its next attempt (RETRYING) or
   * has not run (PENDING). It SUCCEEDED with `output`, which later steps read as its output; it is marked
   * `skipped` and never compensated. A FAILED saga with no other failed step goes on.
   *
   * Admin only, like resolve: the operator asserts the step's outcome in the outside world, which the engine cannot
   * check. (Skipping a compensation is resolve.)
   */
  @Post(':id/steps/:step/skip')
  @HttpCode(202)
  @RequireRole('admin')
  @AuditAs(AuditAction.SKIP_STEP)
  @ApiResponse({ status: 202, description: 'Accepted: the saga as it is now', schema: SAGA_SCHEMA })
  @ApiErrors(
    [400, 'No output, or one that cannot be stored'],
    [404, 'No such saga, or no such step'],
    [409, 'Not allowed in the current status (INVALID_STATE), or no live agent runs its version (VERSION_UNAVAILABLE)'],
  )
  async skip(
    @Param('id', uuidPipe) id: string,
    @Param('step') step: string,
    @Body() body: SkipStepDto,
    @CurrentPrincipal() principal: Principal,
  ) {
    checkStepName(step);
    const problem = skipOutputProblem(body);
    if (problem !== null) throw new ApiError(400, 'INPUT_INVALID', problem);
    await this.actions.perform({
      action: AuditAction.SKIP_STEP,
      sagaId: id,
      step,
      output: body.output,
      reason: body.reason,
      principal,
    });
    return this.view(id);
  }

  /**
   * Delivers an external event to the saga: every step WAITING for signal `name` completes, with `payload` (a JSON
   * object, at most 64 KiB and 32 levels deep; `{}` when absent) as its output. A signal that comes before the step
   * waiting for it started is buffered with the saga (durably) and completes that step as soon as it starts. 409
   * `NOT_WAITING` when no step waits for it now nor will (too late, already delivered or buffered, the saga is
   * compensating or finished, or no such signal).
   * Recorded in the saga's history (`SignalReceived`, with who sent it) and in the operator audit log (action
   * `signal`, accepted or refused).
   */
  @Post(':id/signals/:name')
  @HttpCode(202)
  @RequireRole('operator')
  @AuditAs(AuditAction.SIGNAL)
  @ApiBody({
    required: false,
    schema: {
      type: 'object',
      properties: {
        payload: { type: 'object', description: "The waiting step's output", example: { by: 'warehouse' } },
      },
    },
  })
  @ApiResponse({ status: 202, description: 'Delivered: the saga as it is now', schema: SAGA_SCHEMA })
  @ApiErrors([404, 'No such saga'], [409, 'No step waits for this signal now nor will (NOT_WAITING)'])
  async signal(
    @Param('id', uuidPipe) id: string,
    @Param('name') name: string,
    @Body() body: unknown,
    @CurrentPrincipal() principal: Principal,
  ) {
    await this.actions.signal(id, name, body, principal);
    return this.view(id);
  }

  private view(id: string) {
    return this.operations.view(id);
  }
}

function checkStepName(step: string): void {
  if (step.length > 64 || !TYPE_PATTERN.test(step)) {
    throw new ApiError(400, 'INPUT_INVALID', 'step must be a kebab-case step name');
  }
}
