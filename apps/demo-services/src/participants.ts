import { randomUUID } from 'node:crypto';
import { SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import type { PoolClient } from 'pg';
import { NonRetryableError, RetryableError } from '@saga-engine/sdk';
import type { DemoRequest } from '@demo/sagas';
import { contextFromTraceparent } from '@saga-engine/nestjs';
import { DemoLedger } from './demo-ledger';
import type { DeliveryReporter } from './delivery-reporter';

/** Starting balance of every demo account. */
export const DEMO_BALANCE_CENTS = 1_000_000;

/** One call as a participant sees it, whatever the transport (a message, an HTTP request). */
export interface ParticipantCall<T = Record<string, unknown>> extends DemoRequest<T> {
  idempotencyKey: string;
  /** The caller's W3C traceparent (message metadata, HTTP header): the participant's span is its child. */
  traceparent?: string;
}

type Handler = (call: ParticipantCall<any>) => Promise<unknown>;

/**
 * The drone-delivery participants' logic (the account, delivery, package, drone, notification services and the
 * ground carrier), over PostgreSQL (schema `demo`, see demo-schema.ts): accounts `acc-...` exist (`acc-closed...`
 * are closed), everything else is unknown. They honour the `faults` knobs, apply each operation at most once per
 * idempotency key (DemoLedger: the processed-key row and the effect in one transaction), and keep what they did
 * across crashes. The controllers (participant.controllers.ts) put them behind @nestjs/microservices message
 * patterns and HTTP; a `NonRetryableError` is a definite "no", a `RetryableError` a transient failure.
 */
export class DemoParticipants {
  private readonly handlers: Record<string, Handler>;

  constructor(
    readonly ledger: DemoLedger,
    private readonly reporter: DeliveryReporter,
  ) {
    this.handlers = this.build();
  }

  /** Runs `service.operation` for `call` in a span under the caller's trace. Throws the SDK's error words. */
  run(service: string, operation: string, call: ParticipantCall): Promise<unknown> {
    const handler = this.handlers[`${service}.${operation}`];
    if (!handler)
      throw new NonRetryableError(`${service}.${operation} is not an operation`, { code: 'UNKNOWN_OPERATION' });
    return trace.getTracer('saga-demo-participants').startActiveSpan(
      `participant ${service}.${operation}`,
      {
        kind: SpanKind.SERVER,
        attributes: { 'saga.id': call.sagaId, 'saga.idempotency_key': call.idempotencyKey },
      },
      contextFromTraceparent(call.traceparent),
      async (span) => {
        const done = this.ledger.timing.begin();
        try {
          return await handler(call);
        } catch (error) {
          span.setStatus({ code: SpanStatusCode.ERROR, message: (error as Error).message });
          throw error;
        } finally {
          done();
          span.end();
        }
      },
    );
  }

  private build(): Record<string, Handler> {
    const ledger = this.ledger;
    /** Applies the fault knobs, then the effect once per key. */
    async function effect<T>(
      service: string,
      operation: string,
      call: ParticipantCall<unknown>,
      undo: boolean,
      apply: (tx: PoolClient) => Promise<T>,
    ): Promise<T> {
      const fault = call.fault ?? {};
      // The delay is the action's only, so that a step that hangs can still be undone (compensations have their
      // own knobs: compensationTransient, compensationFatal). The caller's timeout gives up on the answer; the
      // effect still happens, and a repeat (a retry after that timeout) is answered from the ledger at once, as a
      // real service answers from its idempotency record.
      if (!undo && fault.delayMs && !(await ledger.processed(call.idempotencyKey))) await sleep(fault.delayMs);
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
    const create = (tx: PoolClient, service: string, prefix: string, call: ParticipantCall<unknown>, extra = {}) =>
      insertResource(tx, { id: `${prefix}_${randomUUID()}`, service, call, ...extra });

    type C<T> = ParticipantCall<T>;
    type LatLng = { lat: number; lng: number };
    return {
      'account.verify': (c: C<{ accountId: string }>) =>
        effect('account', 'verify', c, false, async (tx) => {
          const id = String(c.args.accountId);
          if (!id.startsWith('acc-'))
            throw new NonRetryableError(`account ${id} is unknown`, { code: 'ACCOUNT_UNKNOWN' });
          if (id.startsWith('acc-closed'))
            throw new NonRetryableError(`account ${id} is closed`, { code: 'ACCOUNT_CLOSED' });
          return { accountId: id, balanceCents: await balance(tx, id) };
        }),
      'account.charge': (c: C<{ accountId: string; amountCents: number }>) =>
        effect('account', 'charge', c, false, async (tx) => {
          const { accountId, amountCents } = c.args;
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
      'account.refund': (c: C<unknown>) =>
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
      'delivery.create': (c: C<{ accountId: string; pickup: LatLng; dropoff: LatLng }>) =>
        effect('delivery', 'create', c, false, async (tx) => ({ deliveryId: await create(tx, 'delivery', 'dlv', c) })),
      'delivery.cancel': (c: C<unknown>) =>
        effect('delivery', 'cancel', c, true, async (tx) => void (await undoResources(tx, c))),
      'package.register': (c: C<{ deliveryId: string; weightKg: number }>) =>
        effect('package', 'register', c, false, async (tx) => ({ packageId: await create(tx, 'package', 'pkg', c) })),
      'package.delete': (c: C<unknown>) =>
        effect('package', 'delete', c, true, async (tx) => void (await undoResources(tx, c))),
      'drone.schedule': async (c: C<{ deliveryId: string }>) => {
        const result = await effect('drone', 'schedule', c, false, async (tx) => ({
          droneId: await insertResource(tx, { id: `drn_${randomUUID().slice(0, 8)}`, service: 'drone', call: c }),
          etaMinutes: 12,
        }));
        // The flight: the drone reports DeliveryCompleted a little later (a repeat reports again; the engine keeps
        // the first).
        this.reporter.deliveryStarted(c.sagaId, { by: 'drone', droneId: result.droneId }, c.report);
        return result;
      },
      'drone.release': (c: C<unknown>) =>
        effect('drone', 'release', c, true, async (tx) => void (await undoResources(tx, c))),
      'transport.book': async (c: C<{ deliveryId: string; weightKg: number }>) => {
        const result = await effect('transport', 'book', c, false, async (tx) => ({
          bookingId: await create(tx, 'transport', 'trk', c),
        }));
        this.reporter.deliveryStarted(c.sagaId, { by: 'transport', bookingId: result.bookingId }, c.report);
        return result;
      },
      'transport.cancel': (c: C<unknown>) =>
        effect('transport', 'cancel', c, true, async (tx) => void (await undoResources(tx, c))),
      'notification.notify': (c: C<{ accountId: string; deliveryId: string; message: string }>) =>
        effect('notification', 'notify', c, false, async (tx) => ({
          notificationId: await create(tx, 'notification', 'ntf', c),
        })),
    };
  }
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
  r: { id: string; service: string; call: ParticipantCall<unknown>; accountId?: string; amountCents?: number },
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
  call: ParticipantCall<unknown>,
): Promise<{ account_id: string | null; amount_cents: string | null }[]> {
  const actionKey = call.idempotencyKey.replace(/:undo$/, '');
  const { rows } = await tx.query<{ account_id: string | null; amount_cents: string | null }>(
    `UPDATE demo.resource SET status = 'UNDONE', updated_at = clock_timestamp()
      WHERE created_by = $1 AND status = 'ACTIVE' RETURNING account_id, amount_cents`,
    [actionKey],
  );
  return rows;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
