/**
 * The process driver against real child processes: the Drasi Server double
 * (test/fixtures/drasi-server-double.mjs) is the executable. Every test has
 * its own data dir and its own port range, and kills whatever it started.
 */
import test, { type ExecutionContext } from 'ava';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import { createServer } from 'node:net';
import path from 'node:path';
import { WorkloadFailedError } from '../../src/errors.js';
import type { WorkloadEvent, WorkloadSpec } from '../../src/platforms/driver.js';
import { isPortBindable } from '../../src/platforms/port-allocator.js';
import { ProcessDriver, type ProcessDriverOptions } from '../../src/platforms/process.js';
import { takePorts } from '../helpers/port-window.js';
import { pidsWithArgument, waitFor } from '../helpers/processes.js';
import { delay, doubleExecutable, isGone, tempDir } from './_support.js';

/** Disjoint 10-port ranges per test, from this file's own window (port-window.ts). */
function portRange(): { min: number; max: number } {
  return takePorts(10);
}

async function setup(t: ExecutionContext, options: Partial<ProcessDriverOptions> = {}) {
  const dataDir = await tempDir(t, 'draas-process-');
  const driver = new ProcessDriver({ dataDir, executable: doubleExecutable, ports: portRange(), graceMs: 2_000, healthIntervalMs: 25, ...options });
  // Registered after tempDir's teardown, so it runs first (ava runs teardowns in reverse order).
  t.teardown(() => driver.close());
  return { driver, dataDir };
}

function spec(instanceId: string, overrides: Partial<WorkloadSpec> = {}): WorkloadSpec {
  return {
    instanceId,
    generation: 1,
    config: {
      id: instanceId,
      host: '127.0.0.1',
      logLevel: 'info',
      persistConfig: false,
      sources: [{ kind: 'mock', id: 'sensors', dataType: { type: 'sensorReading' } }],
    },
    env: {},
    startTimeoutMs: 10_000,
    ...overrides,
  };
}

async function healthStatus(port: number): Promise<number> {
  const response = await fetch(`http://127.0.0.1:${port}/health`);
  await response.arrayBuffer();
  return response.status;
}

function configPathOf(dataDir: string, instanceId: string): string {
  return path.join(dataDir, 'instances', instanceId, 'config.yaml');
}

test('start resolves once /health answers 200, after writing config.yaml with the port', async (t) => {
  const ports = portRange();
  const { driver, dataDir } = await setup(t, { ports });
  const ref = await driver.start(spec('alpha', { generation: 3 }));
  t.like(ref, { instanceId: 'alpha', platform: 'process', generation: 3 });
  t.true(ref.port >= ports.min && ref.port <= ports.max);
  t.is(await healthStatus(ref.port), 200);

  const dir = path.join(dataDir, 'instances', 'alpha');
  const config = readFileSync(path.join(dir, 'config.yaml'), 'utf8');
  t.regex(config, new RegExp(`^port: ${ref.port}$`, 'm'));
  t.regex(config, /^id: alpha$/m);
  t.regex(config, /^persistConfig: false$/m);

  // Launched as `<exe> --config <abs> --port <port>` in the instance dir.
  const pid = Number(ref.workloadId);
  const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
  t.deepEqual(cmdline.slice(-4), ['--config', path.join(dir, 'config.yaml'), '--port', String(ref.port)]);
  const logs = await driver.logs('alpha', { tail: 50 });
  const started = JSON.parse(logs.find((line) => line.startsWith('{"event":"started"'))!) as Record<string, unknown>;
  t.like(started, { pid, port: ref.port, cwd: dir });

  const state = JSON.parse(readFileSync(path.join(dir, 'workload.json'), 'utf8')) as Record<string, unknown>;
  t.like(state, { instanceId: 'alpha', pid, port: ref.port, generation: 3, startedAt: ref.startedAt });
  t.is(typeof state['processStartTime'], 'number');

  t.deepEqual(await driver.inspect('alpha'), { state: 'running', ref });
  t.deepEqual(await driver.list(), [ref]);
  t.deepEqual(await driver.inspect('nobody'), { state: 'absent' });
});

