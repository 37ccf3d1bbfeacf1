import { execFile } from 'node:child_process';
import { cpSync, lstatSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { TEST_PG_ADMIN_URL } from './support/urls';

const ROOT = resolve(__dirname, '..');
const EXAMPLE = join(ROOT, 'examples', 'order-service');

function run(
  command: string,
  args: string[],
  options: { cwd: string; env?: NodeJS.ProcessEnv },
): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolveRun, reject) =>
    execFile(
      command,
      args,
      { cwd: options.cwd, env: options.env ?? process.env, maxBuffer: 64 * 1024 * 1024 },
      (error, stdout, stderr) =>
        error
          ? reject(new Error(`${command} ${args.join(' ')} failed:\n${stdout.slice(-4000)}\n${stderr.slice(-4000)}`))
          : resolveRun({ stdout, stderr }),
    ),
  );
}

/**
 * The packages as a stranger gets them: `npm run pack:packages` makes the tarballs, and the order-service example,
 * copied out of the repository into an empty directory, installs them (no workspace, no path into this repository)
 * with the rest of its dependencies from the registry, then passes its own `npm test` (its unit test on the test
 * kit and its end-to-end test against PostgreSQL).
 */
describe('the packages, installed from their tarballs into a copy of the example (e2e)', () => {
  let work = '';
  afterAll(() => {
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('packs, installs and passes the example order service tests', async () => {
    await run(process.execPath, [join(ROOT, 'scripts', 'pack-packages.mjs')], { cwd: ROOT });
    const tarballs = readdirSync(join(ROOT, 'dist', 'packages'))
      .filter((f) => f.endsWith('.tgz'))
      .map((f) => join(ROOT, 'dist', 'packages', f));
    expect(tarballs.map((t) => t.replace(/.*\//, '')).sort()).toEqual([
      'saga-engine-client-0.1.0.tgz',
      'saga-engine-core-0.1.0.tgz',
      'saga-engine-nestjs-0.1.0.tgz',
      'saga-engine-sdk-0.1.0.tgz',
      'saga-engine-testing-0.1.0.tgz',
    ]);

    work = mkdtempSync(join(tmpdir(), 'saga-example-'));
    for (const entry of ['src', 'test', 'package.json', 'tsconfig.json', 'tsconfig.build.json', 'jest.config.cjs']) {
      cpSync(join(EXAMPLE, entry), join(work, entry), { recursive: true });
    }
    const npm = process.env.npm_execpath ? [process.execPath, process.env.npm_execpath] : ['npm'];
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      npm_config_prefer_offline: 'true',
      npm_config_audit: 'false',
      npm_config_fund: 'false',
    };
    delete env.NODE_OPTIONS;
    await run(npm[0], [...npm.slice(1), 'install', ...tarballs], { cwd: work, env });

    // Installed from the tarballs, not linked to this repository.
    const manifest = JSON.parse(readFileSync(join(work, 'package.json'), 'utf8')) as {
      dependencies: Record<string, string>;
      devDependencies: Record<string, string>;
    };
    expect(manifest.dependencies['@saga-engine/nestjs']).toMatch(/^file:.*saga-engine-nestjs-0\.1\.0\.tgz$/);
    expect(manifest.devDependencies['@saga-engine/testing']).toMatch(/^file:/);
    expect(lstatSync(join(work, 'node_modules', '@saga-engine', 'nestjs')).isSymbolicLink()).toBe(false);
    expect(readdirSync(join(work, 'node_modules', '@saga-engine', 'nestjs', 'dist', 'dashboard'))).toContain(
      'index.html',
    );

    const { stdout, stderr } = await run(npm[0], [...npm.slice(1), 'test'], {
      cwd: work,
      env: { ...env, DATABASE_URL: TEST_PG_ADMIN_URL },
    });
    expect(`${stdout}${stderr}`).toMatch(/Tests:\s+8 passed, 8 total/);
    // The example builds as a plain TypeScript project against the packages' declarations.
    await run(npm[0], [...npm.slice(1), 'run', 'build'], { cwd: work, env });
  }, 600_000);
});
