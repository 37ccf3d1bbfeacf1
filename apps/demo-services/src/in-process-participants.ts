import { randomUUID } from 'node:crypto';
import { NonRetryableError, RetryableError } from '@app/sdk';
import type { Call, DroneDeliveryParticipants } from '@app/sagas';
import { DemoLedger } from './demo-ledger';

/** Starting balance of every demo account. */
export const DEMO_BALANCE_CENTS = 1_000_000;

/**
 * The drone-delivery participants as in-process functions, for a first run and for tests: accounts `acc-...`
 * exist (`acc-closed...` are closed), everything else is unknown. They honour the `faults` knobs and apply each
 * operation at most once per idempotency key.
 */
export function inProcessParticipants(ledger = new DemoLedger()): DroneDeliveryParticipants & { ledger: DemoLedger } {
  const balances = new Map<string, number>();
  const balance = (accountId: string) => balances.get(accountId) ?? DEMO_BALANCE_CENTS;

  /** Applies the fault knobs, then the effect once per key. */
  async function effect<T>(
    service: string,
    operation: string,
    call: Call<unknown>,
    undo: boolean,
    apply: () => T,
  ): Promise<T> {
    const fault = call.fault ?? {};
    if (fault.delayMs) await sleep(fault.delayMs, call.signal);
    const fatal = undo ? fault.compensationFatal : fault.fatal;
    const transient = (undo ? fault.compensationTransient : fault.transient) ?? 0;
    if (fatal)
      throw new NonRetryableError(`${service}: ${operation} refused (fault injected)`, { code: 'FAULT_FATAL' });
    if (call.attempt <= transient) {
      throw new RetryableError(`${service}: ${operation} unavailable (fault injected, attempt ${call.attempt})`, {
        code: 'FAULT_TRANSIENT',
      });
    }
    return ledger.once(service, operation, call.sagaId, call.idempotencyKey, apply);
  }

  return {
    ledger,
    account: {
      verify: (c) =>
        effect('account', 'verify', c, false, () => {
          const id = c.payload.accountId;
          if (!id.startsWith('acc-'))
            throw new NonRetryableError(`account ${id} is unknown`, { code: 'ACCOUNT_UNKNOWN' });
          if (id.startsWith('acc-closed'))
            throw new NonRetryableError(`account ${id} is closed`, { code: 'ACCOUNT_CLOSED' });
          return { accountId: id, balanceCents: balance(id) };
        }),
      charge: (c) =>
        effect('account', 'charge', c, false, () => {
          const { accountId, amountCents } = c.payload;
          if (amountCents > balance(accountId)) {
            throw new NonRetryableError(`price ${amountCents} exceeds the balance of ${accountId}`, {
              code: 'INSUFFICIENT_FUNDS',
            });
          }
          balances.set(accountId, balance(accountId) - amountCents);
          return { chargeId: `chg_${randomUUID()}`, balanceCents: balance(accountId) };
        }),
      refund: (c) =>
        effect('account', 'refund', c, true, () => {
          // Refund only what was charged under the step's key: an unknown outcome may have charged nothing.
          if (c.payload.chargeId !== null || chargedFor(ledger, c.sagaId)) {
            balances.set(c.payload.accountId, balance(c.payload.accountId) + c.payload.amountCents);
          }
        }),
    },
    delivery: {
      create: (c) => effect('delivery', 'create', c, false, () => ({ deliveryId: `dlv_${randomUUID()}` })),
      cancel: (c) => effect('delivery', 'cancel', c, true, () => undefined),
    },
    package: {
      register: (c) => effect('package', 'register', c, false, () => ({ packageId: `pkg_${randomUUID()}` })),
      delete: (c) => effect('package', 'delete', c, true, () => undefined),
    },
    drone: {
      schedule: (c) =>
        effect('drone', 'schedule', c, false, () => ({ droneId: `drn_${randomUUID().slice(0, 8)}`, etaMinutes: 12 })),
      release: (c) => effect('drone', 'release', c, true, () => undefined),
    },
    transport: {
      book: (c) => effect('transport', 'book', c, false, () => ({ bookingId: `trk_${randomUUID()}` })),
      cancel: (c) => effect('transport', 'cancel', c, true, () => undefined),
    },
    notification: {
      notify: (c) => effect('notification', 'notify', c, false, () => ({ notificationId: `ntf_${randomUUID()}` })),
    },
  };
}

function chargedFor(ledger: DemoLedger, sagaId: string): boolean {
  return ledger.list(sagaId).some((e) => e.service === 'account' && e.operation === 'charge');
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
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