test('the server gets a clean environment: no RUST_LOG of the control plane, only PATH/HOME/LANG… plus spec.env', async (t) => {
  const { driver } = await setup(t);
  const previous = process.env['RUST_LOG'];
  process.env['RUST_LOG'] = 'trace';
  process.env['DRAAS_TEST_SECRET'] = 'leak';
  let ref;
  let explicit;
  try {
    ref = await driver.start(spec('clean', { env: { EXTRA: 'yes' } }));
    explicit = await driver.start(spec('explicit', { env: { RUST_LOG: 'debug' } }));
  } finally {
    if (previous === undefined) delete process.env['RUST_LOG'];
    else process.env['RUST_LOG'] = previous;
    delete process.env['DRAAS_TEST_SECRET'];
  }
  t.true((await driver.logs('clean', { tail: 50 })).some((line) => line.endsWith('RUST_LOG=unset')));
  const environ = readFileSync(`/proc/${ref.workloadId}/environ`, 'utf8').split('\0').filter(Boolean);
  const names = environ.map((entry) => entry.slice(0, entry.indexOf('=')));
  t.true(names.includes('PATH'));
  t.true(names.includes('EXTRA'));
  t.false(names.includes('RUST_LOG'));
  t.false(names.includes('DRAAS_TEST_SECRET'));
  t.deepEqual(names.filter((name) => !['PATH', 'HOME', 'LANG', 'LC_ALL', 'TZ', 'EXTRA'].includes(name)), []);
  // spec.env may set RUST_LOG on purpose.
  t.true((await driver.logs('explicit', { tail: 50 })).some((line) => line.endsWith('RUST_LOG=debug')));
  t.truthy(explicit);
});

test('stop sends SIGINT, waits for the exit and leaves no process; stop is idempotent', async (t) => {
  const { driver, dataDir } = await setup(t);
  const signalFile = path.join(dataDir, 'signals.txt');
  const events: WorkloadEvent[] = [];
  driver.watch((event) => events.push(event));
  const ref = await driver.start(spec('beta', { env: { DRASI_DOUBLE_SIGNAL_FILE: signalFile } }));
  const pid = Number(ref.workloadId);

  const outcome = await driver.stop('beta', { graceMs: 5_000 });
  t.true(outcome.wasRunning);
  t.like(outcome.exit, { exitCode: 0, signal: null, requested: true });
  t.true(outcome.exit!.lastLogLines.some((line) => /shutting down/.test(line)));
  t.is(readFileSync(signalFile, 'utf8'), 'SIGINT\n');
  t.true(isGone(pid), 'the process is gone');
  t.false(existsSync(path.join(dataDir, 'instances', 'beta', 'workload.json')));

  t.like(events, [{ type: 'exited', instanceId: 'beta', exit: { requested: true, exitCode: 0 } }]);
  t.like(await driver.inspect('beta'), { state: 'exited', exit: { exitCode: 0, requested: true } });
  t.deepEqual(await driver.list(), []);
  t.deepEqual(await driver.stop('beta', { graceMs: 5_000 }), { wasRunning: false });
  t.deepEqual(await driver.stop('never-started', { graceMs: 5_000 }), { wasRunning: false });
  // Logs stay readable after the exit.
  t.true((await driver.logs('beta', { tail: 3 })).some((line) => /shutting down/.test(line)));
  // The port was released with the stop.
  t.true(await isPortBindable(ref.port));
});

test('a server that ignores SIGINT is SIGKILLed (with its process group) after graceMs', async (t) => {
  const { driver, dataDir } = await setup(t);
  const signalFile = path.join(dataDir, 'signals.txt');
  const ref = await driver.start(spec('stubborn', { env: { DRASI_DOUBLE_IGNORE_SIGINT: '1', DRASI_DOUBLE_SIGNAL_FILE: signalFile } }));
  const pid = Number(ref.workloadId);
  const before = Date.now();
  const outcome = await driver.stop('stubborn', { graceMs: 300 });
  const took = Date.now() - before;
  t.true(took >= 300 && took < 3_000, `took ${took} ms`);
  t.like(outcome, { wasRunning: true, exit: { exitCode: null, signal: 'SIGKILL', requested: true } });
  t.is(readFileSync(signalFile, 'utf8'), 'SIGINT\n', 'SIGINT came first');
  t.true(isGone(pid));
});

