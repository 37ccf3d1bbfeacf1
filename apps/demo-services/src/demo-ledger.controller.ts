import { BadRequestException, Controller, Get, Inject, Query } from '@nestjs/common';
import { DemoLedger } from './demo-ledger';

/**
 * API.md: `GET /v1/demo/ledger?sagaId=`: what the demo participants applied, so a test can prove effects. Served
 * by the demo services on DEMO_PORT, without a key: demo data, bound to 127.0.0.1 unless HOST says otherwise.
 */
@Controller('v1/demo')
export class DemoLedgerController {
  constructor(@Inject(DemoLedger) private readonly ledger: DemoLedger) {}

  @Get('ledger')
  list(@Query('sagaId') sagaId: unknown) {
    if (sagaId !== undefined && (typeof sagaId !== 'string' || sagaId.length > 100)) {
      throw new BadRequestException({
        code: 'INPUT_INVALID',
        message: 'sagaId must be a string of at most 100 characters',
      });
    }
    return this.ledger.list(sagaId);
  }
}
