import { IsInt, IsOptional, Max, Min } from 'class-validator';
import { NonRetryableError, defineSaga } from '@saga-engine/sdk';

/** Input of the bench saga: `failAt` (1-5) makes that step fail for good, so the steps before it are undone. */
export class BenchInput {
  @IsOptional()
  @IsInt({ message: 'failAt must be an integer between 1 and 5' })
  @Min(1, { message: 'failAt must be an integer between 1 and 5' })
  @Max(5, { message: 'failAt must be an integer between 1 and 5' })
  failAt?: number;
}

export const BENCH_SAGA = 'bench-five-steps';
export const BENCH_STEPS = ['s1', 's2', 's3', 's4', 's5'] as const;

/** What a step or compensation invocation tells the bench: which attempt ran, and when (performance.now()). */
export type BenchProbe = (sagaId: string, key: string, phase: 'run' | 'undo') => void;

/**
 * The bench's saga (registered only by the bench processes, never by the apps): five steps that return at once,
 * each with a compensation, so that what is measured is the engine and nothing else.
 */
export function benchSaga(probe: BenchProbe) {
  const step = (i: number) => ({
    run: (ctx: { sagaId: string; key: string; attempt: number; input: BenchInput }) => {
      probe(ctx.sagaId, `${ctx.key}#${ctx.attempt}`, 'run');
      if (ctx.input.failAt === i) throw new NonRetryableError('bench: planned failure');
      return { i };
    },
    compensate: (ctx: { sagaId: string; undoKey: string; attempt: number }) => {
      probe(ctx.sagaId, `${ctx.undoKey}#${ctx.attempt}`, 'undo');
    },
  });
  return defineSaga(BENCH_SAGA, {
    version: 1,
    input: BenchInput,
    description: 'Benchmark: five no-op steps, each with a no-op compensation.',
    defaults: { timeout: '10s', compensationTimeout: '10s' },
  })
    .step('s1', step(1))
    .step('s2', step(2))
    .step('s3', step(3))
    .step('s4', step(4))
    .step('s5', step(5))
    .build();
}
