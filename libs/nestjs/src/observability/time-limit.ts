/** Thrown by `within` when the work did not settle in time (the work itself goes on; its result is dropped). */
export class TimeLimitError extends Error {
  override readonly name = 'TimeLimitError';
}

/**
 * `work`, or a TimeLimitError after `ms`. For calls whose own client has no time limit of its own (or a longer one)
 * on a path that must answer quickly. A late rejection of `work` is swallowed (it is nobody's anymore).
 */
export async function within<T>(work: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  work.catch(() => undefined);
  try {
    return await Promise.race([
      work,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new TimeLimitError(message)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
