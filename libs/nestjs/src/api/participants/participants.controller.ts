import { SagaApiController } from '../http/saga-api-controller';
import { Get, Logger } from '@nestjs/common';
import { ApiOperation, ApiResponse } from '@nestjs/swagger';
import { SagaStore } from '../../store/saga-store';
import { ParticipantPolicies } from '../../invokers/participant-policies';
import type { LimitsView } from '../../invokers/participant-limits';
import { RequireRole } from '../http/auth';
import { ApiErrors } from '../http/openapi';

/** An agent's row counts while it refreshed it this recently (it does every 5 s; see CircuitRecorder). */
export const CIRCUIT_FRESH_SECONDS = 30;

const PARTICIPANTS_SCHEMA = {
  type: 'object',
  required: ['items'],
  properties: {
    items: {
      type: 'array',
      items: {
        type: 'object',
        required: ['name', 'state', 'since', 'agents', 'limits'],
        properties: {
          name: { type: 'string', example: 'account' },
          state: { type: 'string', enum: ['closed', 'open', 'half-open'], example: 'open' },
          since: {
            type: 'string',
            format: 'date-time',
            nullable: true,
            description: 'When the worst state began (null: closed since the agents started)',
            example: '2026-11-21T23:05:00.000Z',
          },
          agents: { type: 'integer', description: 'Agents that reported this participant recently', example: 2 },
          limits: {
            type: 'object',
            nullable: true,
            description:
              'Its cluster-wide limits and their use now, across all agents (from Redis); null when it has no ' +
              'limits, or when Redis did not answer',
            required: ['concurrency', 'ratePerSecond', 'inFlight', 'callsLastSecond', 'throttled'],
            properties: {
              concurrency: {
                type: 'integer',
                nullable: true,
                description: 'Calls in flight at once across all agents (null: no limit)',
                example: 5,
              },
              ratePerSecond: {
                type: 'integer',
                nullable: true,
                description: 'Calls in any one-second window across all agents (null: no limit)',
                example: 20,
              },
              inFlight: {
                type: 'integer',
                nullable: true,
                description: 'Calls holding a concurrency slot now (null: no concurrency limit)',
                example: 3,
              },
              callsLastSecond: {
                type: 'integer',
                nullable: true,
                description: 'Calls let through in the last second (null: no rate limit)',
                example: 19,
              },
              throttled: {
                type: 'integer',
                description: 'Calls held back by a limit (they ran later; none failed for it), over the last day',
                example: 1234,
              },
            },
          },
        },
      },
    },
  },
};

interface CircuitRow {
  name: string;
  state: 'closed' | 'open' | 'half-open';
  since: Date | null;
  agents: number;
}

@SagaApiController('v1/participants')
export class ParticipantsController {
  private readonly logger = new Logger('ParticipantsController');

  constructor(
    private readonly store: SagaStore,
    private readonly policies: ParticipantPolicies,
  ) {}

  /**
   * The circuit breaker of every participant across all agents: each agent writes its breakers' states to
   * PostgreSQL on every change and every 5 s; a participant's state is the worst among the agents seen in the
   * last 30 s (open > half-open > closed), `since` when that state began, `agents` how many agents reported it.
   * `limits`: its cluster-wide limits and their use now, read from Redis (null when it has none).
   */
  @Get()
  @RequireRole('viewer')
  @ApiOperation({ summary: 'Circuit breaker state per participant, across all agents' })
  @ApiResponse({ status: 200, description: 'One item per participant, by name', schema: PARTICIPANTS_SCHEMA })
  @ApiErrors()
  async list() {
    const rows: CircuitRow[] = await this.store.dataSource.query(
      `WITH fresh AS (
         SELECT participant, state, changed_at,
                CASE state WHEN 'open' THEN 2 WHEN 'half-open' THEN 1 ELSE 0 END AS severity
           FROM participant_circuit
          WHERE seen_at > now() - make_interval(secs => $1)
       ), worst AS (
         SELECT participant, max(severity) AS severity, count(*)::int AS agents FROM fresh GROUP BY participant
       )
       SELECT w.participant AS name,
              CASE w.severity WHEN 2 THEN 'open' WHEN 1 THEN 'half-open' ELSE 'closed' END AS state,
              (SELECT max(f.changed_at) FROM fresh f
                WHERE f.participant = w.participant AND f.severity = w.severity) AS since,
              w.agents
         FROM worst w
        ORDER BY w.participant`,
      [CIRCUIT_FRESH_SECONDS],
    );
    const limits = await this.limits(rows.map((r) => r.name));
    return {
      items: rows.map((r) => ({
        name: r.name,
        state: r.state,
        since: r.since ? new Date(r.since).toISOString() : null,
        agents: r.agents,
        limits: limits.get(r.name) ?? null,
      })),
    };
  }

  /** From Redis, bounded in time: the page answers (with null limits) when Redis does not. */
  private async limits(names: string[]): Promise<Map<string, LimitsView | null>> {
    const limiter = this.policies.limiter;
    if (!limiter || names.length === 0) return new Map();
    try {
      return await limiter.view(names);
    } catch (error) {
      this.logger.warn(`participant limits unavailable: ${(error as Error).message}`);
      return new Map();
    }
  }
}
