import { Injectable } from '@nestjs/common';
import { validateSagaInput } from '../../scheduler/input-schema';
import { VersionWatch } from '../../scheduler/version-watch';
import { type KnownVersion, SagaRegistry, VersionUnavailableError } from '../../scheduler/saga-registry';
import { SagaScheduler, type StartDelay } from '../../scheduler/saga-scheduler';
import { type SagaSpec, attributesFromInput, businessKeyOf, parseDuration } from '@saga-engine/core';
import { scrubSecrets, secretsAt } from '../../security/input-cipher';
import type { AuditRecord } from '../../store/saga-audit';
import type { WrittenSaga } from '../../store/saga-store';
import { SagaQueries } from '../../store/saga-queries';
import { ApiError } from '../http/api-error';
import { SIGNAL_NAME_PATTERN, signalPayload } from './signal-payload';
import { type SagaInstanceView, instanceView } from './saga-views';

/** What `SagaOperations.start` did; `written`: a new saga's rows as its insert wrote them. */
export interface StartedSaga {
  id: string;
  created: boolean;
  spec: SagaSpec;
  written?: WrittenSaga;
}

/** A start time may lie this far in the past (clocks differ; a request takes time): it then starts at once. */
export const START_AT_TOLERANCE_MS = 60_000;
/** The latest start time: a year and a day ahead. */
export const MAX_START_DELAY_MS = 366 * 86_400_000;

/**
 * The start time of `POST /v1/sagas` (`startAt` or `startIn`), checked: undefined to start at once. Throws a 400
 * that names the field. `now` is this process's clock, used only for the bounds (the due time of `startIn` is
 * counted on the database clock).
 */
export function parseStartDelay(
  given: { startAt?: string; startIn?: unknown },
  now = Date.now(),
): StartDelay | undefined {
  const { startAt, startIn } = given;
  if (startAt !== undefined && startIn !== undefined) {
    throw new ApiError(400, 'INPUT_INVALID', 'startAt and startIn are exclusive: give one of them');
  }
  if (startAt !== undefined) {
    const at = new Date(startAt);
    if (Number.isNaN(at.getTime())) throw new ApiError(400, 'INPUT_INVALID', 'startAt is not a valid date-time');
    if (at.getTime() < now - START_AT_TOLERANCE_MS) {
      throw new ApiError(400, 'INPUT_INVALID', 'startAt is in the past (more than 60 s ago)');
    }
    if (at.getTime() > now + MAX_START_DELAY_MS) {
      throw new ApiError(400, 'INPUT_INVALID', 'startAt is more than 366 days ahead');
    }
    return { startAt: at };
  }
  if (startIn !== undefined) {
    const bad = new ApiError(
      400,
      'INPUT_INVALID',
      'startIn must be a duration such as "90s", "10m", "2h" or "1d", or milliseconds, from 0 to 366 days',
    );
    if (typeof startIn !== 'string' && !(typeof startIn === 'number' && Number.isInteger(startIn))) throw bad;
    let ms: number;
    try {
      ms = parseDuration(startIn, 'startIn');
    } catch {
      throw bad;
    }
    if (ms > MAX_START_DELAY_MS) throw bad;
    return { startInMs: ms };
  }
  return undefined;
}

/**
 * Starting a saga, delivering a signal and reading one back, as the REST API and the in-process client both do
 * them: the same validation, the same answers, the same errors (ApiError with the API's status and code).
 */
@Injectable()
export class SagaOperations {
  constructor(
    private readonly scheduler: SagaScheduler,
    private readonly registry: SagaRegistry,
    private readonly queries: SagaQueries,
    private readonly versions: VersionWatch,
  ) {}

