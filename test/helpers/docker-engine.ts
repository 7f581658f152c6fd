/**
 * A Docker Engine for the Docker suites, found in this order:
 * 1. `DRAAS_DOCKER_HOST` (what `.ci/run` exports for the dockerd it started);
 * 2. a private `dockerd` started for this test file, when `dockerd` is on
 *    PATH and we are root (own data root, exec root and socket, removed
 *    afterwards; no bridge, no iptables: the tests use host networking).
 * Otherwise the suite registers one SKIPPED notice on a laptop, and fails
 * loudly when DRAAS_REQUIRE_ENGINES=1 (CI).
 *
 * The engine must never reach a registry: every image comes from
 * `testImage()` (a `docker import` of a local root filesystem).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import test from 'ava';
import Docker from 'dockerode';
import { dockerConnectionOptions } from '../../src/platforms/docker-connection.js';
import { inert, onPath, type AvaTest } from './engines.js';

export interface DockerEngine {
  /** A DOCKER_HOST value (`unix:///…`). */
  readonly host: string;
  readonly docker: Docker;
}

async function pingable(docker: Docker): Promise<boolean> {
  try {
    await docker.ping();
    return true;
  } catch {
    return false;
  }
}

const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

let ownDaemon: ChildProcess | undefined;
let ownDir: string | undefined;
process.once('exit', () => {
  ownDaemon?.kill('SIGKILL');
  if (ownDir) removeDaemonDir(ownDir);
});

/**
 * dockerd leaves mounts under its exec root (`exec/netns/default`) that make
 * the folder busy: unmount what lies below `dir` (deepest first), then remove it.
 */
function removeDaemonDir(dir: string): void {
  const mounts = readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((line) => line.split(' ')[4] ?? '')
    .filter((mountPoint) => mountPoint.startsWith(dir + path.sep))
    .sort((a, b) => b.length - a.length);
  for (const mountPoint of mounts) spawnSync('umount', ['-l', mountPoint], { stdio: 'ignore' });
  rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
}

/** Starts a private dockerd and resolves once it answers /_ping (bounded: 30 s). */
async function startOwnDaemon(): Promise<DockerEngine> {
  // Short paths: a unix socket path is limited to ~108 bytes.
  const dir = mkdtempSync(path.join('/tmp', 'dd-'));
  ownDir = dir;
  const socket = path.join(dir, 'docker.sock');
  const child = spawn(
    'dockerd',
    [
      '--data-root', path.join(dir, 'root'),
      '--exec-root', path.join(dir, 'exec'),
      '--pidfile', path.join(dir, 'docker.pid'),
      '-H', `unix://${socket}`,
      '--bridge=none',
      '--iptables=false',
      '--ip6tables=false',
    ],
    { stdio: 'ignore' },
  );
  ownDaemon = child;
  const host = `unix://${socket}`;
  const docker = new Docker(dockerConnectionOptions({ dockerHost: host }));
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`dockerd exited with code ${child.exitCode} before it was ready`);
    if (await pingable(docker)) return { host, docker };
    await delay(100);
  }
  child.kill('SIGKILL');
  throw new Error('dockerd did not answer /_ping within 30 s');
}

let engine: Promise<DockerEngine | undefined> | undefined;

async function findEngine(): Promise<DockerEngine | undefined> {
  const given = process.env.DRAAS_DOCKER_HOST;
  if (given) {
    const docker = new Docker(dockerConnectionOptions({ dockerHost: given }));
    if (await pingable(docker)) return { host: given, docker };
    throw new Error(`DRAAS_DOCKER_HOST=${given} does not answer /_ping`);
  }
  if (onPath('dockerd') && process.getuid?.() === 0) return startOwnDaemon();
  return undefined;
}

/** The engine for this test file (found or started once). */
export function dockerEngine(): Promise<DockerEngine> {
  return (engine ??= findEngine()).then((found) => {
    if (!found) throw new Error('no Docker Engine');
    return found;
  });
}

/**
 * `test`, or an inert stand-in plus one SKIPPED notice when no engine can be
 * had (neither DRAAS_DOCKER_HOST nor a dockerd we may start).
 */
export function testWithDocker(suite: string): { test: AvaTest; available: boolean } {
  const possible = Boolean(process.env.DRAAS_DOCKER_HOST) || (onPath('dockerd') && process.getuid?.() === 0);
  if (possible) {
    test.after.always(async () => {
      if (!ownDaemon) return;
      const exited = new Promise((resolve) => ownDaemon!.once('exit', resolve));
      ownDaemon.kill('SIGTERM');
      await Promise.race([exited, delay(10_000)]);
      ownDaemon.kill('SIGKILL');
      if (ownDir) removeDaemonDir(ownDir);
      ownDir = undefined;
    });
    return { test, available: true };
  }
  const message = `${suite}: no Docker Engine (set DRAAS_DOCKER_HOST, or run as root with dockerd on PATH)`;
  if (process.env.DRAAS_REQUIRE_ENGINES === '1') throw new Error(`${message}, and DRAAS_REQUIRE_ENGINES=1 requires one`);
  test(`${suite}: SKIPPED — no Docker Engine (set DRAAS_DOCKER_HOST or DRAAS_REQUIRE_ENGINES=1 to make this a failure)`, (t) => {
    t.log(message);
    t.pass();
  });
  return { test: inert, available: false };
}
