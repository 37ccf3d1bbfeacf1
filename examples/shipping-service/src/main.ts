import 'reflect-metadata';
import { Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { SagaModule } from '@saga-engine/nestjs';
import { CarrierService } from './carrier.service';
import { shipmentSaga } from './shipment.saga';

/**
 * The shipping service: a worker only. It runs the shipment saga's steps (the `agent` role) and nothing else; a
 * central engine (or any other service with the `api` role) starts and shows its sagas from the definition this
 * process publishes. DATABASE_URL and REDIS_URL as the other services'.
 */
@Module({
  imports: [
    SagaModule.forRoot({
      databaseUrl: process.env.DATABASE_URL ?? '',
      ...(process.env.REDIS_URL ? { redisUrl: process.env.REDIS_URL } : {}),
      ...(process.env.SAGA_QUEUE_PREFIX ? { queuePrefix: process.env.SAGA_QUEUE_PREFIX } : {}),
      roles: ['agent'],
      sagas: [shipmentSaga],
    }),
  ],
  providers: [CarrierService],
})
class ShippingModule {}

async function bootstrap(): Promise<void> {
  const app = await NestFactory.createApplicationContext(ShippingModule);
  app.enableShutdownHooks();
  console.log('shipping service ready: runs the shipment saga');
}

void bootstrap();
