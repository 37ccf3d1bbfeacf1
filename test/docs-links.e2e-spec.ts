import { execFileSync } from 'node:child_process';
import { join } from 'node:path';

/**
 * Every relative link in README.md, CHANGELOG.md and docs/ resolves: the target file exists, its #anchor matches a
 * heading, and nothing points outside the repository (scripts/check-doc-links.mjs). No engine, no database.
 */
describe('documentation links (e2e)', () => {
  it('scripts/check-doc-links.mjs finds no broken link', () => {
    const root = join(__dirname, '..');
    let output: string;
    try {
      output = execFileSync(process.execPath, [join(root, 'scripts', 'check-doc-links.mjs')], {
        cwd: root,
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'pipe'],
      });
    } catch (error) {
      const { status, stdout, stderr } = error as { status: number | null; stdout: string; stderr: string };
      throw new Error(`check-doc-links exited with ${status}:\n${stdout}${stderr}`, { cause: error });
    }
    expect(output).toMatch(/all resolve/);
  });
});
