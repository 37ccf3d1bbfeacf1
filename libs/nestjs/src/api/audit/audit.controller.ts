import { SagaApiController } from '../http/saga-api-controller';
import { Get, Query } from '@nestjs/common';
import { type AuditEntry, AuditLog, type AuditVerification } from '../../store/saga-audit';
import { ApiResponse } from '@nestjs/swagger';
import { RequireRole } from '../http/auth';
import { ApiErrors, AUDIT_PAGE_SCHEMA, AUDIT_VERIFY_SCHEMA } from '../http/openapi';
import { ListAuditQuery } from './audit.dto';

/** The operator audit log, newest first. Admin only (research/reliability.md §3.2: "Read audit log"). */
@SagaApiController('v1/audit')
export class AuditController {
  constructor(private readonly audit: AuditLog) {}

  @Get()
  @RequireRole('admin')
  @ApiResponse({ status: 200, description: 'Operator actions, newest first', schema: AUDIT_PAGE_SCHEMA })
  @ApiErrors([400, 'Invalid sagaId or limit'])
  async list(@Query() query: ListAuditQuery) {
    const items = await this.audit.list({ sagaId: query.sagaId?.toLowerCase(), limit: query.limit ?? 50 });
    return { items: items.map(auditView) };
  }

  /**
   * Checks the audit's hash chain from its first row to its last: `ok: false` names the first row found bad
   * (changed, or after a deleted one) and why. Reads the whole log: run it now and then, not on every page view.
   */
  @Get('verify')
  @RequireRole('admin')
  @ApiResponse({
    status: 200,
    description: 'The chain checked; ok false names the first bad row',
    schema: AUDIT_VERIFY_SCHEMA,
  })
  @ApiErrors()
  async verify(): Promise<AuditVerification> {
    return this.audit.verify();
  }
}

function auditView(e: AuditEntry) {
  return {
    id: e.id,
    at: e.at.toISOString(),
    actor: e.actor,
    role: e.role,
    action: e.action,
    sagaId: e.sagaId,
    step: e.step,
    signal: e.signal,
    reason: e.reason,
    outcome: e.outcome,
    statusCode: e.statusCode,
    detail: e.detail,
    hash: e.hash,
  };
}
