import { randomUUID } from 'node:crypto';
import { Client } from 'pg';
import { DataSource } from 'typeorm';
import { defineSaga } from '@saga-engine/sdk';
import { dataSourceOptions } from '../libs/nestjs/src/store/data-source-options';
import { AuditLog, AuditOutcome, type AuditRecord, auditRowHash } from '../libs/nestjs/src/store/saga-audit';
import { TestDatabase, startTestEngine, type TestEngine } from './support/test-engine';

/**
 * Issue 18: the audit log is a hash chain. Every row carries the hash of the one before it (linked by the
 * database's insert trigger, in commit order, even for concurrent inserts); GET /v1/audit/verify (admin) walks the
 * chain and names the first row that was changed, deleted or slipped in by the table's owner, who can lift the
 * append-only trigger. Signals are audited like the other actions, accepted and refused.
 */
const waiting = defineSaga('audit-chain', { version: 1 })
  .step('first', { run: () => ({ ok: 1 }), compensate: () => undefined })
  .waitFor('approved', { signal: 'approval', timeout: '60s' })
  .step('last', { run: () => ({ ok: 2 }) })
  .build();

const record = (n: number): AuditRecord => ({
  actor: `actor-${n}`,
  role: 'operator',
  action: 'cancel',
  sagaId: randomUUID(),
  step: null,
  reason: `reason ${n} — ünïcödé ✓`,
  outcome: AuditOutcome.ACCEPTED,
  statusCode: 202,
  detail: null,
});

/** A database of its own, migrated, with the AuditLog over it; `owner` runs SQL as the table's owner. */
async function chainDatabase() {
  const db = new TestDatabase();
  await db.create();
  const ds = new DataSource(dataSourceOptions(db.url, 20));
  await ds.initialize();
  const audit = new AuditLog(ds);
  const owner = async (sql: string, params: unknown[] = []) => {
    const client = new Client({ connectionString: db.url });
    await client.connect();
    try {
      await client.query('BEGIN');
      await client.query('ALTER TABLE saga_audit DISABLE TRIGGER saga_audit_no_rewrite');
      const result = await client.query(sql, params);
      await client.query('ALTER TABLE saga_audit ENABLE TRIGGER saga_audit_no_rewrite');
      await client.query('COMMIT');
      return result.rows;
    } finally {
      await client.end();
    }
  };
  const ids = async () =>
    (await ds.query(`SELECT id::text AS id FROM saga_audit ORDER BY chain_seq`)).map((r: { id: string }) => r.id);
  return {
    db,
    ds,
    audit,
    owner,
    ids,
    close: async () => {
      await ds.destroy();
      await db.drop();
    },
  };
}

