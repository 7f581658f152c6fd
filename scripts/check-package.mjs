#!/usr/bin/env node
/**
 * Checks the package the way a user gets it (npm run check:package; .ci/run
 * runs it after the tests). In a temp folder:
 *
 * 1. `npm pack` (which builds dist/ afresh) and a look at what it holds:
 *    LICENSE, README, the docs the README names, no source maps, no file in
 *    dist/ without a source in src/;
 * 2. an empty project: `npm install --omit=dev <tarball>`; dockerode and
 *    @kubernetes/client-node (optional dependencies) must be installed by it;
 * 3. `draas --version`, `draas --help`;
 * 4. `draas up --platforms process` with the Drasi Server double: one
 *    instance created, started, stopped and deleted over HTTP, and the web
 *    console's page and assets served;
 * 5. the same through the library from a plain ESM script and a CommonJS
 *    one (`require('draas')`, Node >= 20.19 loads ES modules that way), and
 *    a Docker and a Kubernetes worker built on demand (their SDKs load from
 *    the install; neither platform is reachable, so both are unavailable);
 * 6. a strict `tsc` (skipLibCheck off) of a TypeScript consumer, with only
 *    TypeScript added to what the install brought.
 *
 * Every process it started and the temp folder are removed at the end, also
 * on failure or Ctrl-C (DRAAS_KEEP_PACKAGE_CHECK=1 keeps the folder). Needs
 * the repository's own `npm ci` (to build, and for the double's yaml) and
 * the npm registry. Takes about 1–2 minutes.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = fileURLToPath(new URL('..', import.meta.url));
const double = path.join(repo, 'test', 'fixtures', 'drasi-server-double.mjs');
const { version } = JSON.parse(readFileSync(path.join(repo, 'package.json'), 'utf8'));
// Ports for the Drasi Servers: below the kernel's ephemeral range and above the windows the
// test suites claim (10000-31999, test/helpers/port-window.ts), so a run next to them collides with nothing.
const serverPorts = '32000-32099';

const began = Date.now();
const root = mkdtempSync(path.join(os.tmpdir(), 'draas-package-check-'));
const project = path.join(root, 'project');
/** Children still running, killed (with their process group) by the clean-up. */
const running = new Set();

function step(title) {
  process.stdout.write(`== ${title} (${((Date.now() - began) / 1000).toFixed(1)} s)\n`);
}

class CheckFailed extends Error {}

function check(condition, message) {
  if (!condition) throw new CheckFailed(message);
}

/** Runs a command to its end; throws with its output when it fails or outlives `timeoutMs`. */
function run(command, args, { cwd = project, env = {}, timeoutMs = 120_000 } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    running.add(child);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk) => (stderr += chunk));
    const timer = setTimeout(() => killGroup(child, 'SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      running.delete(child);
      const what = `${command} ${args.join(' ')}`;
      if (code === 0) resolve({ stdout, stderr });
      else reject(new CheckFailed(`${what} ${signal ? `was killed (${signal}; limit ${timeoutMs} ms)` : `exited ${code}`}\n--- stdout\n${stdout}--- stderr\n${stderr}`));
    });
  });
}

function killGroup(child, signal) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // already gone
  }
}

/** Pids of live processes whose command line mentions `fragment` (Linux: /proc; elsewhere none). */
function pidsMentioning(fragment) {
  if (!existsSync('/proc')) return [];
  const pids = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes(fragment)) pids.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

/** Kills what this check started — its children, and any Drasi Server (double) of its temp folder — then removes the folder. */
function cleanUp() {
  for (const child of running) killGroup(child, 'SIGKILL');
  for (const pid of pidsMentioning(root)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone meanwhile
    }
  }
  if (process.env.DRAAS_KEEP_PACKAGE_CHECK === '1') process.stdout.write(`== kept ${root}\n`);
  else rmSync(root, { recursive: true, force: true, maxRetries: 3 });
}

for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    process.stderr.write(`== ${signal}: cleaning up\n`);
    cleanUp();
    process.exit(130);
  });
}

async function http(method, url, body) {
  const response = await fetch(url, {
    method,
    ...(body !== undefined ? { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } } : {}),
    signal: AbortSignal.timeout(60_000),
  });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : undefined };
}

