import { Controller, Get, Header, Res } from '@nestjs/common';
import type { Response } from 'express';
import { EngineMetrics } from '@app/runtime';
import { Public } from './auth';

/**
 * Prometheus metrics, open like `/health`: scrapers rarely carry a bearer key, and the content is aggregate
 * counts by saga type, step, status and error code, with no saga ids, inputs or outputs. Keep the port off the
 * internet, or put the scrape behind the network's own access control, if even those names are sensitive.
 */
@Controller('metrics')
export class MetricsController {
  constructor(private readonly metrics: EngineMetrics) {}

  @Get()
  @Public()
  @Header('Cache-Control', 'no-store')
  async scrape(@Res() res: Response): Promise<void> {
    const body = await this.metrics.render();
    res.type(this.metrics.contentType).send(body);
  }
}
