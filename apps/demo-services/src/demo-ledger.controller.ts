import { BadRequestException, Controller, Delete, Get, HttpCode, Inject, Query } from '@nestjs/common';
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

  /**
   * `GET /v1/demo/timing`: the participants' own time per call since the last reset (handler time, of which the
   * wait for a database connection; the most calls at once), for `npm run bench` (docs/performance.md, (g)).
   */
  @Get('timing')
  timing() {
    return this.ledger.timing.summary();
  }

  /** `DELETE /v1/demo/timing`: starts the timing afresh. */
  @Delete('timing')
  @HttpCode(204)
  resetTiming(): void {
    this.ledger.timing.reset();
  }
}
