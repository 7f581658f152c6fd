/**
 * A platform's SDK is loaded only when that platform is used. Each test runs
 * a child node in which dockerode is "not installed"
 * (test/fixtures/missing-packages.mjs): the process-only paths — the library
 * and `draas up` — work and never try to import it; a Docker worker fails
 * with the package to install.
 */
import test, { type ExecutionContext } from 'ava';
import { execa } from 'execa';
import { existsSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { probeDockerEngine, startPlatformWorker } from '../../src/platform-workers.js';
import { MemoryTransport } from '../../src/transport/memory.js';
import { draasUp } from '../helpers/draas-up.js';
import { takePorts } from '../helpers/port-window.js';
import { doubleExecutable, tempDir } from './_support.js';

const missingPackages = fileURLToPath(new URL('../fixtures/missing-packages.mjs', import.meta.url));
const libraryIndex = fileURLToPath(new URL('../../src/index.ts', import.meta.url));
const cli = fileURLToPath(new URL('../../src/cli.ts', import.meta.url));

/** A temp dir, and what a child without dockerode needs: its node arguments, its environment, the imports it tried. */
async function withoutDockerode(t: ExecutionContext) {
  const dir = await tempDir(t, 'draas-sdk-');
  const log = path.join(dir, 'refused-imports.txt');
  return {
    dir,
    nodeArguments: [`--import=${missingPackages}`],
    env: { DRAAS_TEST_MISSING_PACKAGES: 'dockerode', DRAAS_TEST_MISSING_LOG: log },
    /** Every import of dockerode the child tried, `<specifier> <importer>`. */
    refused: (): string[] => (existsSync(log) ? readFileSync(log, 'utf8').split('\n').filter((line) => line !== '') : []),
  };
}

/** Runs `script` (an ES module; `index` is the library's entry) in a child node without dockerode. */
async function runLibrary(child: Awaited<ReturnType<typeof withoutDockerode>>, script: string, env: Record<string, string>) {
  return execa('node', ['--import=tsx', ...child.nodeArguments, '--input-type=module', '-e', script], {
    reject: false,
    env: { ...child.env, ...env, DRAAS_TEST_INDEX: libraryIndex },
  });
}

test('the library without dockerode: a process-only control plane runs an instance and never imports it', async (t) => {
  const child = await withoutDockerode(t);
  const ports = takePorts(5);
  const script = `
    const { createControlPlane } = await import(process.env.DRAAS_TEST_INDEX);
    const draas = await createControlPlane({
      dataDir: process.env.DATA_DIR, drasiServer: process.env.DOUBLE, ports: JSON.parse(process.env.PORTS),
      platforms: ['process'], startTimeoutMs: 10000, stopGraceMs: 2000, log: () => undefined,
    });
    try {
      await draas.create({ name: 'lazy' });
      const statuses = [(await draas.start('lazy')).status, (await draas.stop('lazy')).status];
      await draas.delete('lazy');
      console.log(JSON.stringify(statuses));
    } finally {
      await draas.close();
    }`;
  const result = await runLibrary(child, script, { DATA_DIR: child.dir, DOUBLE: doubleExecutable, PORTS: JSON.stringify(ports) });
  t.is(result.exitCode, 0, result.stderr);
  t.deepEqual(JSON.parse(result.stdout), ['Running', 'Stopped']);
  t.deepEqual(child.refused(), [], 'nothing tried to import dockerode');
});

test('the library without dockerode: a Docker worker fails with the package to install', async (t) => {
  const child = await withoutDockerode(t);
  const script = `
    const { createControlPlane, MissingPlatformSdkError } = await import(process.env.DRAAS_TEST_INDEX);
    try {
      await createControlPlane({ dataDir: process.env.DATA_DIR, platforms: ['process', 'docker'], log: () => undefined });
      console.log('created');
    } catch (error) {
      console.log(JSON.stringify({ missing: error instanceof MissingPlatformSdkError, packageName: error.packageName, message: error.message }));
    }`;
  const result = await runLibrary(child, script, { DATA_DIR: child.dir });
  t.is(result.exitCode, 0, result.stderr);
  const outcome = JSON.parse(result.stdout) as { missing: boolean; packageName: string; message: string };
  t.true(outcome.missing);
  t.is(outcome.packageName, 'dockerode');
  t.regex(outcome.message, /the docker platform needs the package "dockerode", which is not installed/);
  t.regex(outcome.message, /npm install dockerode/);
  t.true(child.refused().length > 0, 'it was dockerode that was missing');
});

test('draas up --platforms process without dockerode serves and never imports it', async (t) => {
  const child = await withoutDockerode(t);
  const up = draasUp(['--platforms', 'process', '--data-dir', child.dir, '--drasi-server', doubleExecutable], child);
  t.teardown(() => up.child.kill('SIGKILL'));
  const url = await up.url;
  const platforms = (await (await fetch(`${url}/api/platforms`)).json()) as { platforms: { platform: string; workers: unknown[] }[] };
  t.is(platforms.platforms.find((entry) => entry.platform === 'process')?.workers.length, 1);
  up.child.kill('SIGTERM');
  t.is((await up.child).exitCode, 0, up.output());
  t.deepEqual(child.refused(), [], 'nothing tried to import dockerode');
});

test('draas up without --platforms: no engine socket → process only, without importing dockerode', async (t) => {
  const child = await withoutDockerode(t);
  const socket = path.join(child.dir, 'absent-docker.sock');
  const up = draasUp(['--data-dir', child.dir, '--drasi-server', doubleExecutable, '--docker-host', `unix://${socket}`], child);
  t.teardown(() => up.child.kill('SIGKILL'));
  await up.url;
  t.regex(up.output(), new RegExp(`no Docker worker \\(no Docker Engine socket at ${socket}\\); --platforms process,docker insists`));
  t.regex(up.output(), /platforms process;/);
  up.child.kill('SIGTERM');
  await up.child;
  t.deepEqual(child.refused(), [], 'the probe did not load dockerode');
});

test('draas up without --platforms: an engine socket but no dockerode → process only, saying what to install', async (t) => {
  const child = await withoutDockerode(t);
  const socket = path.join(child.dir, 'docker.sock');
  const engine = createServer((connection) => connection.destroy());
  await new Promise<void>((resolve) => engine.listen(socket, resolve));
  t.teardown(() => new Promise<void>((resolve) => engine.close(() => resolve())));
  const up = draasUp(['--data-dir', child.dir, '--drasi-server', doubleExecutable, '--docker-host', `unix://${socket}`], child);
  t.teardown(() => up.child.kill('SIGKILL'));
  await up.url;
  t.regex(up.output(), /no Docker worker \(the docker platform needs the package "dockerode".*npm install dockerode.*\); --platforms process,docker insists/);
  t.regex(up.output(), /platforms process;/);
  up.child.kill('SIGTERM');
  await up.child;
});

test('draas up --platforms docker without dockerode exits 1 and names the package to install', async (t) => {
  const child = await withoutDockerode(t);
  const result = await execa('node', ['--import=tsx', ...child.nodeArguments, cli, 'up', '--port', '0', '--platforms', 'docker', '--data-dir', child.dir], {
    reject: false,
    env: child.env,
    timeout: 30_000,
  });
  t.is(result.exitCode, 1);
  t.regex(result.stderr, /^draas: the docker platform needs the package "dockerode", which is not installed .*run "npm install dockerode"$/m);
});

test('with dockerode installed, the Docker driver loads on demand: a worker at an absent engine starts unavailable, a probe says unreachable', async (t) => {
  const dir = await tempDir(t, 'draas-sdk-');
  const transport = new MemoryTransport();
  t.teardown(() => transport.close());
  const worker = await startPlatformWorker(transport, {
    platform: 'docker',
    dataDir: dir,
    drasiServer: 'unused',
    ports: takePorts(2),
    docker: { host: `unix://${path.join(dir, 'absent.sock')}` },
  });
  t.teardown(() => worker.close());
  t.regex(worker.unavailableReason ?? '', /unreachable/);

  const socket = path.join(dir, 'docker.sock');
  const engine = createServer((connection) => connection.destroy());
  await new Promise<void>((resolve) => engine.listen(socket, resolve));
  t.teardown(() => new Promise<void>((resolve) => engine.close(() => resolve())));
  const probe = await probeDockerEngine(`unix://${socket}`);
  t.false(probe.available);
  t.regex(probe.available ? '' : probe.reason, new RegExp(`Docker Engine at unix://${socket} is unreachable`));
});
