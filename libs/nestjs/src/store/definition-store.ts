import { Inject, Injectable } from '@nestjs/common';
import type { DataSource } from 'typeorm';
import type { SagaSpecJson } from '@saga-engine/core';
import { SAGA_DATA_SOURCE } from './data-source';

/** A saga type and version as published in `saga_definition`. */
export interface PublishedDefinition {
  type: string;
  version: number;
  spec: SagaSpecJson;
  /** JSON Schema of the input (from the input class), or null: any JSON object. */
  inputSchema: Record<string, unknown> | null;
  fingerprint: string;
  publishedAt: Date;
  publishedBy: string;
}

/** A version's shape changed (steps, stages, policies) while instances still run on it. */
export class DefinitionConflictError extends Error {
  override readonly name = 'DefinitionConflictError' as const;
}

/** Statuses in which an instance still needs its definition (FAILED: an operator may retry it). */
const ACTIVE = `('RUNNING', 'COMPENSATING', 'FAILED', 'DELAYED')`;

/** The saga types as data, published by the processes that have their code (see SagaRegistry). */
@Injectable()
export class DefinitionStore {
  constructor(@Inject(SAGA_DATA_SOURCE) private readonly db: DataSource) {}

  /**
   * Publishes one version. The same fingerprint: only the input schema and the publisher are refreshed. Another
   * fingerprint (the author changed the steps without a new `version`): replaced when no instance is active on
   * that version, refused with DefinitionConflictError otherwise, since those instances would continue on a
   * shape they did not start with. Serialized per (type, version) by the row lock.
   */
  async publish(row: Omit<PublishedDefinition, 'publishedAt'>): Promise<'created' | 'unchanged' | 'replaced'> {
    return this.db.transaction(async (tx) => {
      const inserted: unknown[] = await tx.query(
        `INSERT INTO saga_definition (type, version, spec, input_schema, fingerprint, published_by)
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (type, version) DO NOTHING RETURNING type`,
        [row.type, row.version, JSON.stringify(row.spec), json(row.inputSchema), row.fingerprint, row.publishedBy],
      );
      if (inserted.length > 0) return 'created';
      const [current]: { fingerprint: string; published_by: string }[] = await tx.query(
        `SELECT fingerprint, published_by FROM saga_definition WHERE type = $1 AND version = $2 FOR UPDATE`,
        [row.type, row.version],
      );
      if (current.fingerprint !== row.fingerprint) {
        const active: { n: number }[] = await tx.query(
          `SELECT count(*)::int AS n FROM saga_instance
            WHERE type = $1 AND definition_version = $2 AND status IN ${ACTIVE}`,
          [row.type, row.version],
        );
        if (active[0].n > 0) {
          throw new DefinitionConflictError(
            `saga "${row.type}" version ${row.version} changed shape (steps, stages or policies) since ` +
              `${current.published_by} published it, and ${active[0].n} instance(s) still run on it: give the ` +
              `changed definition a new version (keep the old one registered until its instances finish)`,
          );
        }
      }
      await tx.query(
        `UPDATE saga_definition SET spec = $3, input_schema = $4, fingerprint = $5, published_by = $6,
                published_at = now()
          WHERE type = $1 AND version = $2`,
        [row.type, row.version, JSON.stringify(row.spec), json(row.inputSchema), row.fingerprint, row.publishedBy],
      );
      return current.fingerprint === row.fingerprint ? 'unchanged' : 'replaced';
    });
  }

  async find(type: string, version: number): Promise<PublishedDefinition | null> {
    const rows: Row[] = await this.db.query(`SELECT * FROM saga_definition WHERE type = $1 AND version = $2`, [
      type,
      version,
    ]);
    return rows[0] ? fromRow(rows[0]) : null;
  }

  /** Every published version, oldest first within a type. */
  async list(): Promise<PublishedDefinition[]> {
    const rows: Row[] = await this.db.query(`SELECT * FROM saga_definition ORDER BY type, version`);
    return rows.map(fromRow);
  }
}

interface Row {
  type: string;
  version: number;
  spec: SagaSpecJson;
  input_schema: Record<string, unknown> | null;
  fingerprint: string;
  published_at: Date;
  published_by: string;
}

function fromRow(row: Row): PublishedDefinition {
  return {
    type: row.type,
    version: row.version,
    spec: row.spec,
    inputSchema: row.input_schema,
    fingerprint: row.fingerprint,
    publishedAt: row.published_at,
    publishedBy: row.published_by,
  };
}

function json(value: unknown): string | null {
  return value === null || value === undefined ? null : JSON.stringify(value);
}