test('two instances get different ports; a double start yields one process', async (t) => {
  const { driver, dataDir } = await setup(t);
  const [first, second] = await Promise.all([
    driver.start(spec('one')),
    driver.start(spec('two', { env: { DRASI_DOUBLE_STARTUP_DELAY_MS: '200' } })),
  ]);
  t.not(first.port, second.port);
  t.is(await healthStatus(first.port), 200);
  t.is(await healthStatus(second.port), 200);

  const concurrent = await Promise.all([driver.start(spec('three')), driver.start(spec('three')), driver.start(spec('three'))]);
  t.is(new Set(concurrent.map((ref) => ref.workloadId)).size, 1);
  const again = await driver.start(spec('three', { generation: 2 }));
  t.deepEqual(again, concurrent[0], 'starting a running instance resolves with its ref');
  t.deepEqual(pidsWithArgument(configPathOf(dataDir, 'three')), [Number(again.workloadId)]);
  t.is((await driver.list()).length, 3);
});

test('an exit nobody asked for is reported at once with the exit facts', async (t) => {
  const { driver } = await setup(t);
  const events: WorkloadEvent[] = [];
  driver.watch((event) => events.push(event));
  const ref = await driver.start(spec('victim'));
  const killedAt = Date.now();
  process.kill(Number(ref.workloadId), 'SIGKILL');
  await waitFor(() => events.length > 0, 2_000, 'exited event within 2 s');
  t.true(Date.now() - killedAt < 2_000);
  const [event] = events;
  t.like(event, { type: 'exited', instanceId: 'victim', ref, exit: { exitCode: null, signal: 'SIGKILL', requested: false } });
  if (event?.type === 'exited') {
    t.true(event.exit.lastLogLines.length > 0 && event.exit.lastLogLines.length <= 20);
    t.regex(event.at, /^\d{4}-\d\d-\d\dT/);
  }
  t.like(await driver.inspect('victim'), { state: 'exited', ref, exit: { signal: 'SIGKILL', requested: false } });
  t.deepEqual(await driver.list(), []);
  t.deepEqual(await driver.stop('victim', { graceMs: 1_000 }), { wasRunning: false });

  // An exit by itself with a code; the unsubscribed listener hears nothing.
  const seen: WorkloadEvent[] = [];
  const unsubscribe = driver.watch((e) => seen.push(e));
  // Its exit must come after the start has seen it healthy, which takes a while on a loaded machine.
  const quitter = await driver.start(spec('quitter', { env: { DRASI_DOUBLE_EXIT_AFTER_MS: '3000', DRASI_DOUBLE_EXIT_CODE: '3' } }));
  await waitFor(() => seen.length > 0, 8_000, 'exited event for the quitter');
  t.like(seen[0], { type: 'exited', ref: quitter, exit: { exitCode: 3, signal: null, requested: false } });
  if (seen[0]?.type === 'exited') t.true(seen[0].exit.lastLogLines.some((line) => /exits by itself/.test(line)));
  unsubscribe();
  t.is(events.length, 2);
});

/** Bytes the process wrote so far (all write calls), from /proc/<pid>/io. */
function bytesWritten(pid: number): number {
  return Number(/^wchar: (\d+)$/m.exec(readFileSync(`/proc/${pid}/io`, 'utf8'))?.[1] ?? 0);
}

