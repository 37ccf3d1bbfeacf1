import {
  Inject,
  Injectable,
  Logger,
  type OnApplicationBootstrap,
  type BeforeApplicationShutdown,
} from '@nestjs/common';
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { SagaStore } from '../store/saga-store';
import { type CircuitChange, ParticipantPolicies } from '../invokers/participant-policies';

/** How often an agent refreshes its rows (`seen_at`) even when nothing changed. */
export const CIRCUIT_REFRESH_MS = 5_000;

/**
 * Persists this agent's circuit breaker states (one row per participant in `participant_circuit`), so that
 * `GET /v1/participants` shows every agent's view: written at once on every change, refreshed every
 * CIRCUIT_REFRESH_MS, removed on a clean shutdown (a killed agent's rows go stale and stop counting).
 */
@Injectable()
export class CircuitRecorder implements OnApplicationBootstrap, BeforeApplicationShutdown {
  readonly agentId = `${hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`;
  private readonly logger = new Logger('CircuitRecorder');
  private chain: Promise<void> = Promise.resolve();
  private timer: NodeJS.Timeout | null = null;
  private unsubscribe: (() => void) | null = null;

  constructor(
    private readonly policies: ParticipantPolicies,
    @Inject(SagaStore) private readonly store: SagaStore,
  ) {}

  onApplicationBootstrap(): void {
    this.unsubscribe = this.policies.onChange((change) => this.write([change]));
    this.write(this.policies.details());
    this.timer = setInterval(() => this.write(this.policies.details()), CIRCUIT_REFRESH_MS);
    this.timer.unref();
  }

  async beforeApplicationShutdown(): Promise<void> {
    this.unsubscribe?.();
    if (this.timer) clearInterval(this.timer);
    await this.chain;
    await this.store.dataSource
      .query(`DELETE FROM participant_circuit WHERE agent_id = $1`, [this.agentId])
      .catch(() => undefined);
  }

  /** Queued one after the other, so that an older state never overwrites a newer one. */
  private write(changes: CircuitChange[]): void {
    if (changes.length === 0) return;
    const rows = changes.map((c) => ({
      participant: c.participant,
      state: c.state === 'isolated' ? 'open' : c.state,
      changed_at: c.since?.toISOString() ?? null,
    }));
    this.chain = this.chain
      .then(() =>
        this.store.dataSource.query(
          `INSERT INTO participant_circuit (participant, agent_id, state, changed_at, seen_at)
           SELECT r.participant, $1, r.state, r.changed_at, now()
             FROM jsonb_to_recordset($2::jsonb) AS r(participant text, state text, changed_at timestamptz)
           ON CONFLICT (participant, agent_id) DO UPDATE
             SET state = excluded.state, changed_at = excluded.changed_at, seen_at = now()`,
          [this.agentId, JSON.stringify(rows)],
        ),
      )
      .then(
        () => undefined,
        (error: Error) => this.logger.warn(`could not record circuit states: ${error.message}`),
      );
  }
}
