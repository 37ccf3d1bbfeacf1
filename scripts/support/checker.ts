/**
 * The invariants a recovery run must keep (research/reliability.md §4.1), checked against the engine's database
 * and the demo participants' PostgreSQL ledger (schema `demo`) after the run has drained.
 */
import { withClient } from './cluster';

/** Each demo action that has a compensation, and the participant operation of that compensation. */
export const UNDO_OF: Record<string, string> = {
  'delivery.create': 'delivery.cancel',
  'package.register': 'package.delete',
  'drone.schedule': 'drone.release',
  'transport.book': 'transport.cancel',
  'account.charge': 'account.refund',
};

/** Starting balance of every demo account (apps/demo-services). */
const DEMO_BALANCE_CENTS = 1_000_000;

export interface CheckReport {
  /** Sagas per status. */
  counts: Record<string, number>;
  total: number;
  /** Sagas neither terminal nor FAILED (I1). */
  lost: number;
  /** Ledger keys whose effect was applied more than once (I4). */
  doubleEffects: number;
  /** Broken compensation/completion invariants (I5, I6), conservation of money, described. */
  violations: string[];
  /** Attempts the supervisor declared lost (DEADLINE_EXCEEDED events). */
  deadlinesExceeded: number;
}

export async function checkInvariants(databaseUrl: string): Promise<CheckReport> {
  return withClient(databaseUrl, async (db) => {
    const q = async <T>(sql: string, params: unknown[] = []) => (await db.query(sql, params)).rows as T[];
    const counts: Record<string, number> = {};
    for (const r of await q<{ status: string; n: number }>(
      `SELECT status, count(*)::int AS n FROM saga_instance GROUP BY status ORDER BY status`,
    )) {
      counts[r.status] = r.n;
    }
    const total = Object.values(counts).reduce((a, b) => a + b, 0);
    const lost = (counts.RUNNING ?? 0) + (counts.COMPENSATING ?? 0);

    const [{ n: doubleEffects }] = await q<{ n: number }>(
      `SELECT count(*)::int AS n FROM (SELECT 1 FROM demo.effect GROUP BY idempotency_key HAVING count(*) > 1) d`,
    );

    const violations: string[] = [];
    // Every effect per saga: key -> times applied, and the saga's status.
    const rows = await q<{ saga_id: string; status: string; key: string; op: string; applied: number }>(
      `SELECT p.saga_id, i.status, p.idempotency_key AS key, p.service || '.' || p.operation AS op,
              (SELECT count(*)::int FROM demo.effect e WHERE e.idempotency_key = p.idempotency_key) AS applied
         FROM demo.processed p JOIN saga_instance i ON i.id::text = p.saga_id`,
    );
    const byKey = new Map(rows.map((r) => [r.key, r]));
    for (const r of rows) {
      const undone = r.key.endsWith(':undo');
      if (r.status === 'COMPLETED' && undone) violations.push(`COMPLETED saga ${r.saga_id} has an undo: ${r.key}`);
      if ((r.status === 'COMPENSATED' || r.status === 'CANCELLED') && !undone && UNDO_OF[r.op] && r.applied > 0) {
        const undo = byKey.get(`${r.key}:undo`);
        if (!undo || undo.applied !== 1) {
          violations.push(
            `${r.status} saga ${r.saga_id}: ${r.op} applied without exactly one ${UNDO_OF[r.op]} (${undo?.applied ?? 0})`,
          );
        }
      }
    }
    // A COMPLETED saga applied each of its six actions (verify, create, register, drone or ground transport,
    // charge, notify) exactly once.
    const completedActions = new Map<string, number>();
    for (const r of rows) {
      if (r.status === 'COMPLETED' && !r.key.endsWith(':undo') && r.applied === 1) {
        completedActions.set(r.saga_id, (completedActions.get(r.saga_id) ?? 0) + 1);
      }
    }
    const completed = await q<{ id: string }>(`SELECT id::text AS id FROM saga_instance WHERE status = 'COMPLETED'`);
    for (const { id } of completed) {
      const n = completedActions.get(id) ?? 0;
      if (n !== 6) violations.push(`COMPLETED saga ${id} applied ${n} actions, not 6`);
    }
    // What the participants hold agrees: a COMPLETED saga's resources are all in force, a compensated one's
    // are all undone.
    const resources = await q<{ saga_id: string; status: string; resource_status: string; n: number }>(
      `SELECT r.saga_id, i.status, r.status AS resource_status, count(*)::int AS n
         FROM demo.resource r JOIN saga_instance i ON i.id::text = r.saga_id
        GROUP BY 1, 2, 3`,
    );
    for (const r of resources) {
      if (r.status === 'COMPLETED' && r.resource_status !== 'ACTIVE') {
        violations.push(`COMPLETED saga ${r.saga_id} has ${r.n} undone resource(s)`);
      }
      if ((r.status === 'COMPENSATED' || r.status === 'CANCELLED') && r.resource_status === 'ACTIVE') {
        violations.push(`${r.status} saga ${r.saga_id} still holds ${r.n} resource(s)`);
      }
    }
    // Money is conserved: what left each account is exactly what its charges in force hold.
    const money = await q<{ account_id: string; balance: string; charged: string }>(
      `SELECT a.account_id, a.balance_cents AS balance,
              coalesce((SELECT sum(amount_cents) FROM demo.resource r
                         WHERE r.account_id = a.account_id AND r.status = 'ACTIVE'), 0) AS charged
         FROM demo.account a`,
    );
    for (const m of money) {
      if (DEMO_BALANCE_CENTS - Number(m.balance) !== Number(m.charged)) {
        violations.push(`account ${m.account_id}: balance ${m.balance} but ${m.charged} charged`);
      }
    }
    const [{ n: deadlinesExceeded }] = await q<{ n: number }>(
      `SELECT count(*)::int AS n FROM saga_event WHERE type IN ('StepFailed', 'CompensationFailed')
          AND data -> 'error' ->> 'code' = 'DEADLINE_EXCEEDED'`,
    );
    return { counts, total, lost, doubleEffects, violations, deadlinesExceeded };
  });
}