test('20 MB of stdout neither blocks the server nor leaves the log beyond its bound', async (t) => {
  const maxBytes = 1024 * 1024;
  const flood = 20 * 1024 * 1024;
  const { driver, dataDir } = await setup(t, { logMaxBytes: maxBytes });
  // The flood starts once the server binds and shares its event loop with /health: on a loaded machine the start may take long.
  const ref = await driver.start(spec('chatty', { startTimeoutMs: 30_000, env: { DRASI_DOUBLE_FLOOD_BYTES: String(flood), DRASI_DOUBLE_LOG_INTERVAL_MS: '0' } }));
  const pid = Number(ref.workloadId);
  for (let i = 0; i < 5; i++) {
    t.is(await healthStatus(ref.port), 200);
    await delay(20);
  }
  await waitFor(() => bytesWritten(pid) >= flood, 10_000, 'the flood was written');
  t.is(await healthStatus(ref.port), 200);
  t.like(await driver.inspect('chatty'), { state: 'running' });
  const tail = await driver.logs('chatty', { tail: 5 });
  t.is(tail.length, 5);
  // logs() enforced the bound on demand (the background check does the same).
  const log = path.join(dataDir, 'instances', 'chatty', 'server.log');
  const live = statSync(log).size;
  const rotated = statSync(`${log}.1`).size;
  t.true(live <= maxBytes, `server.log is ${live} bytes`);
  t.true(rotated <= 3 * maxBytes, `server.log.1 is ${rotated} bytes`);
});

// Serial: the bound is enforced from this process's event loop, which the other tests would load.
test.serial('a server that never stops printing keeps a bounded log while it prints', async (t) => {
  const maxBytes = 1024 * 1024;
  const { driver, dataDir } = await setup(t, { logMaxBytes: maxBytes });
  // About 6 MB/s: bursts of 64 KiB every 10 ms. The live file may overshoot the bound by what
  // the server prints between two checks (tens of ms, more on a loaded machine): allow 3 MiB.
  const ref = await driver.start(spec('babbler', { env: { DRASI_DOUBLE_FLOOD_FOREVER: '1', DRASI_DOUBLE_FLOOD_BYTES: String(64 * 1024) } }));
  const log = path.join(dataDir, 'instances', 'babbler', 'server.log');
  const pid = Number(ref.workloadId);
  const writtenBefore = bytesWritten(pid);
  let largest = 0;
  const until = Date.now() + 1_500;
  while (Date.now() < until) {
    largest = Math.max(largest, statSync(log).size);
    await delay(10);
  }
  const written = bytesWritten(pid) - writtenBefore;
  t.true(written > 4 * maxBytes, `it printed ${written} bytes`);
  t.log(`printed ${written} bytes; the live log peaked at ${largest} bytes`);
  t.true(largest <= 4 * maxBytes, `the live log peaked at ${largest} bytes`);
  t.is(await healthStatus(ref.port), 200);
});

test('a missing executable fails the start naming it, and nothing crashes', async (t) => {
  const { driver, dataDir } = await setup(t, { executable: '/nonexistent/drasi-server' });
  const error = await t.throwsAsync(driver.start(spec('nobin')), { instanceOf: WorkloadFailedError });
  t.regex(error.message, /executable not found: \/nonexistent\/drasi-server/);
  t.like(error.details, { exitCode: null, signal: null, lastLogLines: [] });
  t.deepEqual(await driver.inspect('nobin'), { state: 'absent' });

  // Not executable: named too.
  const notExecutable = path.join(dataDir, 'not-executable');
  writeFileSync(notExecutable, '#!/bin/sh\n');
  const other = new ProcessDriver({ dataDir, executable: notExecutable, ports: portRange() });
  t.teardown(() => other.close());
  const denied = await t.throwsAsync(other.start(spec('denied')), { instanceOf: WorkloadFailedError });
  t.regex(denied.message, new RegExp(`not runnable.*${notExecutable}`));

  // Not on PATH.
  const unknown = new ProcessDriver({ dataDir, executable: 'drasi-server-that-does-not-exist', ports: portRange() });
  t.teardown(() => unknown.close());
  await t.throwsAsync(unknown.start(spec('unknown')), { instanceOf: WorkloadFailedError, message: /executable not found: drasi-server-that-does-not-exist/ });
});