describe('the audit hash chain (e2e)', () => {
  describe('in the store', () => {
    let chain: Awaited<ReturnType<typeof chainDatabase>>;
    beforeEach(async () => {
      chain = await chainDatabase();
    });
    afterEach(async () => {
      await chain.close();
    });

    it('links every row to the one before, as the engine computes it, and verifies an empty and a full chain', async () => {
      expect(await chain.audit.verify()).toEqual({ ok: true, checked: 0 });
      for (let n = 1; n <= 5; n++) await chain.audit.record(record(n));
      const rows = await chain.ds.query(
        `SELECT chain_seq::text AS chain_seq, id::text AS id,
                to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS at_utc, actor, role, action,
                saga_id::text AS saga_id, step, signal, reason, outcome, status_code::text AS status_code, detail,
                prev_hash, hash
           FROM saga_audit ORDER BY chain_seq`,
      );
      expect(rows.map((r: { chain_seq: string }) => r.chain_seq)).toEqual(['1', '2', '3', '4', '5']);
      expect(rows[0].prev_hash.equals(Buffer.alloc(32))).toBe(true);
      for (let i = 0; i < rows.length; i++) {
        if (i > 0) expect(rows[i].prev_hash.equals(rows[i - 1].hash)).toBe(true);
        // The engine's computation (Node) and the trigger's (SQL) agree.
        expect(auditRowHash(rows[i].prev_hash, rows[i]).equals(rows[i].hash)).toBe(true);
      }
      expect(await chain.audit.verify()).toEqual({ ok: true, checked: 5 });
      // verify pages through the chain: a batch size smaller than the chain changes nothing.
      expect(await chain.audit.verify(2)).toEqual({ ok: true, checked: 5 });
    });

    it('keeps one chain under concurrent inserts, including rolled-back ones', async () => {
      const inserts = Array.from({ length: 60 }, (_, n) => chain.audit.record(record(n)));
      // Transactions that insert a row and roll back take their link back with them.
      const rollbacks = Array.from({ length: 5 }, async () => {
        const runner = chain.ds.createQueryRunner();
        await runner.startTransaction();
        await runner.query(
          `INSERT INTO saga_audit (actor, role, action, saga_id, reason, outcome, status_code)
           VALUES ('x', 'admin', 'retry', gen_random_uuid(), 'rolled back', 'accepted', 202)`,
        );
        await runner.rollbackTransaction();
        await runner.release();
      });
      await Promise.all([...inserts, ...rollbacks]);
      const seqs = (await chain.ds.query(`SELECT chain_seq::int AS s FROM saga_audit ORDER BY chain_seq`)).map(
        (r: { s: number }) => r.s,
      );
      expect(seqs).toEqual(Array.from({ length: 60 }, (_, i) => i + 1));
      expect(await chain.audit.verify()).toEqual({ ok: true, checked: 60 });
    });

    it('ignores whatever hash an INSERT gives: the trigger writes the link', async () => {
      await chain.ds.query(
        `INSERT INTO saga_audit (actor, role, action, saga_id, reason, outcome, status_code, chain_seq, prev_hash, hash)
         VALUES ('x', 'admin', 'retry', gen_random_uuid(), 'forged link', 'accepted', 202, 99, '\\x00', '\\x00')`,
      );
      const [row] = await chain.ds.query(`SELECT chain_seq::int AS s, octet_length(hash) AS n FROM saga_audit`);
      expect(row).toEqual({ s: 1, n: 32 });
      expect(await chain.audit.verify()).toEqual({ ok: true, checked: 1 });
    });

    it('names a row the owner changed', async () => {
      for (let n = 1; n <= 5; n++) await chain.audit.record(record(n));
      const ids = await chain.ids();
      await chain.owner(`UPDATE saga_audit SET reason = 'nothing happened' WHERE id = $1`, [ids[2]]);
      expect(await chain.audit.verify()).toEqual({
        ok: false,
        checked: 2,
        firstBadId: ids[2],
        reason: 'its content does not match its hash: the row was changed after it was written',
      });
    });

    it('names a row whose hash the owner recomputed to cover a change (the next row no longer links to it)', async () => {
      for (let n = 1; n <= 4; n++) await chain.audit.record(record(n));
      const ids = await chain.ids();
      // A careful forger changes row 2 and recomputes its own hash as the database would.
      await chain.owner(
        `UPDATE saga_audit SET actor = 'someone else' WHERE id = $1;
         UPDATE saga_audit a SET hash = saga_audit_row_hash(a.prev_hash, a) WHERE id = $1`.replace(/\$1/g, ids[1]),
      );
      const result = await chain.audit.verify();
      expect(result).toMatchObject({ ok: false, checked: 2, firstBadId: ids[2] });
      expect(result.reason).toMatch(/prev_hash is not the hash of the row before it/);
    });

    it('names the row after one the owner deleted', async () => {
      for (let n = 1; n <= 5; n++) await chain.audit.record(record(n));
      const ids = await chain.ids();
      await chain.owner(`DELETE FROM saga_audit WHERE id = $1`, [ids[1]]);
      expect(await chain.audit.verify()).toEqual({
        ok: false,
        checked: 1,
        firstBadId: ids[2],
        reason: 'a row is missing before this one (chain position 2): deleted',
      });
    });

    it('names the newest row when the owner deleted it (the chain head still counts it)', async () => {
      for (let n = 1; n <= 3; n++) await chain.audit.record(record(n));
      const ids = await chain.ids();
      await chain.owner(`DELETE FROM saga_audit WHERE id = $1`, [ids[2]]);
      const result = await chain.audit.verify();
      expect(result).toMatchObject({ ok: false, checked: 2, firstBadId: ids[2] });
      expect(result.reason).toMatch(/head is at position 3 .*the rows end at 2/);
    });

    it('names a row slipped in with the chain trigger disabled', async () => {
      await chain.audit.record(record(1));
      const client = new Client({ connectionString: chain.db.url });
      await client.connect();
      await client.query('ALTER TABLE saga_audit DISABLE TRIGGER saga_audit_chain_link');
      await client.query('ALTER TABLE saga_audit ALTER COLUMN hash DROP NOT NULL');
      const [{ id }] = (
        await client.query(
          `INSERT INTO saga_audit (actor, role, action, saga_id, reason, outcome, status_code, chain_seq, prev_hash)
           VALUES ('x', 'admin', 'retry', gen_random_uuid(), 'slipped in', 'accepted', 202, 2, '\\x00') RETURNING id::text AS id`,
        )
      ).rows;
      await client.end();
      expect(await chain.audit.verify()).toEqual({
        ok: false,
        checked: 0,
        firstBadId: id,
        reason: 'the row is not linked into the chain',
      });
    });
  });

  describe('through the API', () => {
    let engine: TestEngine;
    beforeAll(async () => {
      engine = await startTestEngine({ sagas: [waiting] });
    });
    afterAll(async () => {
      await engine?.close();
    });

    async function startWaiting(): Promise<string> {
      const res = await engine.as('operator').post('/v1/sagas').send({ type: 'audit-chain', input: {} });
      expect(res.status).toBe(201);
      await engine.waitForStatus(res.body.id, ['RUNNING']);
      return res.body.id as string;
    }

    it('audits signals, accepted and refused (by state, by role, unknown saga), in the chain', async () => {
      const id = await startWaiting();
      // Refused by role: a viewer may not signal.
      const byViewer = await engine.as('viewer').post(`/v1/sagas/${id}/signals/approval`).send({});
      expect(byViewer.status).toBe(403);
      const unknownSaga = randomUUID();
      expect((await engine.as('operator').post(`/v1/sagas/${unknownSaga}/signals/approval`).send({})).status).toBe(404);
      const accepted = await engine
        .as('operator')
        .post(`/v1/sagas/${id}/signals/approval`)
        .send({ payload: { by: 'warehouse' } });
      expect(accepted.status).toBe(202);
      await engine.waitForStatus(id, ['COMPLETED']);
      // Too late now: no step waits for it.
      const late = await engine.as('operator').post(`/v1/sagas/${id}/signals/approval`).send({});
      expect(late.status).toBe(409);

      const audit = await engine.as('admin').get(`/v1/audit?limit=200`);
      expect(audit.status).toBe(200);
      const signals = audit.body.items
        .filter((e: { action: string }) => e.action === 'signal')
        .map((e: Record<string, unknown>) => [e.sagaId, e.signal, e.role, e.outcome, e.statusCode])
        .reverse();
      expect(signals).toEqual([
        [id, 'approval', 'viewer', 'refused', 403],
        [unknownSaga, 'approval', 'operator', 'refused', 404],
        [id, 'approval', 'operator', 'accepted', 202],
        [id, 'approval', 'operator', 'refused', 409],
      ]);
      for (const item of audit.body.items) expect(item.hash).toMatch(/^[0-9a-f]{64}$/);
    });

    it('GET /v1/audit/verify is for admins only', async () => {
      for (const role of ['viewer', 'operator'] as const) {
        expect((await engine.as(role).get('/v1/audit/verify')).status).toBe(403);
      }
      expect((await engine.http().get('/v1/audit/verify')).status).toBe(401);
    });

    it('answers ok for the untouched chain, and names the row the owner forged', async () => {
      const id = await startWaiting();
      const cancel = await engine.as('operator').post(`/v1/sagas/${id}/cancel`).send({ reason: 'customer asked' });
      expect(cancel.status).toBe(202);
      const good = await engine.as('admin').get('/v1/audit/verify');
      expect(good.status).toBe(200);
      expect(good.body.ok).toBe(true);
      expect(good.body.checked).toBeGreaterThanOrEqual(5);
      expect(good.body.firstBadId).toBeUndefined();

      const [{ id: forged }] = await engine.db.query<{ id: string }>(
        `SELECT id::text AS id FROM saga_audit WHERE reason = 'customer asked'`,
      );
      const client = new Client({ connectionString: engine.db.url });
      await client.connect();
      await client.query('BEGIN');
      await client.query('SET LOCAL session_replication_role = replica'); // the owner here is a superuser
      await client.query(`UPDATE saga_audit SET reason = 'system maintenance' WHERE id = $1`, [forged]);
      await client.query('COMMIT');
      await client.end();

      const bad = await engine.as('admin').get('/v1/audit/verify');
      expect(bad.status).toBe(200);
      expect(bad.body).toEqual({
        ok: false,
        checked: good.body.checked - 1,
        firstBadId: forged,
        reason: 'its content does not match its hash: the row was changed after it was written',
      });
    });
  });
});
