import { useLayoutEffect, useRef, useState } from 'react';
import type { SagaDefinitionView, StepDefinitionView, StepView } from '../api';
import { statusClass } from './common';

const COL = 190;
const NODE_W = 160;
const NODE_H = 46;
const ROW = 60;
const PAD = 16;
const LANE_GAP = 56;
/** Room for a label inside a node: its width less the left inset and a margin on the right (the pivot dot). */
const LABEL_W = NODE_W - 24;
/** The saga statuses in which done steps are being (or still have to be) undone. */
const UNDOING = new Set(['COMPENSATING', 'FAILED', 'CANCELLED', 'COMPENSATED']);
/** Forward statuses of a step whose effect may be in place, so that undoing the saga undoes it. */
const DONE = new Set(['SUCCEEDED', 'RUNNING', 'RETRYING', 'SCHEDULED']);

interface Props {
  definition: SagaDefinitionView;
  /** The instance's steps, for live status; absent on the saga types page. */
  steps?: StepView[];
  onSelect?: (step: string) => void;
  selected?: string | null;
  /** The instance's status: it tells "to undo" from "not needed" for an undo that has not run. */
  sagaStatus?: string;
}

/**
 * The definition as two lanes: forward (left to right, one column per stage, parallel steps stacked) and, under
 * it, the compensations (right to left, as they run). Hand-made SVG: a definition is a sequence of stages, so the
 * layout is a grid and needs no graph-layout library. Text is SVG <text>: shown as text, never parsed as markup.
 */
export function SagaGraph({ definition, steps, onSelect, selected, sagaStatus }: Props) {
  const byName = new Map(steps?.map((s) => [s.name, s]) ?? []);
  const defs = new Map(definition.steps.map((s) => [s.name, s]));
  const stages = definition.stages;
  const rows = Math.max(1, ...stages.map((s) => s.steps.length));
  const forwardH = rows * ROW;
  const compTop = PAD + 22 + forwardH + LANE_GAP;
  const width = PAD * 2 + stages.length * COL;
  const height = compTop + 22 + forwardH + PAD;
  const pos = (stage: number, row: number, lane: 'fwd' | 'comp') => ({
    x: PAD + stage * COL,
    y: (lane === 'fwd' ? PAD + 22 : compTop + 22) + row * ROW,
  });

  const edges: { x1: number; y1: number; x2: number; y2: number; comp: boolean }[] = [];
  stages.forEach((stage, i) => {
    if (i === 0) return;
    const prev = stages[i - 1];
    prev.steps.forEach((_, a) =>
      stage.steps.forEach((_, b) => {
        const p = pos(i - 1, a, 'fwd');
        const q = pos(i, b, 'fwd');
        edges.push({ x1: p.x + NODE_W, y1: p.y + NODE_H / 2, x2: q.x, y2: q.y + NODE_H / 2, comp: false });
      }),
    );
  });
  // Compensations run in reverse stage order: an arrow from each compensable stage to the previous one that has any.
  const compStages = stages
    .map((s, i) => ({ i, rows: s.steps.map((n, r) => ({ n, r })).filter(({ n }) => defs.get(n)?.compensation) }))
    .filter((s) => s.rows.length > 0);
  compStages.forEach((stage, k) => {
    if (k === 0) return;
    const prev = compStages[k - 1];
    stage.rows.forEach(({ r: a }) =>
      prev.rows.forEach(({ r: b }) => {
        const p = pos(stage.i, a, 'comp');
        const q = pos(prev.i, b, 'comp');
        edges.push({ x1: p.x, y1: p.y + NODE_H / 2, x2: q.x + NODE_W, y2: q.y + NODE_H / 2, comp: true });
      }),
    );
  });

  return (
    <div className="graph-scroll" data-testid="saga-graph">
      <svg width={width} height={height} role="img" aria-label={`Graph of ${definition.name}`}>
        <defs>
          <marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto">
            <path d="M0,0 L10,5 L0,10 z" className="arrow-head" />
          </marker>
        </defs>
        <text x={PAD} y={PAD + 10} className="lane-label">
          Forward →
        </text>
        <text x={PAD} y={compTop + 10} className="lane-label">
          ← Compensation (runs right to left)
        </text>
        {edges.map((e, i) => (
          <path
            key={i}
            d={`M${e.x1},${e.y1} C${(e.x1 + e.x2) / 2},${e.y1} ${(e.x1 + e.x2) / 2},${e.y2} ${e.x2},${e.y2}`}
            className={e.comp ? 'edge comp' : 'edge'}
            markerEnd="url(#arrow)"
          />
        ))}
        {stages.map((stage, i) =>
          stage.steps.map((name, r) => {
            const def = defs.get(name);
            const live = byName.get(name);
            const p = pos(i, r, 'fwd');
            const status = live?.status ?? 'definition';
            const subtitle = live
              ? `${live.status}${live.attempts > 1 ? ` · ${live.attempts} attempts` : ''}`
              : [
                  def?.conditional ? 'conditional' : null,
                  def?.signal ? `waits: ${def.signal}` : null,
                  def?.pivot ? 'pivot' : null,
                ]
                  .filter(Boolean)
                  .join(' · ') || (stage.group ? `parallel: ${stage.group}` : `stage ${stage.index + 1}`);
            return (
              <g
                key={`f-${name}`}
                transform={`translate(${p.x},${p.y})`}
                className={`node ${live ? statusClass(live.status) : 'def'}${selected === name ? ' selected' : ''}`}
                data-step={name}
                data-status={status}
                onClick={onSelect ? () => onSelect(name) : undefined}
              >
                <title>{`${name}: ${status}${def?.description ? ` — ${def.description}` : ''}`}</title>
                <rect width={NODE_W} height={NODE_H} rx={7} />
                <FitText x={10} y={19} className="node-name" text={name} />
                <FitText x={10} y={36} className="node-sub" text={subtitle} />
                {def?.pivot && <circle cx={NODE_W - 10} cy={10} r={4} className="pivot-dot" />}
              </g>
            );
          }),
        )}
        {stages.map((stage, i) =>
          stage.steps.map((name, r) => {
            const def = defs.get(name);
            if (!def?.compensation) return null;
            const live = byName.get(name);
            const comp = live?.compensation ?? null;
            const p = pos(i, r, 'comp');
            const status = comp?.status ?? (steps ? undoState(def, live, sagaStatus) : 'compensation');
            const label = comp ? compLabel(comp.status) : status;
            return (
              <g
                key={`c-${name}`}
                transform={`translate(${p.x},${p.y})`}
                className={`node comp-node ${comp ? statusClass(comp.status) : 'def'}`}
                data-comp-step={name}
                data-status={status}
                onClick={onSelect ? () => onSelect(name) : undefined}
              >
                <title>{`undo ${name}: ${label}`}</title>
                <rect width={NODE_W} height={NODE_H} rx={7} />
                <FitText x={10} y={19} className="node-name" text={`undo ${name}`} />
                <FitText
                  x={10}
                  y={36}
                  className="node-sub"
                  text={`${label}${comp && comp.attempts > 1 ? ` · ${comp.attempts} attempts` : ''}`}
                />
              </g>
            );
          }),
        )}
      </svg>
    </div>
  );
}