test('a config the server rejects fails the start with its Error: line, releases the port and leaves no process', async (t) => {
  const { driver, dataDir } = await setup(t);
  const bad = spec('broken', { config: { id: 'broken', host: '127.0.0.1', sources: [{ kind: 'carrier-pigeon', id: 's' }] } });
  const error = await t.throwsAsync(driver.start(bad), { instanceOf: WorkloadFailedError });
  t.regex(error.message, /exited with code 1 before becoming healthy: Error: no plugin found for source kind `carrier-pigeon`/);
  t.like(error.details, { exitCode: 1, signal: null });
  t.true((error.details['lastLogLines'] as string[]).some((line) => line.startsWith('Error: ')));
  t.deepEqual(pidsWithArgument(configPathOf(dataDir, 'broken')), []);
  t.like(await driver.inspect('broken'), { state: 'exited', exit: { exitCode: 1 } });

  // Its port is free again: another instance may require it.
  const port = Number(/^port: (\d+)$/m.exec(readFileSync(configPathOf(dataDir, 'broken'), 'utf8'))![1]);
  const ref = await driver.start(spec('next', { preferredPort: port }));
  t.is(ref.port, port);
});

test('a server that is not healthy in time is killed and the start fails', async (t) => {
  const { driver, dataDir } = await setup(t);
  const before = Date.now();
  const error = await t.throwsAsync(driver.start(spec('slow', { startTimeoutMs: 400, env: { DRASI_DOUBLE_STARTUP_DELAY_MS: '60000' } })), {
    instanceOf: WorkloadFailedError,
  });
  // The deadline ended the start, not the server's own (minute-long) startup; generous bounds, as machines are loaded.
  t.true(Date.now() - before < 30_000);
  t.regex(error.message, /did not become healthy within 400 ms/);
  t.true(Array.isArray(error.details['lastLogLines']));
  t.deepEqual(pidsWithArgument(configPathOf(dataDir, 'slow')), []);
  t.deepEqual(await driver.list(), []);
});

test('aborting a start kills what it started', async (t) => {
  const { driver, dataDir } = await setup(t);
  const controller = new AbortController();
  setTimeout(() => controller.abort(), 300);
  const error = await t.throwsAsync(
    driver.start(spec('aborted', { env: { DRASI_DOUBLE_STARTUP_DELAY_MS: '5000' } }), { signal: controller.signal }),
    { instanceOf: WorkloadFailedError },
  );
  t.regex(error.message, /aborted/);
  t.deepEqual(pidsWithArgument(configPathOf(dataDir, 'aborted')), []);
  // Already aborted: nothing is launched.
  await t.throwsAsync(driver.start(spec('never'), { signal: AbortSignal.abort() }), { instanceOf: WorkloadFailedError, message: /aborted/ });
  t.false(existsSync(path.join(dataDir, 'instances', 'never', 'config.yaml')));
});

test('remove stops the server, deletes the working directory and releases the port; idempotent', async (t) => {
  const { driver, dataDir } = await setup(t);
  const ref = await driver.start(spec('doomed'));
  const dir = path.join(dataDir, 'instances', 'doomed');
  t.true(existsSync(dir));
  await driver.remove('doomed', { graceMs: 2_000 });
  t.false(existsSync(dir));
  t.true(isGone(Number(ref.workloadId)));
  t.deepEqual(await driver.inspect('doomed'), { state: 'absent' });
  t.deepEqual(await driver.logs('doomed', { tail: 10 }), []);
  await driver.remove('doomed', { graceMs: 2_000 });
  const reuse = await driver.start(spec('heir', { preferredPort: ref.port }));
  t.is(reuse.port, ref.port);
});

