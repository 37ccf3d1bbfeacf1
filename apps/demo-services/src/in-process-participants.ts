import { randomUUID } from 'node:crypto';
import { SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import type { PoolClient } from 'pg';
import { NonRetryableError, RetryableError } from '@app/sdk';
import type { Call, DroneDeliveryParticipants } from '@app/sagas';
import { DemoLedger } from './demo-ledger';

/** Starting balance of every demo account. */
export const DEMO_BALANCE_CENTS = 1_000_000;

/**
 * The drone-delivery participants as in-process functions over PostgreSQL (schema `demo`, see demo-schema.ts),
 * for a first run and for tests: accounts `acc-...` exist (`acc-closed...` are closed), everything else is
 * unknown. They honour the `faults` knobs, apply each operation at most once per idempotency key (DemoLedger),
 * and keep what they did across crashes. Every function takes a `Call` and touches only the ledger: moving them
 * behind a network boundary (issue 4) changes the transport, not this code.
 */
export function inProcessParticipants(ledger: DemoLedger): DroneDeliveryParticipants & { ledger: DemoLedger } {
  /**
   * The participant's side of a call, in a span `participant <service>.<operation>` under the active context (the
   * step attempt's span), as a remote participant would continue the trace from the call's traceparent.
   */
  function effect<T>(
    service: string,
    operation: string,
    call: Call<unknown>,
    undo: boolean,
    apply: (tx: PoolClient) => Promise<T>,
  ): Promise<T> {
    return trace
      .getTracer('saga-demo-participants')
      .startActiveSpan(
        `participant ${service}.${operation}`,
        { kind: SpanKind.SERVER, attributes: { 'saga.id': call.sagaId, 'saga.idempotency_key': call.idempotencyKey } },
        async (span) => {
          try {
            return await effectOnce(service, operation, call, undo, apply);
          } catch (error) {
            span.setStatus({ code: SpanStatusCode.ERROR, message: (error as Error).message });
            throw error;
          } finally {
            span.end();
          }
        },
      );
  }

  /** Applies the fault knobs, then the effect once per key. */
  async function effectOnce<T>(
    service: string,
    operation: string,
    call: Call<unknown>,
    undo: boolean,
    apply: (tx: PoolClient) => Promise<T>,
  ): Promise<T> {
    const fault = call.fault ?? {};
    // The delay is the action's only, so that a step that hangs can still be undone (compensations have their own
    // knobs: compensationTransient, compensationFatal).
    if (!undo && fault.delayMs) await sleep(fault.delayMs, call.signal);
    const fatal = undo ? fault.compensationFatal : fault.fatal;
    const transient = (undo ? fault.compensationTransient : fault.transient) ?? 0;
    if (fatal)
      throw new NonRetryableError(`${service}: ${operation} refused (fault injected)`, { code: 'FAULT_FATAL' });
    if (call.attempt <= transient) {
      throw new RetryableError(`${service}: ${operation} unavailable (fault injected, attempt ${call.attempt})`, {
        code: 'FAULT_TRANSIENT',
      });
    }
    return ledger.once({ service, operation, sagaId: call.sagaId, idempotencyKey: call.idempotencyKey, undo }, apply);
  }

  /** Creates a resource owned by the action's key. */
  const create = (tx: PoolClient, service: string, prefix: string, call: Call<unknown>, extra = {}) =>
    insertResource(tx, { id: `${prefix}_${randomUUID()}`, service, call, ...extra });

  return {
    ledger,
    account: {
      verify: (c) =>
        effect('account', 'verify', c, false, async (tx) => {
          const id = c.payload.accountId;
          if (!id.startsWith('acc-'))
            throw new NonRetryableError(`account ${id} is unknown`, { code: 'ACCOUNT_UNKNOWN' });
          if (id.startsWith('acc-closed'))
            throw new NonRetryableError(`account ${id} is closed`, { code: 'ACCOUNT_CLOSED' });
          return { accountId: id, balanceCents: await balance(tx, id) };
        }),
      charge: (c) =>
        effect('account', 'charge', c, false, async (tx) => {
          const { accountId, amountCents } = c.payload;
          await balance(tx, accountId);
          const { rows } = await tx.query<{ balance_cents: string }>(
            `UPDATE demo.account SET balance_cents = balance_cents - $2
              WHERE account_id = $1 AND balance_cents >= $2 RETURNING balance_cents`,
            [accountId, amountCents],
          );
          if (rows.length === 0) {
            throw new NonRetryableError(`price ${amountCents} exceeds the balance of ${accountId}`, {
              code: 'INSUFFICIENT_FUNDS',
            });
          }
          const chargeId = await create(tx, 'account', 'chg', c, { accountId, amountCents });
          return { chargeId, balanceCents: Number(rows[0].balance_cents) };
        }),
      refund: (c) =>
        effect('account', 'refund', c, true, async (tx) => {
          // Refund only what was charged under the step's key: an unknown outcome may have charged nothing.
          const charges = await undoResources(tx, c);
          for (const charge of charges) {
            await tx.query(`UPDATE demo.account SET balance_cents = balance_cents + $2 WHERE account_id = $1`, [
              charge.account_id,
              charge.amount_cents,
            ]);
          }
        }),
    },
    delivery: {
      create: (c) =>
        effect('delivery', 'create', c, false, async (tx) => ({ deliveryId: await create(tx, 'delivery', 'dlv', c) })),
      cancel: (c) => effect('delivery', 'cancel', c, true, async (tx) => void (await undoResources(tx, c))),
    },
    package: {
      register: (c) =>
        effect('package', 'register', c, false, async (tx) => ({ packageId: await create(tx, 'package', 'pkg', c) })),
      delete: (c) => effect('package', 'delete', c, true, async (tx) => void (await undoResources(tx, c))),
    },
    drone: {
      schedule: (c) =>
        effect('drone', 'schedule', c, false, async (tx) => ({
          droneId: await insertResource(tx, { id: `drn_${randomUUID().slice(0, 8)}`, service: 'drone', call: c }),
          etaMinutes: 12,
        })),
      release: (c) => effect('drone', 'release', c, true, async (tx) => void (await undoResources(tx, c))),
    },
    transport: {
      book: (c) =>
        effect('transport', 'book', c, false, async (tx) => ({ bookingId: await create(tx, 'transport', 'trk', c) })),
      cancel: (c) => effect('transport', 'cancel', c, true, async (tx) => void (await undoResources(tx, c))),
    },
    notification: {
      notify: (c) =>
        effect('notification', 'notify', c, false, async (tx) => ({
          notificationId: await create(tx, 'notification', 'ntf', c),
        })),
    },
  };
}

/** The account's balance, opening it with the demo balance on first use. */
async function balance(tx: PoolClient, accountId: string): Promise<number> {
  await tx.query(`INSERT INTO demo.account (account_id, balance_cents) VALUES ($1, $2) ON CONFLICT DO NOTHING`, [
    accountId,
    DEMO_BALANCE_CENTS,
  ]);
  const { rows } = await tx.query<{ balance_cents: string }>(
    `SELECT balance_cents FROM demo.account WHERE account_id = $1`,
    [accountId],
  );
  return Number(rows[0].balance_cents);
}

async function insertResource(
  tx: PoolClient,
  r: { id: string; service: string; call: Call<unknown>; accountId?: string; amountCents?: number },
): Promise<string> {
  await tx.query(
    `INSERT INTO demo.resource (resource_id, service, saga_id, created_by, status, account_id, amount_cents)
     VALUES ($1, $2, $3, $4, 'ACTIVE', $5, $6)`,
    [r.id, r.service, r.call.sagaId, r.call.idempotencyKey, r.accountId ?? null, r.amountCents ?? null],
  );
  return r.id;
}

/**
 * Undoes what the action created, found by the action's key (the undo key without `:undo`), so that it works
 * when the action's answer was lost too. Nothing there (the action never took effect): a no-op.
 */
async function undoResources(
  tx: PoolClient,
  call: Call<unknown>,
): Promise<{ account_id: string | null; amount_cents: string | null }[]> {
  const actionKey = call.idempotencyKey.replace(/:undo$/, '');
  const { rows } = await tx.query<{ account_id: string | null; amount_cents: string | null }>(
    `UPDATE demo.resource SET status = 'UNDONE', updated_at = clock_timestamp()
      WHERE created_by = $1 AND status = 'ACTIVE' RETURNING account_id, amount_cents`,
    [actionKey],
  );
  return rows;
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason instanceof Error ? signal.reason : new Error('aborted'));
      return;
    }
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener(
      'abort',
      () => {
        clearTimeout(timer);
        reject(signal.reason instanceof Error ? signal.reason : new Error('aborted'));
      },
      { once: true },
    );
  });
}
