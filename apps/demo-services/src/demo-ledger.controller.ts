import { Controller, Get, Inject, Query } from '@nestjs/common';
import { ApiResponse } from '@nestjs/swagger';
import { IsOptional, IsString, MaxLength } from 'class-validator';
// The orchestrator's guard and roles protect this route while it is served by the orchestrator; the separate
// demo-services process (issue 4) brings its own.
import { RequireRole } from '../../orchestrator/src/http/auth';
import { DemoLedger } from './demo-ledger';

export class LedgerQuery {
  @IsOptional()
  @IsString({ message: 'sagaId must be a string' })
  @MaxLength(100, { message: 'sagaId must be at most 100 characters' })
  sagaId?: string;
}

const LEDGER_SCHEMA = {
  type: 'array',
  items: {
    type: 'object',
    properties: {
      service: { type: 'string', example: 'account' },
      operation: { type: 'string', example: 'charge' },
      sagaId: { type: 'string', format: 'uuid' },
      idempotencyKey: { type: 'string' },
      count: { type: 'integer', example: 1, description: 'times the effect was applied: 2 would be a double effect' },
      requests: { type: 'integer', example: 1, description: 'times it was asked for' },
      at: { type: 'string', format: 'date-time' },
    },
  },
};

/** API.md: `GET /v1/demo/ledger?sagaId=`: what the demo participants applied, so a test can prove effects. */
@Controller('v1/demo')
export class DemoLedgerController {
  constructor(@Inject(DemoLedger) private readonly ledger: DemoLedger) {}

  @Get('ledger')
  @RequireRole('viewer')
  @ApiResponse({ status: 200, description: 'Applied effects, one row per idempotency key', schema: LEDGER_SCHEMA })
  list(@Query() query: LedgerQuery) {
    return this.ledger.list(query.sagaId);
  }
}
