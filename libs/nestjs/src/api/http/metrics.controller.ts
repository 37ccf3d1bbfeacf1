import { SagaApiController } from './saga-api-controller';
import { Get, Header, Res } from '@nestjs/common';
import type { Response } from 'express';
import { EngineMetrics } from '../../observability/engine-metrics';
import { RequireRole } from './auth';
import { WithoutDatabase } from './unavailable.interceptor';
import { ApiErrors } from './openapi';

/**
 * Prometheus metrics, for any key (viewer is enough): only `/health` is open. The content is aggregate counts by
 * saga type, step, status and error code, but those names still map the system, and exposed scrape endpoints get
 * found. Prometheus sends the key with `authorization: { credentials: <key> }` in its scrape config.
 */
@SagaApiController('metrics')
export class MetricsController {
  constructor(private readonly metrics: EngineMetrics) {}

  @Get()
  @RequireRole('viewer')
  @WithoutDatabase()
  @ApiErrors()
  @Header('Cache-Control', 'no-store')
  async scrape(@Res() res: Response): Promise<void> {
    const body = await this.metrics.render();
    res.type(this.metrics.contentType).send(body);
  }
}
