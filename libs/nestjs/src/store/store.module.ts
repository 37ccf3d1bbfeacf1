import { type DynamicModule, Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { dataSourceOptions } from './data-source-options';
import { ensureDatabase } from './ensure-database';
import { AlertOutbox } from './saga-alerts';
import { AuditLog } from './saga-audit';
import { SagaQueries } from './saga-queries';
import { SagaStore } from './saga-store';
import { SupervisorStore } from './supervisor-store';

export interface StoreOptions {
  databaseUrl: string;
  poolSize: number;
}

@Module({})
export class StoreModule {
  static forRoot(options: StoreOptions): DynamicModule {
    return {
      module: StoreModule,
      global: true,
      imports: [
        TypeOrmModule.forRootAsync({
          useFactory: async () => {
            await ensureDatabase(options.databaseUrl);
            return { ...dataSourceOptions(options.databaseUrl, options.poolSize), retryAttempts: 3, retryDelay: 1000 };
          },
        }),
      ],
      providers: [SagaStore, SagaQueries, AuditLog, AlertOutbox, SupervisorStore],
      exports: [SagaStore, SagaQueries, AuditLog, AlertOutbox, SupervisorStore],
    };
  }
}
