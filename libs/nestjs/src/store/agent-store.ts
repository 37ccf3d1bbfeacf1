import { Inject, Injectable } from '@nestjs/common';
import type { DataSource } from 'typeorm';
import { SAGA_DATA_SOURCE } from './data-source';

/** How often an agent says it is alive; one not heard of for AGENT_SILENT_MS is taken for gone. */
export const AGENT_HEARTBEAT_MS = 5_000;
export const AGENT_SILENT_MS = 15_000;

/** An agent that runs now, and the saga types it has the code for (`type@version`). */
export interface LiveAgent {
  id: string;
  host: string;
  pid: number;
  sagaTypes: string[];
  startedAt: Date;
  seenAt: Date;
}

/** `saga_agent`: which agents run, for the API ("this saga waits for an agent of its type") and the dashboard. */
@Injectable()
export class AgentStore {
  constructor(@Inject(SAGA_DATA_SOURCE) private readonly db: DataSource) {}

  async heartbeat(agent: { id: string; host: string; pid: number; sagaTypes: string[] }): Promise<void> {
    await this.db.query(
      `INSERT INTO saga_agent (id, host, pid, saga_types) VALUES ($1, $2, $3, $4)
       ON CONFLICT (id) DO UPDATE SET saga_types = excluded.saga_types, seen_at = now()`,
      [agent.id, agent.host, agent.pid, agent.sagaTypes],
    );
  }

  /** A clean shutdown removes the row; a killed agent's row goes stale, then is swept by `live`. */
  async remove(id: string): Promise<void> {
    await this.db.query(`DELETE FROM saga_agent WHERE id = $1`, [id]);
  }

  /** The agents heard of lately (database clock). Rows silent for ten times as long are deleted on the way. */
  async live(): Promise<LiveAgent[]> {
    await this.db.query(`DELETE FROM saga_agent WHERE seen_at < now() - $1 * interval '1 millisecond'`, [
      AGENT_SILENT_MS * 10,
    ]);
    const rows: { id: string; host: string; pid: number; saga_types: string[]; started_at: Date; seen_at: Date }[] =
      await this.db.query(
        `SELECT id, host, pid, saga_types, started_at, seen_at FROM saga_agent
          WHERE seen_at > now() - $1 * interval '1 millisecond' ORDER BY started_at`,
        [AGENT_SILENT_MS],
      );
    return rows.map((r) => ({
      id: r.id,
      host: r.host,
      pid: r.pid,
      sagaTypes: r.saga_types,
      startedAt: r.started_at,
      seenAt: r.seen_at,
    }));
  }
}
