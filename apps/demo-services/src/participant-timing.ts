/** What `GET /v1/demo/timing` answers: the demo participants' own time per call since the last reset. */
export interface TimingSummary {
  /** Calls that ended (answered or failed) since the last reset. */
  calls: number;
  /** From the message (or HTTP request) reaching the participant to its answer: queueing for a connection included. */
  handlerMs: { mean: number; p50: number; p99: number; max: number };
  /** Of that, the wait for a connection of the participants' PostgreSQL pool (their own queue). */
  poolWaitMs: { mean: number; p99: number };
  /** The most calls the participants handled at once. */
  maxInFlight: number;
}

/** Samples kept per series: a bench run stays well under this; beyond it the oldest are overwritten. */
export const MAX_SAMPLES = 500_000;

/**
 * The demo participants' own timing (in this process's memory): how long each call took them, how long of it they
 * waited for a database connection, and how many ran at once. A bench reads it to tell where a saga's time goes:
 * in the engine, on the transport, or in the participant (docs/performance.md, scenario (g)).
 */
export class ParticipantTiming {
  private handler = new Samples();
  private poolWait = new Samples();
  private inFlight = 0;
  private maxInFlight = 0;

  /** A call begins; the answer ends it (call it once). */
  begin(): () => void {
    const t0 = performance.now();
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    return () => {
      this.inFlight--;
      this.handler.add(performance.now() - t0);
    };
  }

  /** A transaction waited this long for its connection. */
  waited(ms: number): void {
    this.poolWait.add(ms);
  }

  summary(): TimingSummary {
    const h = this.handler.sorted();
    const w = this.poolWait.sorted();
    return {
      calls: h.length,
      handlerMs: { mean: mean(h), p50: pct(h, 50), p99: pct(h, 99), max: h.length ? h[h.length - 1] : 0 },
      poolWaitMs: { mean: mean(w), p99: pct(w, 99) },
      maxInFlight: this.maxInFlight,
    };
  }

  reset(): void {
    this.handler = new Samples();
    this.poolWait = new Samples();
    this.maxInFlight = this.inFlight;
  }
}

/** The last MAX_SAMPLES values of a series: once full, each new one overwrites the oldest (no shifting). */
class Samples {
  private readonly values: number[] = [];
  private next = 0;

  add(value: number): void {
    if (this.values.length < MAX_SAMPLES) this.values.push(value);
    else this.values[this.next] = value;
    this.next = (this.next + 1) % MAX_SAMPLES;
  }

  sorted(): Float64Array {
    return Float64Array.from(this.values).sort();
  }
}

const mean = (values: Float64Array) => (values.length ? values.reduce((s, v) => s + v, 0) / values.length : 0);
const pct = (values: Float64Array, p: number) =>
  values.length ? values[Math.min(values.length - 1, Math.floor((p / 100) * values.length))] : 0;
