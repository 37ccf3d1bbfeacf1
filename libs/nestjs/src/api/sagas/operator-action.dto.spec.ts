import { plainToInstance } from 'class-transformer';
import { validateSync } from 'class-validator';
import { OperatorActionDto, SkipStepDto } from './operator-action.dto';
import { skipOutputProblem } from './operator-actions';

function messages(body: unknown): string[] {
  const dto = plainToInstance(OperatorActionDto, body);
  return validateSync(dto, { whitelist: true, forbidNonWhitelisted: true }).flatMap((e) =>
    Object.values(e.constraints ?? {}),
  );
}

describe('OperatorActionDto', () => {
  it.each([
    [{}, 'reason must be a string of 1 to 500 characters'],
    [{ reason: null }, 'reason must be a string of 1 to 500 characters'],
    [{ reason: 42 }, 'reason must be a string of 1 to 500 characters'],
    [{ reason: ['a'] }, 'reason must be a string of 1 to 500 characters'],
    [{ reason: '' }, 'reason must not be empty'],
    [{ reason: ' \t\n ' }, 'reason must not be empty'],
    [{ reason: 'x'.repeat(501) }, 'reason must be at most 500 characters'],
    [{ reason: 'first\nsecond' }, 'reason must not contain control characters'],
    [{ reason: 'bell\u0007' }, 'reason must not contain control characters'],
  ])('refuses %j with one message naming reason', (body, message) => {
    expect(messages(body)).toEqual([message]);
  });

  it('trims, and counts characters rather than UTF-16 units', () => {
    const dto = plainToInstance(OperatorActionDto, { reason: '  customer asked  ' });
    expect(validateSync(dto)).toEqual([]);
    expect(dto.reason).toBe('customer asked');
    expect(messages({ reason: '🚁'.repeat(500) })).toEqual([]);
    expect(messages({ reason: ` ${'x'.repeat(500)} ` })).toEqual([]);
  });
});

describe('SkipStepDto and skipOutputProblem', () => {
  const skipMessages = (body: unknown) =>
    validateSync(plainToInstance(SkipStepDto, body), { whitelist: true, forbidNonWhitelisted: true }).flatMap((e) =>
      Object.values(e.constraints ?? {}),
    );

  it('lets any JSON value through the DTO as output (checked by skipOutputProblem), never another field', () => {
    for (const output of [null, 0, 'text', [1, 2], { a: { b: true } }]) {
      expect(skipMessages({ reason: 'by hand', output })).toEqual([]);
      expect(skipOutputProblem({ output })).toBeNull();
    }
    expect(skipMessages({ reason: 'by hand', output: {}, extra: 1 })).toEqual(['property extra should not exist']);
  });

  it('names output when it is missing or cannot be stored as a step output', () => {
    expect(skipOutputProblem({})).toMatch(/^output is required/);
    expect(skipOutputProblem({ output: undefined })).toMatch(/^output is required/);
    expect(skipOutputProblem({ output: { text: 'x'.repeat(300_000) } })).toBe('output: is larger than 262144 bytes');
    let deep: unknown = 1;
    for (let i = 0; i < 70; i++) deep = { deep };
    expect(skipOutputProblem({ output: deep })).toBe('output: is nested deeper than 64 levels');
    expect(skipOutputProblem({ output: { note: 'a\u0000b' } })).toBe('output: holds a NUL character (\\u0000)');
  });
});
