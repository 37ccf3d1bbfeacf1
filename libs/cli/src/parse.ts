import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { SagaStatus, parseDuration } from '@saga-engine/core';
import { UsageError } from './errors';
import type { CliIo } from './io';

/*
 * Flag values, checked before anything is sent: a bad one is a UsageError (exit 2) naming the flag. Messages never
 * quote a JSON value (an input may hold a secret), only where it went wrong.
 */

const STATUSES = Object.values(SagaStatus);

/** Any JSON value from a flag's text (`--output`): `what` names what it must be in the message. */
export function jsonValue(text: string, flag: string, what = 'a JSON value'): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    const position = /position (\d+)/.exec((err as Error).message)?.[1];
    const where = position === undefined ? '' : ` (at character ${Number(position) + 1})`;
    throw new UsageError(`${flag} must be ${what}: it is not valid JSON${where}`);
  }
}

/** A JSON object from a flag's text (`--input`, `--payload`). */
export function jsonObject(text: string, flag: string): Record<string, unknown> {
  const value = jsonValue(text, flag, 'a JSON object');
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    const got = value === null ? 'null' : Array.isArray(value) ? 'an array' : `a ${typeof value}`;
    throw new UsageError(`${flag} must be a JSON object (got ${got})`);
  }
  return value as Record<string, unknown>;
}

/**
 * The JSON object of `--x <json>` or `--x-file <path>` (either may be `-`: stdin), or `fallback` when neither is
 * given.
 */
export async function jsonObjectFrom(
  io: CliIo,
  flag: string,
  inline: string | undefined,
  file: string | undefined,
  fallback: Record<string, unknown> | undefined,
): Promise<Record<string, unknown> | undefined> {
  if (inline !== undefined && file !== undefined) throw new UsageError(`${flag} and ${flag}-file: pass one of them`);
  if (inline === '-' || file === '-') return jsonObject(await io.readStdin(), `${flag} (stdin)`);
  if (inline !== undefined) return jsonObject(inline, flag);
  if (file !== undefined) {
    let text: string;
    try {
      text = await readFile(resolve(io.cwd, file), 'utf8');
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      throw new UsageError(`${flag}-file: cannot read ${file} (${typeof code === 'string' ? code : 'error'})`);
    }
    return jsonObject(text, `${flag}-file ${file}`);
  }
  return fallback;
}

/**
 * Any JSON value of `--x <json>` or `--x-file <path>` (either may be `-`: stdin); a UsageError naming the flag when
 * neither is given.
 */
export async function jsonValueFrom(
  io: CliIo,
  flag: string,
  inline: string | undefined,
  file: string | undefined,
): Promise<unknown> {
  if (inline !== undefined && file !== undefined) throw new UsageError(`${flag} and ${flag}-file: pass one of them`);
  if (inline === '-' || file === '-') return jsonValue(await io.readStdin(), `${flag} (stdin)`);
  if (inline !== undefined) return jsonValue(inline, flag);
  if (file !== undefined) {
    let text: string;
    try {
      text = await readFile(resolve(io.cwd, file), 'utf8');
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      throw new UsageError(`${flag}-file: cannot read ${file} (${typeof code === 'string' ? code : 'error'})`);
    }
    return jsonValue(text, `${flag}-file ${file}`);
  }
  throw new UsageError(`${flag} is required: the JSON value the step is to have as its output (null for none)`);
}

/** A duration with a unit (`30s`, `5m`, `500ms`): a bare number is refused, since seconds and ms both make sense. */
export function duration(text: string, flag: string, options: { min: number }): number {
  const example = `such as 30s, 5m or 500ms`;
  if (/^\d+(\.\d+)?$/.test(text)) throw new UsageError(`${flag} needs a unit: a duration ${example} (got ${text})`);
  let ms: number;
  try {
    ms = parseDuration(text, flag);
  } catch {
    throw new UsageError(`${flag} must be a duration ${example}`);
  }
  if (ms < options.min) throw new UsageError(`${flag} must be at least ${options.min} ms`);
  return ms;
}

/** An integer in [min, max]. */
export function integer(text: string, flag: string, min: number, max: number): number {
  const value = /^\d+$/.test(text) ? Number(text) : NaN;
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new UsageError(`${flag} must be an integer between ${min} and ${max}`);
  }
  return value;
}

/** An instant as the API wants it (ISO-8601, UTC), from any ISO-8601 date or date-time. */
export function instant(text: string, flag: string): string {
  const ms = /^\d{4}-\d{2}-\d{2}([T ][\d:.]+(Z|[+-]\d{2}:?\d{2})?)?$/i.test(text) ? Date.parse(text) : NaN;
  if (Number.isNaN(ms)) {
    throw new UsageError(`${flag} must be an ISO-8601 date or date-time, such as 2026-12-01 or 2026-12-01T08:00:00Z`);
  }
  return new Date(ms).toISOString();
}

type Bounds = { gt?: string; gte?: string; lt?: string; lte?: string };

/**
 * Search attribute conditions, from repeated `name=value`, `name>value`, `name>=value`, `name<value`,
 * `name<=value`: equality, or the bounds of a range (several on one name combine). The engine checks the names
 * and the values against the type's declarations (a 400 naming `attr.<name>`).
 */
export function attributeConditions(values: readonly string[], flag: string): Record<string, string | Bounds> {
  const out: Record<string, string | Bounds> = {};
  for (const value of values) {
    const match = /^([A-Za-z_][A-Za-z0-9_]*)(>=|<=|=|>|<)(.*)$/s.exec(value);
    if (!match || match[3] === '') {
      throw new UsageError(
        `${flag} must be name=value, or name>value, name>=value, name<value, name<=value (got ${JSON.stringify(value)})`,
      );
    }
    const [, name, op, operand] = match;
    const current = out[name];
    if (op === '=') {
      if (current !== undefined) throw new UsageError(`${flag} ${name}: give one equality, or bounds, not both`);
      out[name] = operand;
      continue;
    }
    if (typeof current === 'string') throw new UsageError(`${flag} ${name}: give one equality, or bounds, not both`);
    const key = ({ '>': 'gt', '>=': 'gte', '<': 'lt', '<=': 'lte' } as const)[op as '>' | '>=' | '<' | '<='];
    out[name] = { ...current, [key]: operand };
  }
  return out;
}

/** Saga statuses, from repeated or comma-separated values, in any case (`--status failed,running`). */
export function statuses(values: readonly string[], flag: string): SagaStatus[] {
  const out: SagaStatus[] = [];
  for (const part of values.flatMap((v) => v.split(','))) {
    const status = part.trim().toUpperCase();
    if (status === '') continue;
    if (!STATUSES.includes(status as SagaStatus)) {
      throw new UsageError(`${flag} must be one of ${STATUSES.join(', ')} (got ${JSON.stringify(part.trim())})`);
    }
    if (!out.includes(status as SagaStatus)) out.push(status as SagaStatus);
  }
  if (out.length === 0) throw new UsageError(`${flag} needs a status: one of ${STATUSES.join(', ')}`);
  return out;
}
