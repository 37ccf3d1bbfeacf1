/**
 * The exit codes of `saga`, for scripts (documented in the README and docs/cli.md: a change is a breaking change).
 * Each says who has to act: the caller (1, 2), whoever runs the engine (3), or an operator on the saga (4).
 */
export const ExitCode = {
  /** It did what was asked. */
  OK: 0,
  /** The API refused the request (a 4xx: not found, conflict, bad input, the key's role); also an unexpected error. */
  REFUSED: 1,
  /**
   * The command line is wrong (an unknown flag, a missing argument, bad JSON in `--input`): nothing was sent. Also
   * `bulk` without `--yes` (nor `--dry-run`): the count was shown, nothing was done.
   */
  USAGE: 2,
  /** The engine did not answer (down, unreachable, timed out) or answered 5xx or not as the API does. */
  UNAVAILABLE: 3,
  /**
   * `start --wait`: the saga ended otherwise than COMPLETED, or was still running when the wait ran out. `bulk --wait`
   * and `bulk-job --wait`: the job ended otherwise than COMPLETED, some of its sagas failed, or it still ran.
   */
  NOT_COMPLETED: 4,
  /** Ctrl-C (128 + SIGINT, as shells report it). The saga goes on. */
  INTERRUPTED: 130,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];
