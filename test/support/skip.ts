/**
 * Conditional tests that never skip in silence: when the condition is false, the test (or each test of the suite)
 * is registered as skipped with the reason in its title, `<title> [skipped: <reason>]`, and the run ends with a
 * list of them (test/support/skip-reporter.cjs). Say in the reason what is missing and how to get it.
 */
export interface ConditionalTest {
  (name: string, fn?: jest.ProvidesCallback, timeout?: number): void;
  each: jest.Each;
}

export type ConditionalDescribe = (name: string, fn: () => void) => void;

const skippedTitle = (name: string, reason: string) => `${name} [skipped: ${reason}]`;

/** `it` when `condition` holds, else `it.skip` with the reason in the title (`.each` as well). */
export function itIf(condition: boolean, reason: string): ConditionalTest {
  if (condition) return it;
  const skipped = (name: string, fn?: jest.ProvidesCallback, timeout?: number) =>
    it.skip(skippedTitle(name, reason), fn, timeout);
  // A `.each` title is a format string: a '%' in the reason must stay a '%'.
  const each = ((...table: unknown[]) => {
    const register = (it.skip.each as (...args: unknown[]) => (name: string, fn: any, timeout?: number) => void)(
      ...table,
    );
    return (name: string, fn: any, timeout?: number) =>
      register(skippedTitle(name, reason.replace(/%/g, '%%')), fn, timeout);
  }) as jest.Each;
  return Object.assign(skipped, { each });
}

/** `describe` when `condition` holds, else `describe.skip` with the reason in the suite's title. */
export function describeIf(condition: boolean, reason: string): ConditionalDescribe {
  if (condition) return describe;
  return (name, fn) => describe.skip(skippedTitle(name, reason), fn);
}
