import { type MiddlewareConsumer, Module, type NestModule } from '@nestjs/common';
import { json } from 'express';
import { TypeOrmModule } from '@nestjs/typeorm';
import { SagaModule } from '@saga-engine/nestjs';
import { ORDER_ENTITIES } from './order.entities';
import { orderSaga } from './order.saga';
import { OrdersController } from './orders.controller';
import { InventoryService, PaymentsService, ShippingService } from './services';

/**
 * The order service: its own tables through TypeORM (`order_*`), and the saga engine in the same app. The
 * engine runs the order saga's steps here (the `agent` role, with the providers below as the steps' deps), serves
 * its REST API and dashboard under /sagas (`api`), and watches deadlines (`supervisor`). Configured from the
 * environment: DATABASE_URL (required), REDIS_URL (optional), SAGA_API_KEYS (for /sagas), SAGA_ROLES (optional).
 *
 * The app is created with `bodyParser: false` (main.ts): the engine's routes check the key before they read a body,
 * and the app's own routes parse JSON here, for themselves only.
 */
@Module({
  imports: [
    TypeOrmModule.forRootAsync({
      useFactory: () => ({
        type: 'postgres',
        url: required('DATABASE_URL'),
        entities: ORDER_ENTITIES,
        // The example's three tables; a real service would use migrations.
        synchronize: true,
      }),
    }),
    TypeOrmModule.forFeature(ORDER_ENTITIES),
    SagaModule.forRootAsync({
      roles: roles(),
      sagas: [orderSaga],
      apiPath: '/sagas',
      isGlobal: true,
      useFactory: () => ({
        databaseUrl: required('DATABASE_URL'),
        ...(process.env.REDIS_URL ? { redisUrl: process.env.REDIS_URL } : {}),
        ...(process.env.SAGA_QUEUE_PREFIX ? { queuePrefix: process.env.SAGA_QUEUE_PREFIX } : {}),
        api: { keys: process.env.SAGA_API_KEYS ?? '' },
      }),
    }),
  ],
  controllers: [OrdersController],
  providers: [InventoryService, PaymentsService, ShippingService],
})
export class AppModule implements NestModule {
  configure(consumer: MiddlewareConsumer): void {
    consumer.apply(json({ limit: '100kb' })).forRoutes(OrdersController);
  }
}

function required(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
}

function roles(): ('agent' | 'api' | 'supervisor')[] {
  const list = (process.env.SAGA_ROLES ?? 'agent,api,supervisor').split(',').map((r) => r.trim());
  return list as ('agent' | 'api' | 'supervisor')[];
}