  /**
   * Starts the newest version of `type` (or `version` of it), validating `input` against its input class when this process has the
   * saga's code, else against the JSON Schema its agents published. `created: false`: the idempotency key was
   * replayed with the same type and input, and the saga is the one it started.
   */
  async start(
    type: string,
    input: Record<string, unknown>,
    idempotencyKey: string | null,
    delay?: StartDelay,
    version?: number,
  ): Promise<StartedSaga> {
    const known = version === undefined ? await this.registry.latest(type) : await this.chosen(type, version);
    if (!known) {
      throw new ApiError(
        400,
        'SAGA_TYPE_UNKNOWN',
        'type is not a registered saga type (GET /v1/saga-types lists them)',
      );
    }
    const definition = known.spec;
    const problems = await validateSagaInput(known.code ?? { inputSchema: known.inputSchema }, input);
    if (problems.length === 0) problems.push(...searchProblems(definition, input));
    if (problems.length > 0) {
      // Our messages name fields, not values; an author's custom message with `$value` must not echo a secret.
      const message = scrubSecrets(problems.join('; '), secretsAt(input, definition.sensitive));
      throw new ApiError(400, 'INPUT_INVALID', message);
    }
    const result = await this.scheduler.start(definition, input, idempotencyKey, delay);
    switch (result.outcome) {
      case 'conflict':
        throw new ApiError(
          409,
          'IDEMPOTENCY_CONFLICT',
          `idempotencyKey was already used to start saga ${result.id} with another type or input`,
        );
      case 'businessKeyConflict':
        throw new ApiError(
          409,
          'BUSINESS_KEY_CONFLICT',
          `businessKey: saga ${result.id} of type ${type} holds this business key and is not over`,
        );
      case 'replayed':
        return { id: result.id, created: false, spec: definition };
      case 'created':
        return { id: result.snapshot.id, created: true, spec: definition, written: result.written };
    }
  }

  /**
   * The saga a start answers with, as `view` shows it. A new saga whose definition has no child or fan-out step
   * is built from the rows its insert wrote (timestamps from the database: what a read-back right after the
   * commit finds), without reading it back; a replayed key, or a saga with children or items, is read back.
   */
  async started(started: StartedSaga): Promise<SagaInstanceView> {
    const { spec, written } = started;
    if (!started.created) return this.view(started.id);
    if (written && !spec.steps.some((s) => s.child || s.fanOut)) {
      return instanceView(written.instance, written.steps);
    }
    return this.view(started.id, spec);
  }

  /** A version the caller asked for; 400 naming `version` when the type has no such version. */
  private async chosen(type: string, version: number): Promise<KnownVersion | undefined> {
    const versions = await this.registry.versions(type);
    if (versions.length === 0) return undefined;
    const known = versions.find((v) => v.spec.version === version);
    if (!known) {
      throw new ApiError(
        400,
        'SAGA_TYPE_UNKNOWN',
        `version: saga type ${type} has no version ${version} (known: ${versions.map((v) => v.spec.version).join(', ')})`,
      );
    }
    return known;
  }

  /** Delivers signal `name` (see the REST route for its rules); `by` says who sent it, in the saga's history. */
  async signal(id: string, name: string, body: unknown, by: string, audit?: AuditRecord): Promise<void> {
    if (!SIGNAL_NAME_PATTERN.test(name)) {
      throw new ApiError(400, 'INPUT_INVALID', "name must be 1 to 100 letters, digits, '.', '_' or '-'");
    }
    const checked = signalPayload(body);
    if ('problem' in checked) throw new ApiError(400, 'INPUT_INVALID', checked.problem);
    // A signal moves the saga on to its next step: refused (409) while no live agent runs its version.
    try {
      await this.versions.assertRunnable(id, ['RUNNING', 'DELAYED']);
    } catch (error) {
      if (error instanceof VersionUnavailableError) throw new ApiError(409, error.code, error.message);
      throw error;
    }
    const result = await this.scheduler.apply(
      id,
      { type: 'SignalReceived', signal: name, payload: checked.payload, by },
      undefined,
      audit ? { audit } : {},
    );
    if (!result.applied) {
      if (result.snapshot === null) throw new ApiError(404, 'SAGA_NOT_FOUND', `saga ${id} not found`);
      throw new ApiError(409, 'NOT_WAITING', result.reason);
    }
  }

  /**
   * The saga with its steps, as the API shows it (sensitive fields redacted). `spec`: the definition the saga runs,
   * when the caller knows it (a start): without child or fan-out steps, it has no children or items to read.
   */
  async view(id: string, spec?: SagaSpec): Promise<SagaInstanceView> {
    const found = await this.queries.findInstance(
      id,
      spec
        ? { children: spec.steps.some((s) => s.child), items: spec.steps.some((s) => s.fanOut) }
        : { children: true, items: true },
    );
    if (!found) throw new ApiError(404, 'SAGA_NOT_FOUND', `saga ${id} not found`);
    return instanceView(found.instance, found.steps, found.children, found.itemCounts);
  }
}

/** What the input's business key and attributes get wrong, naming the fields (never their values). */
function searchProblems(definition: SagaSpec, input: unknown): string[] {
  const key = businessKeyOf(definition.businessKey, input);
  return [
    ...('problem' in key ? [key.problem] : []),
    ...attributesFromInput(definition.searchAttributes, input).problems,
  ];
}
