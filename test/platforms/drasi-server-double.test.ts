/**
 * The Drasi Server test double honours the contract other tests rely on
 * (docs: /work/shared/drasi-server-contract.md, "What the test double must do").
 */
import test from 'ava';
import { execa } from 'execa';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import path from 'node:path';
import YAML from 'yaml';
import { delay, doubleExecutable, isGone, portPicker, tempDir } from './_support.js';
import { startDoubleProcess as startDouble } from '../helpers/drasi-double.js';

const freePort = portPicker(400);

/** Runs the double to completion (for the cases that must exit at once). */
async function runToExit(cwd: string, args: string[], env: Record<string, string> = {}) {
  const result = await execa(doubleExecutable, args, { cwd, env: { PATH: process.env.PATH ?? '', ...env }, extendEnv: false, reject: false, timeout: 10_000 });
  return { exitCode: result.exitCode, stdout: String(result.stdout), stderr: String(result.stderr) };
}

function writeConfig(dir: string, config: Record<string, unknown> | string): string {
  const file = path.join(dir, 'config.yaml');
  writeFileSync(file, typeof config === 'string' ? config : YAML.stringify(config));
  return file;
}

async function getJson(url: string): Promise<{ status: number; body: unknown }> {
  const response = await fetch(url);
  return { status: response.status, body: await response.json() };
}

test('bad arguments exit 2 with a message on stderr', async (t) => {
  const dir = await tempDir(t, 'double-args-');
  for (const args of [['--bogus'], ['--config'], ['-p'], ['--port', 'abc'], ['--port', '70000'], ['--disable-ui=yes']]) {
    const result = await runToExit(dir, args);
    t.is(result.exitCode, 2, args.join(' '));
    t.regex(result.stderr, /error: /, args.join(' '));
  }
});

test('config errors exit 1 with a single Error: line and bind nothing', async (t) => {
  const dir = await tempDir(t, 'double-config-');
  const port = await freePort();
  const cases: Array<[string, string | Record<string, unknown>, RegExp]> = [
    ['bad YAML', 'id: [unclosed\nport: 1\n', /parse/],
    ['unknown top-level key', { id: 'x', colour: 'blue' }, /unknown field `colour`/],
    ['snake_case top-level key', { id: 'x', log_level: 'info' }, /log_level.*logLevel/],
    ['snake_case key in a source', { id: 'x', sources: [{ kind: 'mock', id: 's', auto_start: true }] }, /auto_start/],
    ['snake_case key in a query', { id: 'x', queries: [{ id: 'q', query: 'MATCH (n) RETURN n', auto_start: true }] }, /auto_start/],
    ['invalid logLevel', { id: 'x', logLevel: 'loud' }, /logLevel/],
    ['port 0', { id: 'x', port: 0 }, /port/],
    ['unset required variable', 'id: x\nsources:\n  - kind: postgres\n    id: db\n    password: "${DOUBLE_TEST_UNSET_VAR}"\n', /DOUBLE_TEST_UNSET_VAR/],
    ['unknown plugin kind', { id: 'x', sources: [{ kind: 'carrier-pigeon', id: 's' }] }, /carrier-pigeon/],
  ];
  for (const [name, config, pattern] of cases) {
    const file = writeConfig(dir, config);
    const result = await runToExit(dir, ['--config', file, '--port', String(port)]);
    t.is(result.exitCode, 1, name);
    const errorLines = result.stderr.trim().split('\n');
    t.is(errorLines.length, 1, `${name}: one line on stderr`);
    t.regex(errorLines[0]!, /^Error: /, name);
    t.regex(errorLines[0]!, pattern, name);
    t.notRegex(result.stdout, /"event":"started"/, `${name}: nothing started`);
  }
});

test('a missing config file is written with defaults and the server starts with an empty pipeline', async (t) => {
  const dir = await tempDir(t, 'double-default-');
  const port = await freePort();
  const file = path.join(dir, 'nested', 'server.yaml');
  const server = await startDouble(t, dir, ['-c', file, '-p', String(port)]);
  t.true(existsSync(file));
  const written = YAML.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  t.like(written, { host: '0.0.0.0', port: 8080, sources: [], queries: [], reactions: [] });
  t.is(server.port, port, '--port wins over the file');
  t.deepEqual((await getJson(`http://127.0.0.1:${port}/api/v1/sources`)).body, { success: true, data: [], error: null });
  t.true(server.lines.some((line) => /config file .* not found/.test(line)));
});

