/**
 * What the drone-delivery saga needs from its participants. The saga file depends on this interface only; the
 * apps decide how it is reached (in-process functions today, services over the network later).
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
}

export interface DroneDeliveryParticipants {
  account: {
    verify(call: Call<{ accountId: string }>): Promise<{ accountId: string; balanceCents: number }>;
    charge(call: Call<{ accountId: string; amountCents: number }>): Promise<{ chargeId: string; balanceCents: number }>;
    refund(call: Call<{ accountId: string; chargeId: string | null; amountCents: number }>): Promise<void>;
  };
  delivery: {
    create(call: Call<{ accountId: string; pickup: LatLng; dropoff: LatLng }>): Promise<{ deliveryId: string }>;
    cancel(call: Call<{ deliveryId: string | null }>): Promise<void>;
  };
  package: {
    register(call: Call<{ deliveryId: string; weightKg: number }>): Promise<{ packageId: string }>;
    delete(call: Call<{ packageId: string | null }>): Promise<void>;
  };
  drone: {
    schedule(
      call: Call<{ deliveryId: string; pickup: LatLng; dropoff: LatLng }>,
    ): Promise<{ droneId: string; etaMinutes: number }>;
    release(call: Call<{ droneId: string | null }>): Promise<void>;
  };
  transport: {
    book(call: Call<{ deliveryId: string; weightKg: number }>): Promise<{ bookingId: string }>;
    cancel(call: Call<{ bookingId: string | null }>): Promise<void>;
  };
  notification: {
    notify(
      call: Call<{ accountId: string; deliveryId: string; contactPhone?: string; message: string }>,
    ): Promise<{ notificationId: string }>;
  };
}

export interface LatLng {
  lat: number;
  lng: number;
}
