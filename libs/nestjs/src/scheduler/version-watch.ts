import { Inject, Injectable } from '@nestjs/common';
import type { DataSource } from 'typeorm';
import { AgentStore } from '../store/agent-store';
import { SAGA_DATA_SOURCE } from '../store/data-source';
import { SagaRegistry, VersionUnavailableError } from './saga-registry';

/** Statuses in which a saga still needs its version's code: to run a step, an undo, or an operator's retry. */
export const IN_USE_STATUSES = ['RUNNING', 'COMPENSATING', 'FAILED', 'DELAYED'] as const;

/** A saga type's version as operators see it: how many sagas still use it, and whether anything can run them. */
export interface VersionUse {
  type: string;
  version: number;
  /** Sagas on this version that have not ended, by status (only statuses with sagas). */
  instances: Partial<Record<(typeof IN_USE_STATUSES)[number], number>>;
  /** Live agents (a heartbeat in the last 15 s) that have this version's code. */
  agents: number;
  /** Its definition is known here (code or published): the API can show and steer its sagas. */
  known: boolean;
  /** An agent runs it: its sagas move. False with sagas in use: they wait until its code is deployed again. */
  runnable: boolean;
}

/** How long the list of live agents is trusted for `assertRunnable` (an action checks it; a poll would hammer it). */
const AGENTS_TTL_MS = 2_000;

/**
 * Which saga versions are still in use, and whether any live agent has their code. A deploy that drops a version
 * while its sagas run leaves them waiting for an agent that never comes; this is what the API (`GET
 * /v1/saga-versions`, 409 `VERSION_UNAVAILABLE` on actions that need a step to run), `/health`, `/metrics` and the
 * supervisor's start-up report read.
 */
@Injectable()
export class VersionWatch {
  private agentsRead: { at: number; ids: Promise<Map<string, number>> } | null = null;

  constructor(
    @Inject(SAGA_DATA_SOURCE) private readonly db: DataSource,
    private readonly agents: AgentStore,
    private readonly registry: SagaRegistry,
  ) {}

  /** Every version with sagas in use or a live agent, by type then version. */
  async versions(type?: string): Promise<VersionUse[]> {
    type Row = { type: string; version: number; status: (typeof IN_USE_STATUSES)[number]; n: number };
    const [rows, agents] = await Promise.all([
      this.db.query<Row[]>(
        `SELECT type, definition_version AS version, status, count(*)::int AS n FROM saga_instance
          WHERE status = ANY($1) AND ($2::text IS NULL OR type = $2)
          GROUP BY type, definition_version, status`,
        [IN_USE_STATUSES, type ?? null],
      ),
      this.agentCounts(true),
    ]);
    const found = new Map<string, VersionUse>();
    const entry = (t: string, v: number): VersionUse => {
      const id = `${t}@${v}`;
      let use = found.get(id);
      if (!use) {
        const count = agents.get(id) ?? 0;
        use = { type: t, version: v, instances: {}, agents: count, known: false, runnable: count > 0 };
        found.set(id, use);
      }
      return use;
    };
    for (const row of rows) entry(row.type, row.version).instances[row.status] = row.n;
    for (const id of agents.keys()) {
      const at = id.lastIndexOf('@');
      const t = id.slice(0, at);
      if (type === undefined || t === type) entry(t, Number(id.slice(at + 1)));
    }
    for (const use of found.values()) {
      use.known = await this.registry.version(use.type, use.version).then(
        () => true,
        () => false,
      );
    }
    return [...found.values()].sort((a, b) => a.type.localeCompare(b.type) || a.version - b.version);
  }

  /** The versions that have sagas in use and no live agent to run them. */
  async stranded(): Promise<VersionUse[]> {
    return (await this.versions()).filter((v) => !v.runnable && Object.keys(v.instances).length > 0);
  }

  /**
   * Throws VersionUnavailableError when saga `sagaId` is on a version no live agent runs, so that an action that
   * needs one of its steps to run (a signal, a retry) is refused rather than accepted and left waiting unseen.
   * Only checked while the saga is in one of `statuses` (where the action would apply): otherwise, and for an
   * unknown saga, the action itself answers (409 with the engine's reason, 404).
   */
  async assertRunnable(sagaId: string, statuses: readonly string[]): Promise<void> {
    const rows: { type: string; version: number; status: string }[] = await this.db.query(
      `SELECT type, definition_version AS version, status FROM saga_instance WHERE id = $1`,
      [sagaId],
    );
    if (rows.length === 0 || !statuses.includes(rows[0].status)) return;
    const { type, version } = rows[0];
    if ((await this.agentCounts(false)).has(`${type}@${version}`)) return;
    // Read again before refusing: an agent may have come back in the last seconds.
    if ((await this.agentCounts(true)).has(`${type}@${version}`)) return;
    throw new VersionUnavailableError(type, version, 'no live agent runs it');
  }

  /** Live agents per `type@version`, re-read when older than AGENTS_TTL_MS or when `fresh`. */
  agentCounts(fresh = true): Promise<Map<string, number>> {
    if (fresh || !this.agentsRead || Date.now() - this.agentsRead.at > AGENTS_TTL_MS) {
      const ids = this.agents.live().then((agents) => {
        const counts = new Map<string, number>();
        for (const agent of agents) for (const id of agent.sagaTypes) counts.set(id, (counts.get(id) ?? 0) + 1);
        return counts;
      });
      ids.catch(() => (this.agentsRead = null));
      this.agentsRead = { at: Date.now(), ids };
    }
    return this.agentsRead.ids;
  }
}
