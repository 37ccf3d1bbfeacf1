import { type InputCipher, isEnvelope } from '../security/input-cipher';

/**
 * A schedule's input is stored like a saga's: the saga type's sensitive fields sealed (AES-256-GCM), with the
 * schedule as the context, so a sealed value cannot be moved to another schedule or saga. Each tick opens it and
 * starts the saga with the plain input, which the start seals again for that saga.
 */
export function sealScheduleInput(
  cipher: InputCipher | null,
  input: Record<string, unknown>,
  paths: readonly string[],
  scheduleId: string,
): Record<string, unknown> {
  if (paths.length === 0) return input;
  if (!cipher) throw new Error('the saga type has sensitive fields and this process has no encryption key');
  return cipher.seal(input, paths, contextOf(scheduleId)) as Record<string, unknown>;
}

/** Every sealed value of a stored schedule input opened, wherever it is (the type's paths may have changed). */
export function openScheduleInput(
  cipher: InputCipher | null,
  input: Record<string, unknown>,
  scheduleId: string,
): Record<string, unknown> {
  const walk = (value: unknown, path: string): unknown => {
    if (isEnvelope(value)) {
      if (!cipher) throw new Error('the schedule input has sealed fields and this process has no encryption key');
      return cipher.decrypt(value, `${contextOf(scheduleId)}\n${path}`);
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value)) return value;
    return Object.fromEntries(
      Object.entries(value).map(([key, child]) => [key, walk(child, path === '' ? key : `${path}.${key}`)]),
    );
  };
  return walk(input, '') as Record<string, unknown>;
}

function contextOf(scheduleId: string): string {
  return `schedule:${scheduleId}`;
}