test('serves /health, the list endpoints and 404s; reports cwd, RUST_LOG and ${VAR} expansion', async (t) => {
  const dir = await tempDir(t, 'double-http-');
  const port = await freePort();
  const file = writeConfig(
    dir,
    [
      'id: double-http',
      'host: 127.0.0.1',
      'port: 1',
      'logLevel: info',
      'sources:',
      '  - kind: mock',
      '    id: "${SOURCE_ID}"',
      'queries:',
      '  - id: q1',
      '    query: MATCH (n) RETURN n',
      '    autoStart: true',
      '    sources: [{sourceId: sensors}]',
      '  - id: "${QUERY_ID:-q2}"',
      '    query: MATCH (n) RETURN n',
      'reactions:',
      '  - kind: log',
      '    id: console',
      '    queries: [q1]',
      '',
    ].join('\n'),
  );
  const server = await startDouble(t, dir, ['--config', file, '--port', String(port), '--disable-ui', '--skip-verification', '--plugins-dir', dir], {
    SOURCE_ID: 'sensors',
    RUST_LOG: 'debug',
  });
  const started = JSON.parse(server.lines.find((line) => line.startsWith('{"event"'))!) as Record<string, unknown>;
  t.like(started, { event: 'started', pid: server.pid, port, configPath: file, cwd: dir });
  t.true(server.lines.some((line) => line.endsWith('RUST_LOG=debug')));

  const health = await getJson(`http://127.0.0.1:${port}/health`);
  t.is(health.status, 200);
  const body = health.body as { status: string; timestamp: string };
  t.is(body.status, 'ok');
  t.regex(body.timestamp, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/);

  t.deepEqual((await getJson(`http://127.0.0.1:${port}/api/v1/sources`)).body, { success: true, data: [{ id: 'sensors', status: 'Running', links: { self: '/api/v1/sources/sensors', full: '/api/v1/sources/sensors?view=full' } }], error: null });
  t.deepEqual((await getJson(`http://127.0.0.1:${port}/api/v1/queries`)).body, {
    success: true,
    // A query's autoStart defaults to false, as in the real server.
    data: [
      { id: 'q1', status: 'Running', links: { self: '/api/v1/queries/q1', full: '/api/v1/queries/q1?view=full' } },
      { id: 'q2', status: 'Stopped', links: { self: '/api/v1/queries/q2', full: '/api/v1/queries/q2?view=full' } },
    ],
    error: null,
  });
  t.deepEqual((await getJson(`http://127.0.0.1:${port}/api/v1/reactions`)).body, { success: true, data: [{ id: 'console', status: 'Running', links: { self: '/api/v1/reactions/console', full: '/api/v1/reactions/console?view=full' } }], error: null });
  const missing = await getJson(`http://127.0.0.1:${port}/api/v1/nothing`);
  t.is(missing.status, 404);
  t.like(missing.body as Record<string, unknown>, { code: 'NOT_FOUND' });
  t.is(typeof (missing.body as { message: unknown }).message, 'string');
});

test('SIGINT exits 0 after logging "shutting down" and is recorded in the signal file; SIGTERM kills at once', async (t) => {
  const dir = await tempDir(t, 'double-signals-');
  const signalFile = path.join(dir, 'signals.txt');
  const graceful = await startDouble(t, dir, ['--config', writeConfig(dir, { id: 'a' }), '--port', String(await freePort())], {
    DRASI_DOUBLE_SIGNAL_FILE: signalFile,
  });
  process.kill(graceful.pid, 'SIGINT');
  t.deepEqual(await graceful.exited, { exitCode: 0, signal: undefined });
  t.true(graceful.lines.some((line) => /shutting down/.test(line)));
  t.is(readFileSync(signalFile, 'utf8'), 'SIGINT\n');

  const blunt = await startDouble(t, dir, ['--config', writeConfig(dir, { id: 'b' }), '--port', String(await freePort())]);
  process.kill(blunt.pid, 'SIGTERM');
  t.deepEqual(await blunt.exited, { exitCode: undefined, signal: 'SIGTERM' });

  const stubborn = await startDouble(t, dir, ['--config', writeConfig(dir, { id: 'c' }), '--port', String(await freePort())], {
    DRASI_DOUBLE_IGNORE_SIGINT: '1',
  });
  process.kill(stubborn.pid, 'SIGINT');
  await delay(200);
  t.false(isGone(stubborn.pid), 'SIGINT ignored on request');
  process.kill(stubborn.pid, 'SIGKILL');
  t.is((await stubborn.exited).signal, 'SIGKILL');
});

test('a taken port exits 1 with an Error: line', async (t) => {
  const dir = await tempDir(t, 'double-port-');
  const port = await freePort();
  const blocker: Server = createServer();
  await new Promise<void>((resolve) => blocker.listen(port, '127.0.0.1', resolve));
  t.teardown(() => blocker.close());
  const result = await runToExit(dir, ['--config', writeConfig(dir, { id: 'x', host: '127.0.0.1' }), '--port', String(port)]);
  t.is(result.exitCode, 1);
  t.regex(result.stderr.trim(), new RegExp(`^Error: .*${port}.*in use$`));
});

test('start-up delay, self-exit with a chosen code', async (t) => {
  const dir = await tempDir(t, 'double-knobs-');
  const port = await freePort();
  const before = Date.now();
  const server = await startDouble(t, dir, ['--config', writeConfig(dir, { id: 'x' }), '--port', String(port)], {
    DRASI_DOUBLE_STARTUP_DELAY_MS: '300',
    DRASI_DOUBLE_EXIT_AFTER_MS: '600',
    DRASI_DOUBLE_EXIT_CODE: '7',
  });
  t.true(Date.now() - before >= 300, 'binds only after the delay');
  t.deepEqual(await server.exited, { exitCode: 7, signal: undefined });
});