/**
 * An undo that has not run: "to undo" when the step's effect may be in place and the saga is undoing (or stopped
 * FAILED with it still to do), "not needed" when the step never ran (or was skipped), "standby" while the saga
 * still goes forward.
 */
function undoState(
  def: StepDefinitionView | undefined,
  live: StepView | undefined,
  sagaStatus: string | undefined,
): string {
  if (!live || !DONE.has(live.status) || !def?.compensation) return 'not needed';
  return sagaStatus && UNDOING.has(sagaStatus) ? 'to undo' : 'standby';
}

/** An undo that ran (or runs), in words: SUCCEEDED is "undone". */
function compLabel(status: string): string {
  return status === 'SUCCEEDED' ? 'undone' : status === 'RESOLVED' ? 'resolved by hand' : status;
}

/**
 * SVG text cut to fit its node, measured in the browser (font widths vary), with an ellipsis; the node's <title>
 * carries the whole text.
 */
function FitText({ x, y, className, text }: { x: number; y: number; className: string; text: string }) {
  const ref = useRef<SVGTextElement>(null);
  // How many characters of `text` fit; measured with the whole text rendered, then kept until the text changes.
  const [fit, setFit] = useState<{ text: string; chars: number } | null>(null);
  const measured = fit?.text === text;
  useLayoutEffect(() => {
    const el = ref.current;
    if (measured || !el || typeof el.getSubStringLength !== 'function' || text.length === 0) return;
    let chars = text.length;
    if (el.getComputedTextLength() > LABEL_W) {
      // Leave room for the ellipsis (about a character and a half).
      const room = LABEL_W - 1.5 * (el.getComputedTextLength() / text.length);
      chars = 0;
      while (chars < text.length && el.getSubStringLength(0, chars + 1) <= room) chars++;
    }
    setFit({ text, chars });
  }, [text, measured]);
  const shown = measured && fit.chars < text.length ? `${text.slice(0, fit.chars)}…` : text;
  return (
    <text ref={ref} x={x} y={y} className={className}>
      {shown}
    </text>
  );
}