async function pack() {
  step('packing (npm pack builds dist/ afresh)');
  const packDir = path.join(root, 'pack');
  mkdirSync(packDir);
  await run('npm', ['pack', '--pack-destination', packDir], { cwd: repo, timeoutMs: 300_000 });
  const [tarball] = readdirSync(packDir).filter((name) => name.endsWith('.tgz'));
  check(tarball !== undefined, `npm pack left no tarball in ${packDir}`);
  return path.join(packDir, tarball);
}

/** Every file under `dir`, relative to it, with "/" separators. */
function filesUnder(dir, prefix = '') {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? filesUnder(path.join(dir, entry.name), `${prefix}${entry.name}/`) : [`${prefix}${entry.name}`],
  );
}

/** What the package holds: `installed` is node_modules/draas, the tarball's files exactly. */
function checkContents(installed) {
  step('checking what the package holds');
  const files = filesUnder(installed);
  for (const required of ['LICENSE', 'README.md', 'package.json', 'dist/index.js', 'dist/index.d.ts', 'dist/cli.js']) {
    check(files.includes(required), `the package lacks ${required}`);
  }
  check(/Apache License\s+Version 2\.0, January 2004/.test(readFileSync(path.join(installed, 'LICENSE'), 'utf8')), 'LICENSE is not the Apache License 2.0');
  const manifest = JSON.parse(readFileSync(path.join(installed, 'package.json'), 'utf8'));
  check(manifest.license === 'Apache-2.0', `package.json: license is ${manifest.license}`);
  for (const field of ['repository', 'homepage', 'bugs']) check(manifest[field] !== undefined, `package.json has no ${field}`);
  // Every file the README names — a Markdown link or a `docs/…` path — is in the package.
  const readme = readFileSync(path.join(installed, 'README.md'), 'utf8');
  const named = new Set([
    ...[...readme.matchAll(/\]\(([^)#\s]+)(?:#[^)]*)?\)/g)].map((match) => match[1]).filter((target) => !/^[a-z]+:/.test(target)),
    ...[...readme.matchAll(/`(docs\/[^`\s]+)`/g)].map((match) => match[1]),
  ]);
  for (const target of named) check(files.includes(target), `the README names ${target}, which the package does not hold`);
  check(named.size > 0 && [...named].some((target) => target.startsWith('docs/')), 'the README names no docs/ file: has the check gone stale?');
  const maps = files.filter((file) => file.endsWith('.map'));
  check(maps.length === 0, `the package holds source maps (its sources are not shipped): ${maps.slice(0, 3).join(', ')}`);
  // No output of a deleted source: dist/ is cleaned before each build. The console's browser files are copied as they are.
  const sourceOf = (file) => {
    const relative = file.slice('dist/'.length);
    return relative.startsWith('http/ui/') ? relative : relative.replace(/(\.d)?\.js$|\.d\.ts$/, '.ts');
  };
  const orphans = files.filter((file) => file.startsWith('dist/')).filter((file) => !existsSync(path.join(repo, 'src', sourceOf(file))));
  check(files.includes('dist/http/ui/index.html') && files.includes('dist/http/ui/main.js'), 'the package lacks the web console (dist/http/ui/)');
  check(orphans.length === 0, `dist/ holds files without a source in src/: ${orphans.slice(0, 5).join(', ')}`);
  process.stdout.write(`   ${files.length} files; LICENSE, README and ${[...named].join(', ')} present; no source maps, no stale outputs\n`);
}

async function install(tarball) {
  step('installing the tarball into an empty project (npm install --omit=dev)');
  mkdirSync(project);
  writeFileSync(path.join(project, 'package.json'), `${JSON.stringify({ name: 'draas-package-check', version: '0.0.0', private: true }, null, 2)}\n`);
  await run('npm', ['install', '--omit=dev', '--no-audit', '--no-fund', tarball], { timeoutMs: 600_000 });
  const installed = path.join(project, 'node_modules', 'draas');
  check(existsSync(path.join(installed, 'package.json')), 'node_modules/draas is missing after the install');
  check(existsSync(path.join(project, 'node_modules', 'dockerode', 'package.json')), 'dockerode (an optional dependency, for the docker platform) was not installed by default');
  check(
    existsSync(path.join(project, 'node_modules', '@kubernetes', 'client-node', 'package.json')),
    '@kubernetes/client-node (an optional dependency, for the kubernetes platform) was not installed by default',
  );
  check(!existsSync(path.join(project, 'node_modules', 'typescript')), 'a devDependency (typescript) was installed');
  return installed;
}

async function commands() {
  step('draas --version');
  const shown = (await run('npx', ['--no', '--', 'draas', '--version'])).stdout.trim();
  check(shown === version, `draas --version printed "${shown}", expected "${version}"`);
  step('draas --help');
  const help = (await run('npx', ['--no', '--', 'draas', '--help'])).stdout;
  check(/^Usage: draas <command>/m.test(help) && /--version/.test(help), `draas --help printed:\n${help}`);
}

/** `draas up`, an instance through its lifecycle over HTTP, then SIGTERM. */
async function up() {
  step('draas up --platforms process, one instance through its lifecycle over HTTP');
  const dataDir = path.join(root, 'up-data');
  const bin = path.join(project, 'node_modules', '.bin', 'draas');
  const args = ['up', '--port', '0', '--platforms', 'process', '--data-dir', dataDir, '--drasi-server', double, '--ports', serverPorts, '--stop-on-exit'];
  const child = spawn(bin, args, { cwd: project, stdio: ['ignore', 'ignore', 'pipe'], detached: true });
  running.add(child);
  let output = '';
  const exited = new Promise((resolve) =>
    child.on('close', (code, signal) => {
      running.delete(child);
      resolve({ code, signal });
    }),
  );
  const url = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new CheckFailed(`draas up did not listen within 30 s:\n${output}`)), 30_000);
    child.stderr.on('data', (chunk) => {
      output += chunk;
      const match = /listening on (http:\/\/[\d.:]+)/.exec(output);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]);
      }
    });
    void exited.then(({ code }) => reject(new CheckFailed(`draas up exited (${code}) before it listened:\n${output}`)));
  });
  try {
    const api = `${url}/api/server/instances`;
    const created = await http('POST', api, { name: 'package-check', configuration: { sources: [], queries: [], reactions: [] } });
    check(created.status === 201, `create: ${created.status} ${JSON.stringify(created.body)}`);
    const started = await http('POST', `${api}/package-check/start`);
    check(started.status === 200 && started.body.status === 'Running', `start: ${started.status} ${JSON.stringify(started.body)}`);
    const shown = await http('GET', `${api}/package-check`);
    check(shown.body.status === 'Running', `after start: ${JSON.stringify(shown.body)}`);
    const health = await fetch(`http://127.0.0.1:${shown.body.runtime.port}/health`, { signal: AbortSignal.timeout(10_000) });
    check(health.status === 200, `the Drasi Server's /health answered ${health.status}`);
    const stopped = await http('POST', `${api}/package-check/stop`);
    check(stopped.status === 200 && stopped.body.status === 'Stopped', `stop: ${stopped.status} ${JSON.stringify(stopped.body)}`);
    const deleted = await http('DELETE', `${api}/package-check`);
    check(deleted.status === 204, `delete: ${deleted.status} ${JSON.stringify(deleted.body)}`);
    check((await http('GET', `${api}/package-check`)).status === 404, 'the deleted instance is still listed');
    // The web console ships in the package: its page and every asset it names load.
    const page = await fetch(`${url}/ui`, { signal: AbortSignal.timeout(10_000) });
    const html = await page.text();
    check(page.status === 200 && html.includes('<base href="/ui/">'), `GET /ui: ${page.status} ${html.slice(0, 200)}`);
    // The assets the page links, then every module those modules load, transitively.
    const assets = [...html.matchAll(/(?:href|src)="assets\/([^"]+)"/g)].map((match) => match[1]);
    for (const asset of assets) {
      const response = await fetch(`${url}/ui/assets/${asset}`, { signal: AbortSignal.timeout(10_000) });
      const text = await response.text();
      check(response.status === 200, `the console's ${asset}: ${response.status}`);
      for (const [, loaded] of text.matchAll(/ from '\.\/([\w-]+\.js)'/g)) if (!assets.includes(loaded)) assets.push(loaded);
    }
    check(assets.includes('fleet.js') && assets.includes('instance.js'), `the console's modules were not all found: ${assets.join(', ')}`);
  } catch (error) {
    throw new CheckFailed(`${error instanceof Error ? error.message : String(error)}\n--- draas up said\n${output}`);
  }
  killGroup(child, 'SIGTERM');
  const { code, signal } = await Promise.race([exited, new Promise((resolve) => setTimeout(() => resolve({ code: 'timeout' }), 20_000))]);
  check(code === 0, `draas up did not exit 0 on SIGTERM (${code ?? signal}):\n${output}`);
  check(!/dockerode|client-node/.test(output), `draas up --platforms process mentioned a platform SDK:\n${output}`);
}

/** What the ESM and the CommonJS scripts do with the library: the lifecycle, then a Docker worker built on demand. */
function libraryScript(load) {
  return `${load}
async function main() {
  const dataDir = process.env.DATA_DIR;
  const draas = await createControlPlane({
    dataDir, drasiServer: process.env.DOUBLE, ports: { min: 32000, max: 32099 }, platforms: ['process'], log: () => undefined,
  });
  try {
    const created = await draas.create({ name: 'library-check', configuration: { sources: [], queries: [], reactions: [] } });
    if (created.status !== 'Pending') throw new Error('create: ' + created.status);
    const started = await draas.start('library-check');
    if (started.status !== 'Running') throw new Error('start: ' + started.status);
    const stopped = await draas.stop('library-check');
    if (stopped.status !== 'Stopped') throw new Error('stop: ' + stopped.status);
    await draas.delete('library-check');
    if ((await draas.list()).length !== 0) throw new Error('still listed after delete');
  } finally {
    await draas.close();
  }
  // The Docker driver and dockerode load on demand from the install: a worker at an engine that is not there starts, unavailable.
  const docker = await createControlPlane({
    dataDir, platforms: ['docker'], docker: { host: 'unix://' + dataDir + '/no-engine.sock' }, log: () => undefined,
  });
  try {
    const workers = await docker.platforms();
    if (workers.length !== 1 || workers[0].platform !== 'docker' || workers[0].available) throw new Error('docker workers: ' + JSON.stringify(workers));
  } finally {
    await docker.close();
  }
  // The Kubernetes driver and @kubernetes/client-node load on demand too: a worker whose API server refuses connections starts, unavailable.
  const kubeconfig = dataDir + '/kubeconfig.yaml';
  writeFileSync(kubeconfig, [
    'apiVersion: v1', 'kind: Config', 'current-context: nowhere',
    'clusters: [{name: nowhere, cluster: {server: "http://127.0.0.1:9", insecure-skip-tls-verify: true}}]',
    'users: [{name: nobody, user: {token: not-a-secret}}]',
    'contexts: [{name: nowhere, context: {cluster: nowhere, user: nobody, namespace: draas}}]', '',
  ].join('\\n'));
  const kubernetes = await createControlPlane({
    dataDir, platforms: ['kubernetes'], kubernetes: { kubeconfig, namespace: 'draas' }, log: () => undefined,
  });
  try {
    const workers = await kubernetes.platforms();
    if (workers.length !== 1 || workers[0].platform !== 'kubernetes' || workers[0].available) throw new Error('kubernetes workers: ' + JSON.stringify(workers));
  } finally {
    await kubernetes.close();
  }
  if (typeof DraasError !== 'function' || typeof MissingPlatformSdkError !== 'function') throw new Error('error classes are not exported');
  console.log('library ok');
}
`;
}

async function library() {
  const env = { DOUBLE: double };
  step('the library from an ES module (import ... from "draas")');
  writeFileSync(
    path.join(project, 'check-esm.mjs'),
    `${libraryScript("import { writeFileSync } from 'node:fs';\nimport { createControlPlane, DraasError, MissingPlatformSdkError } from 'draas';")}await main();\n`,
  );
  mkdirSync(path.join(root, 'esm-data'));
  const esm = await run('node', ['check-esm.mjs'], { env: { ...env, DATA_DIR: path.join(root, 'esm-data') } });
  check(esm.stdout.includes('library ok'), `check-esm.mjs printed:\n${esm.stdout}${esm.stderr}`);

  step('the library from CommonJS (require("draas"))');
  writeFileSync(
    path.join(project, 'check-cjs.cjs'),
    `${libraryScript("const { writeFileSync } = require('node:fs');\nconst { createControlPlane, DraasError, MissingPlatformSdkError } = require('draas');")}main().catch((error) => {\n  console.error(error);\n  process.exit(1);\n});\n`,
  );
  mkdirSync(path.join(root, 'cjs-data'));
  const cjs = await run('node', ['check-cjs.cjs'], { env: { ...env, DATA_DIR: path.join(root, 'cjs-data') } });
  check(cjs.stdout.includes('library ok'), `check-cjs.cjs printed:\n${cjs.stdout}${cjs.stderr}`);
}

const consumer = `import {
  createControlPlane,
  createHttpApp,
  DraasError,
  MissingPlatformSdkError,
  type CreateInstanceRequest,
  type EmbeddedControlPlane,
  type EmbeddedControlPlaneOptions,
  type InstanceEventEnvelope,
  type InstanceView,
  type PlatformDriver,
} from 'draas';

type IsAny<T> = 0 extends 1 & T ? true : false;

const options: EmbeddedControlPlaneOptions = { dataDir: './.draas', platforms: ['process'] };
const draas: EmbeddedControlPlane = await createControlPlane(options);
const request: CreateInstanceRequest = { name: 'typed', configuration: { sources: [], queries: [], reactions: [] } };
const created: InstanceView = await draas.create(request);
const statuses: string[] = [created.status, (await draas.start('typed')).status];
const unsubscribe: () => Promise<void> = await draas.subscribe((event: InstanceEventEnvelope) => void event.payload.to);
// The REST API is a typed Koa app, not an any.
const appIsTyped: IsAny<typeof draas.app> extends true ? never : true = true;
const listener: (request: never, response: never) => unknown = createHttpApp(draas).callback();
const driver: PlatformDriver | undefined = undefined;
try {
  await draas.delete('typed');
} catch (error) {
  if (error instanceof DraasError) statuses.push(error.code, String(error.status));
  if (error instanceof MissingPlatformSdkError) statuses.push(error.packageName);
}
await unsubscribe();
await draas.close();
export { appIsTyped, driver, listener, statuses };
`;

async function typescript() {
  step('a strict tsc of a TypeScript consumer (npm install --no-save typescript@5.9)');
  await run('npm', ['install', '--no-save', '--omit=dev', '--no-audit', '--no-fund', 'typescript@5.9'], { timeoutMs: 300_000 });
  writeFileSync(path.join(project, 'consumer.mts'), consumer);
  const tsconfig = {
    compilerOptions: {
      strict: true,
      module: 'nodenext',
      moduleResolution: 'nodenext',
      target: 'es2022',
      noUncheckedIndexedAccess: true,
      // Not exactOptionalPropertyTypes: xstate's own declarations fail it.
      // The package's declarations are checked too: an import they cannot resolve (TS7016) fails here.
      skipLibCheck: false,
      noEmit: true,
    },
    files: ['consumer.mts'],
  };
  writeFileSync(path.join(project, 'tsconfig.json'), `${JSON.stringify(tsconfig, null, 2)}\n`);
  await run(path.join(project, 'node_modules', '.bin', 'tsc'), ['-p', 'tsconfig.json'], { timeoutMs: 180_000 });
}

let failed = false;
try {
  const tarball = await pack();
  process.stdout.write(`   ${path.basename(tarball)}, ${(statSync(tarball).size / 1024).toFixed(0)} KiB\n`);
  const installed = await install(tarball);
  checkContents(installed);
  await commands();
  await up();
  await library();
  await typescript();
  step('the package checks out');
} catch (error) {
  failed = true;
  process.stderr.write(`== PACKAGE CHECK FAILED: ${error instanceof CheckFailed ? error.message : (error?.stack ?? String(error))}\n`);
} finally {
  cleanUp();
}
process.exit(failed ? 1 : 0);
