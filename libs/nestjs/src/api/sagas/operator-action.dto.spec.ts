import { plainToInstance } from 'class-transformer';
import { validateSync } from 'class-validator';
import { OperatorActionDto } from './operator-action.dto';

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