test('ports: a required port is honoured or the start fails; a restart prefers the previous port', async (t) => {
  const { driver } = await setup(t);
  const range = portRange();
  const first = await driver.start(spec('keeper', { preferredPort: range.min + 5 }));
  t.is(first.port, range.min + 5, 'a requested port outside the driver range is honoured when free');
  await t.throwsAsync(driver.start(spec('rival', { preferredPort: first.port })), { instanceOf: WorkloadFailedError, message: /already used by instance "keeper"/ });

  const blocker = createServer();
  await new Promise<void>((resolve) => blocker.listen(range.min + 6, '127.0.0.1', resolve));
  t.teardown(() => blocker.close());
  await t.throwsAsync(driver.start(spec('blocked', { preferredPort: range.min + 6 })), { instanceOf: WorkloadFailedError, message: /in use/ });

  const roaming = await driver.start(spec('roaming'));
  await driver.stop('roaming', { graceMs: 2_000 });
  const back = await driver.start(spec('roaming'));
  t.is(back.port, roaming.port, 'the previous port when it is still free');
  t.not(back.workloadId, roaming.workloadId);
});

test('logs keep the previous run after a restart; close leaves servers running', async (t) => {
  const { driver } = await setup(t);
  await driver.start(spec('phoenix'));
  await driver.stop('phoenix', { graceMs: 2_000 });
  const second = await driver.start(spec('phoenix', { generation: 2 }));
  const lines = await driver.logs('phoenix', { tail: 100 });
  t.is(lines.filter((line) => line.startsWith('{"event":"started"')).length, 2, 'both runs are in the log');
  t.true(lines.some((line) => /shutting down/.test(line)));

  await driver.close();
  await driver.close();
  await delay(100);
  t.false(isGone(Number(second.workloadId)), 'close leaves the server running');
  t.is(await healthStatus(second.port), 200);
});

test('a 200 from another program that grabbed the port is not taken for the server', async (t) => {
  const { driver, dataDir } = await setup(t);
  const starting = driver.start(spec('impostor', { env: { DRASI_DOUBLE_STARTUP_DELAY_MS: '1000' } }));
  const config = configPathOf(dataDir, 'impostor');
  await waitFor(() => existsSync(config), 5_000, 'config written');
  const port = Number(/^port: (\d+)$/m.exec(readFileSync(config, 'utf8'))![1]);
  // Another program binds the port before the server does and answers /health.
  const impostor = createHttpServer((_request, response) => response.end('{"status":"ok"}'));
  await new Promise<void>((resolve) => impostor.listen(port, '127.0.0.1', resolve));
  t.teardown(() => impostor.close());
  const error = await t.throwsAsync(starting, { instanceOf: WorkloadFailedError });
  t.regex(error.message, /exited with code 1 before becoming healthy: Error: .*address already in use/);
});

test("a bare executable name is looked up on the worker's own PATH, never on the instance's; the instance cannot change the server's PATH", async (t) => {
  const dataDir = await tempDir(t, 'draas-path-');
  const { mkdir, symlink, writeFile } = await import('node:fs/promises');
  const ours = path.join(dataDir, 'ours');
  const theirs = path.join(dataDir, 'theirs');
  const marker = path.join(dataDir, 'theirs-ran');
  await mkdir(ours);
  await mkdir(theirs);
  await symlink(doubleExecutable, path.join(ours, 'drasi-server'));
  // What a caller would put first on an instance's PATH: a "drasi-server" that runs its own code, then the real one.
  await writeFile(path.join(theirs, 'drasi-server'), `#!/bin/sh\necho ran > '${marker}'\nexec '${doubleExecutable}' "$@"\n`, { mode: 0o755 });
  const workerPath = `${ours}${path.delimiter}${process.env['PATH'] ?? ''}`;
  const driver = new ProcessDriver({ dataDir, executable: 'drasi-server', ports: portRange(), graceMs: 2_000, healthIntervalMs: 25, searchPath: workerPath });
  t.teardown(() => driver.close());

  const ref = await driver.start(spec('bare', { env: { PATH: `${theirs}${path.delimiter}${process.env['PATH'] ?? ''}` } }));
  t.false(existsSync(marker), "the instance's PATH chose no program");
  const environ = readFileSync(`/proc/${ref.workloadId}/environ`, 'utf8').split('\0').filter(Boolean);
  t.true(environ.includes(`PATH=${process.env['PATH'] ?? ''}`), "the server's PATH is the worker's, not the instance's");
  t.is(await healthStatus(ref.port), 200);
});
