import { Logger as NestLogger } from '@nestjs/common';
import type { Logger, QueryRunner } from 'typeorm';
import { unavailability } from '../observability/unavailable';

/**
 * TypeORM's log lines through Nest's logger. A query that failed because PostgreSQL is away (refused, terminated,
 * timed out) is not logged here: its caller reports it to the DependencyMonitor, which logs an outage once, not
 * once per query. Other failed queries are logged with their statement, without their parameters (values may be
 * anyone's data).
 */
export class SagaTypeOrmLogger implements Logger {
  private readonly logger = new NestLogger('TypeORM');

  logQuery(): void {
    // Not logged (`logging` holds only errors and migrations).
  }

  logQueryError(error: string | Error, query: string): void {
    if (unavailability(error)) return;
    const message = typeof error === 'string' ? error : error.message;
    this.logger.error(`query failed: ${message} -- ${query.replace(/\s+/g, ' ').slice(0, 500)}`);
  }

  logQuerySlow(time: number, query: string): void {
    this.logger.warn(`slow query (${time} ms): ${query.replace(/\s+/g, ' ').slice(0, 500)}`);
  }

  logSchemaBuild(): void {
    // Not logged (nor was it: `logging` has no 'schema').
  }

  logMigration(message: string): void {
    this.logger.log(message);
  }

  log(level: 'log' | 'info' | 'warn', message: unknown, _queryRunner?: QueryRunner): void {
    if (level !== 'warn') return; // (nor were these: `logging` has no 'info' or 'log')
    // "Postgres pool raised an error": an idle connection that PostgreSQL closed; its next user gets a new one.
    const text = String(message);
    if (unavailability({ message: text.replace(/^.*?error\. (Error: )?/, '') })) return;
    this.logger.warn(text);
  }
}
