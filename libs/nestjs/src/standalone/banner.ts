/**
 * The start-up summary a person reads: a few aligned lines (what runs, where, with what), logged once after the
 * process listens. Each line is also a log line, so a JSON log keeps it too.
 */
export function startupBanner(title: string, rows: readonly [string, string][]): string[] {
  const width = Math.max(...rows.map(([label]) => label.length));
  return [title, ...rows.map(([label, value]) => `  ${label.padEnd(width)}  ${value}`)];
}
