import { Body, Controller, Get, HttpCode, Param, Post } from '@nestjs/common';
import { SagaClient } from '@saga-engine/client';
import { OrderInput } from './order.input';
import { PARCEL_PICKED_UP, orderSaga } from './order.saga';

/** The service's own API: an order is a saga, started and followed with the typed client. */
@Controller('orders')
export class OrdersController {
  constructor(private readonly sagas: SagaClient) {}

  /** Places an order; the order id is the idempotency key, so a retried request never places it twice. */
  @Post()
  async place(@Body() order: OrderInput) {
    const saga = await this.sagas.start(orderSaga, order, { key: `order-${order.orderId}` });
    return { sagaId: saga.id, status: saga.status, created: saga.created };
  }

  @Get(':sagaId')
  async get(@Param('sagaId') sagaId: string) {
    const saga = await this.sagas.get(orderSaga, sagaId);
    return {
      sagaId: saga.id,
      status: saga.status,
      tracking: saga.output?.ship?.trackingNumber ?? null,
      error: saga.error,
    };
  }

  /** The warehouse reports the pickup. */
  @Post(':sagaId/picked-up')
  @HttpCode(202)
  async pickedUp(@Param('sagaId') sagaId: string) {
    await this.sagas.signal(sagaId, PARCEL_PICKED_UP, { by: 'warehouse' });
  }
}
