import type { Stats } from '../api';

const W = 760;
const H = 170;
const M = { l: 40, r: 10, t: 10, b: 22 };
const SERIES = [
  ['completed', 'ok'],
  ['compensated', 'comp'],
  ['cancelled', 'muted'],
  ['failed', 'bad'],
] as const;

/**
 * Throughput (sagas that ended per bucket, stacked by outcome, with the started count as a line) and failure rate
 * (compensated + failed over all that ended, per bucket). Plain SVG: two charts do not justify a chart library.
 */
export function ThroughputChart({ stats }: { stats: Stats }) {
  const s = stats.series;
  const n = Math.max(1, s.length);
  const max = Math.max(1, ...s.map((b) => Math.max(b.started, b.completed + b.compensated + b.cancelled + b.failed)));
  const bw = (W - M.l - M.r) / n;
  const y = (v: number) => M.t + (H - M.t - M.b) * (1 - v / max);
  const line = s.map((b, i) => `${i === 0 ? 'M' : 'L'}${M.l + i * bw + bw / 2},${y(b.started)}`).join(' ');
  return (
    <figure className="chart" data-testid="throughput-chart">
      <figcaption>
        Throughput per {formatBucket(stats.bucketMs)}: ended by outcome (bars), started (line)
        <Legend />
      </figcaption>
      <svg viewBox={`0 0 ${W} ${H}`} role="img" aria-label="Throughput">
        <Axis max={max} y={y} />
        {s.map((b, i) => {
          let base = 0;
          return SERIES.map(([key, cls]) => {
            const v = b[key];
            if (v === 0) return null;
            const top = y(base + v);
            const h = y(base) - top;
            base += v;
            return (
              <rect
                key={`${i}-${key}`}
                x={M.l + i * bw + 0.5}
                y={top}
                width={Math.max(1, bw - 1)}
                height={h}
                className={`bar ${cls}`}
              >
                <title>{`${new Date(b.at).toLocaleTimeString()}: ${v} ${key}`}</title>
              </rect>
            );
          });
        })}
        <path d={line} className="line started" />
        <TimeLabels stats={stats} />
      </svg>
    </figure>
  );
}

export function FailureRateChart({ stats }: { stats: Stats }) {
  const s = stats.series;
  const n = Math.max(1, s.length);
  const bw = (W - M.l - M.r) / n;
  const y = (v: number) => M.t + (H - M.t - M.b) * (1 - v);
  const points = s
    .map((b, i) => {
      const ended = b.completed + b.compensated + b.cancelled + b.failed;
      return ended === 0 ? null : { x: M.l + i * bw + bw / 2, rate: (b.compensated + b.failed) / ended, ended };
    })
    .filter((p): p is { x: number; rate: number; ended: number } => p !== null);
  return (
    <figure className="chart" data-testid="failure-chart">
      <figcaption>Failure rate per {formatBucket(stats.bucketMs)}: (compensated + failed) / ended</figcaption>
      <svg viewBox={`0 0 ${W} ${H}`} role="img" aria-label="Failure rate">
        {[0, 0.5, 1].map((v) => (
          <g key={v}>
            <line x1={M.l} x2={W - M.r} y1={y(v)} y2={y(v)} className="grid" />
            <text x={M.l - 4} y={y(v) + 4} className="tick" textAnchor="end">
              {Math.round(v * 100)}%
            </text>
          </g>
        ))}
        <path d={points.map((p, i) => `${i === 0 ? 'M' : 'L'}${p.x},${y(p.rate)}`).join(' ')} className="line rate" />
        {points.map((p) => (
          <circle key={p.x} cx={p.x} cy={y(p.rate)} r={2.5} className="dot rate">
            <title>{`${Math.round(p.rate * 100)}% of ${p.ended}`}</title>
          </circle>
        ))}
        {points.length === 0 && (
          <text x={W / 2} y={H / 2} textAnchor="middle" className="tick">
            no saga ended in this window
          </text>
        )}
        <TimeLabels stats={stats} />
      </svg>
    </figure>
  );
}

function Axis({ max, y }: { max: number; y: (v: number) => number }) {
  const ticks = [0, Math.round(max / 2), max].filter((v, i, a) => a.indexOf(v) === i);
  return (
    <>
      {ticks.map((v) => (
        <g key={v}>
          <line x1={M.l} x2={W - M.r} y1={y(v)} y2={y(v)} className="grid" />
          <text x={M.l - 4} y={y(v) + 4} className="tick" textAnchor="end">
            {v}
          </text>
        </g>
      ))}
    </>
  );
}

function TimeLabels({ stats }: { stats: Stats }) {
  const s = stats.series;
  if (s.length === 0) return null;
  const bw = (W - M.l - M.r) / s.length;
  const every = Math.max(1, Math.ceil(s.length / 6));
  const long = stats.windowMs > 24 * 3_600_000;
  return (
    <>
      {s.map((b, i) =>
        i % every === 0 ? (
          <text key={b.at} x={M.l + i * bw} y={H - 6} className="tick">
            {long
              ? new Date(b.at).toLocaleDateString(undefined, { month: 'short', day: 'numeric' })
              : new Date(b.at).toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit', hour12: false })}
          </text>
        ) : null,
      )}
    </>
  );
}

function Legend() {
  return (
    <span className="legend">
      {SERIES.map(([key, cls]) => (
        <span key={key}>
          <i className={`swatch ${cls}`} /> {key}
        </span>
      ))}
      <span>
        <i className="swatch started" /> started
      </span>
    </span>
  );
}

function formatBucket(ms: number): string {
  if (ms < 60_000) return `${ms / 1000} s`;
  if (ms < 3_600_000) return `${ms / 60_000} min`;
  return `${ms / 3_600_000} h`;
}
