/**
 * What the drone-delivery saga needs from its participants. The saga file depends on this class only;
 * drone-delivery.client.ts implements it with the engine's invokers (the demo services of apps/demo-services,
 * reached over @nestjs/microservices and HTTP).
 *
 * Every call carries the idempotency key of the step (`ctx.key`) or of its undo (`ctx.undoKey`): a participant
 * applies each operation at most once per key and answers the same result to a repeat.
 */
export interface Call<T = Record<string, unknown>> {
  sagaId: string;
  idempotencyKey: string;
  attempt: number;
  /** The fault knobs of the step being run (demo and tests only). */
  fault?: StepFault;
  signal?: AbortSignal;
  /** W3C traceparent of the step attempt's span: a remote participant sends it on (HTTP header, message metadata). */
  traceparent?: string;
  /** The knobs of the saga's `await-delivery` wait: when and whether the drone (or carrier) reports the delivery. */
  report?: StepFault;
  payload: T;
}

/** Make a step misbehave, per step name, in the saga input's `faults` (API.md, "The demo saga"). */
export interface StepFault {
  /** Fail the first n attempts with a transient error. */
  transient?: number;
  /** Fail for good. */
  fatal?: boolean;
  /** Answer after this many milliseconds (to trip timeouts). The action only; its compensation answers at once. */
  delayMs?: number;
  /** The same as `transient`, for the step's compensation. */
  compensationTransient?: number;
  /** The same as `fatal`, for the step's compensation. */
  compensationFatal?: boolean;
  /** `await-delivery` only: the drone (or carrier) never reports DeliveryCompleted, so the wait times out. */
  never?: boolean;
}

/** The signal the drone service (or the ground carrier) sends when the parcel arrived; `await-delivery` waits. */
export const DELIVERY_COMPLETED = 'DeliveryCompleted';

/**
 * What a demo participant receives as the invoker's payload (a message's `payload`, or the HTTP body): the saga,
 * the attempt and the fault knobs (the demo's), and the operation's arguments.
 */
export interface DemoRequest<T = Record<string, unknown>> {
  sagaId: string;
  attempt: number;
  fault?: StepFault;
  report?: StepFault;
  args: T;
}

/** The operations the demo services answer as message patterns (the ground carrier answers over HTTP). */
export const DEMO_MESSAGE_OPERATIONS = {
  account: ['verify', 'charge', 'refund'],
  delivery: ['create', 'cancel'],
  package: ['register', 'delete'],
  drone: ['schedule', 'release'],
  notification: ['notify'],
} as const;

/**
 * The message pattern of an operation: `<prefix>.<service>.<operation>`. The prefix (SAGA_REDIS_PREFIX) keeps
 * several engines, or test runs, sharing one Redis apart: the Redis transport is publish/subscribe on these names.
 */
export function demoPattern(prefix: string, service: string, operation: string): string {
  return `${prefix}.${service}.${operation}`;
}

/**
 * The participants of the drone-delivery saga, as its steps call them: the saga's `deps.p`. An abstract class, so
 * that it is both the type and the injection token: an app provides an implementation
 * (`{ provide: DroneDeliveryParticipants, useFactory: ... }`, see DroneDeliveryClientModule) and the engine hands
 * it to the steps; a unit test hands a fake.
 */
export abstract class DroneDeliveryParticipants {
  abstract account: {
    verify(call: Call<{ accountId: string }>): Promise<{ accountId: string; balanceCents: number }>;
    charge(call: Call<{ accountId: string; amountCents: number }>): Promise<{ chargeId: string; balanceCents: number }>;
    refund(call: Call<{ accountId: string; chargeId: string | null; amountCents: number }>): Promise<void>;
  };
  abstract delivery: {
    create(call: Call<{ accountId: string; pickup: LatLng; dropoff: LatLng }>): Promise<{ deliveryId: string }>;
    cancel(call: Call<{ deliveryId: string | null }>): Promise<void>;
  };
  abstract package: {
    register(call: Call<{ deliveryId: string; weightKg: number }>): Promise<{ packageId: string }>;
    delete(call: Call<{ packageId: string | null }>): Promise<void>;
  };
  abstract drone: {
    schedule(
      call: Call<{ deliveryId: string; pickup: LatLng; dropoff: LatLng }>,
    ): Promise<{ droneId: string; etaMinutes: number }>;
    release(call: Call<{ droneId: string | null }>): Promise<void>;
  };
  abstract transport: {
    book(call: Call<{ deliveryId: string; weightKg: number }>): Promise<{ bookingId: string }>;
    cancel(call: Call<{ bookingId: string | null }>): Promise<void>;
  };
  abstract notification: {
    notify(
      call: Call<{ accountId: string; deliveryId: string; contactPhone?: string; message: string }>,
    ): Promise<{ notificationId: string }>;
  };
}

export interface LatLng {
  lat: number;
  lng: number;
}
