import type { SagaEventView } from '@saga-engine/client';
import { EVENT_HEADER, eventLine, sagaError, sagaText, styleFor, table } from './format';

const plain = styleFor({ colour: false, cut: false });
const terminal = styleFor({ colour: true, cut: true });

describe('format', () => {
  it('aligns columns two spaces apart, without trailing spaces, colour after padding', () => {
    const rows = [
      { name: 'reserve-stock', status: 'SUCCEEDED' },
      { name: 'charge', status: 'FAILED' },
    ];
    const columns = [
      { title: 'STATUS', cell: (r: (typeof rows)[0]) => r.status, paint: terminal.status },
      { title: 'STEP', cell: (r: (typeof rows)[0]) => r.name },
    ];
    expect(table(rows, columns).split('\n')).toEqual([
      'STATUS     STEP',
      '\x1b[32mSUCCEEDED\x1b[0m  reserve-stock',
      '\x1b[31mFAILED   \x1b[0m  charge',
    ]);
  });

  it('cuts long values only at a terminal', () => {
    const long = 'x'.repeat(150);
    expect(plain.cut(long, 100)).toBe(long);
    expect(terminal.cut(long, 100)).toBe(`${'x'.repeat(99)}…`);
    expect(terminal.cut('short', 100)).toBe('short');
  });

  it("tells a saga's error: the step, the code, the message, and whether it was transient", () => {
    expect(sagaError(null)).toBe('');
    expect(sagaError({ step: 'charge', code: 'TIMEOUT', message: 'no answer in 2 s', transient: true })).toBe(
      'charge TIMEOUT: no answer in 2 s (transient)',
    );
    expect(sagaError({ step: null, code: 'CANCELLED', message: 'customer asked', transient: false })).toBe(
      'CANCELLED: customer asked (definite)',
    );
  });

  it('prints events in the columns of the header, however long a value', () => {
    const event: SagaEventView = {
      seq: 12,
      type: 'CancelRequested',
      step: null,
      attempt: null,
      at: '2026-12-01T08:00:00.000Z',
      data: { by: 'key-1 (operator)', reason: 'customer asked' },
    };
    const line = eventLine(event, plain);
    expect(line.indexOf('2026')).toBe(EVENT_HEADER.indexOf('AT'));
    expect(line.indexOf('CancelRequested')).toBe(EVENT_HEADER.indexOf('TYPE'));
    expect(line.indexOf('{"by"')).toBe(EVENT_HEADER.indexOf('DATA'));
  });
});

describe('a saga an operator acted on, step by step', () => {
  it('says which step was re-run (its run) and which was skipped', () => {
    const step = { startedAt: null, finishedAt: null, output: null, error: null, compensation: null };
    const text = sagaText(
      {
        id: 's-1',
        type: 'shipping',
        version: 1,
        status: 'COMPLETED',
        input: {},
        output: null,
        error: null,
        createdAt: '2026-12-01T08:00:00.000Z',
        updatedAt: '2026-12-01T08:00:01.000Z',
        completedAt: '2026-12-01T08:00:01.000Z',
        steps: [
          { ...step, name: 'label', status: 'SUCCEEDED', attempts: 2, run: 1, skipped: false },
          { ...step, name: 'ship', status: 'SUCCEEDED', attempts: 1, run: 0, skipped: true },
          { ...step, name: 'notify', status: 'SUCCEEDED', attempts: 1 },
        ],
      },
      plain,
    );
    const rows = text.split('\n').filter((line) => /^(label|ship|notify) /.test(line));
    expect(rows[0]).toMatch(/^label +SUCCEEDED +2 \(run 2\)/);
    expect(rows[1]).toMatch(/^ship +SUCCEEDED +1 \(skipped by an operator\)/);
    expect(rows[2]).toMatch(/^notify +SUCCEEDED +1$/);
  });
});

describe('a saga with children and a fan-out', () => {
  it('names its parent and children, a child step its child, a fan-out its items done', () => {
    const text = sagaText(
      {
        id: 'p-1',
        type: 'parcel-order',
        version: 1,
        status: 'RUNNING',
        input: {},
        output: null,
        error: null,
        createdAt: '2026-12-01T08:00:00.000Z',
        updatedAt: '2026-12-01T08:00:01.000Z',
        completedAt: null,
        parentId: 'g-1',
        parentStep: 'orders',
        children: [
          {
            id: 'c-1',
            type: 'drone-delivery',
            status: 'RUNNING',
            step: 'fly-express',
            createdAt: '2026-12-01T08:00:00.500Z',
            completedAt: null,
          },
        ],
        steps: [
          {
            name: 'book-parcels',
            status: 'SUCCEEDED',
            attempts: 1,
            startedAt: null,
            finishedAt: null,
            output: null,
            error: null,
            items: { total: 200, counts: { SUCCEEDED: 200 } },
            compensation: null,
          },
          {
            name: 'fly-express',
            status: 'WAITING',
            attempts: 1,
            startedAt: null,
            finishedAt: null,
            output: null,
            error: null,
            child: { id: 'c-1', type: 'drone-delivery', status: 'RUNNING' },
            compensation: null,
          },
        ],
      },
      plain,
    );
    expect(text).toContain('parent   g-1 (its step orders)');
    expect(text).toContain('children c-1 drone-delivery RUNNING (fly-express)');
    expect(text).toMatch(/book-parcels +SUCCEEDED +1 \(200\/200 items\)/);
    expect(text).toMatch(/fly-express +WAITING +1 \(child c-1 RUNNING\)/);
  });
});
