/**
 * The command's logs: JSON lines (the default off a terminal) that carry the
 * request, instance, command and trace ids where they apply; `--log-level`
 * filters; `pretty` is one readable line each (with the flag, and by default
 * on a terminal); a plain log function keeps working for library users.
 */
import test from 'ava';
import { execa } from 'execa';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { toLogger } from '../../src/observability/logger.js';
import { createPinoLogger } from '../../src/observability/pino-logger.js';
import { draasUp } from '../helpers/draas-up.js';
import { doubleExecutable, portRange } from '../helpers/embedded.js';
import { pidsWithArgument, waitFor } from '../helpers/processes.js';
import { freePort } from '../helpers/redis-server.js';

const cli = fileURLToPath(new URL('../../src/cli.ts', import.meta.url));

type Line = Record<string, unknown> & { level: string; msg: string; time: string };

async function dataDir(t: import('ava').ExecutionContext): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'draas-logs-'));
  t.teardown(async () => {
    for (const pid of pidsWithArgument(dir)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
    await rm(dir, { recursive: true, force: true });
  });
  return dir;
}

function lines(output: string): Line[] {
  return output
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as Line);
}

async function stop(up: ReturnType<typeof draasUp>): Promise<void> {
  up.child.kill('SIGTERM');
  await up.child;
}

test('JSON by default off a terminal: access lines with request id and operation, instance and command ids, never an Authorization header', async (t) => {
  const dir = await dataDir(t);
  const up = draasUp(['--platforms', 'process', '--data-dir', dir, '--drasi-server', doubleExecutable, '--ports', `${portRange().min}-${portRange().max}`, '--log-level', 'debug'], {
    env: { DRAAS_LOG_FORMAT: '' },
  });
  t.teardown(() => up.child.kill('SIGKILL'));
  const url = await up.url;
  const secret = 'Bearer s3cr3t-token-value';
  const created = await fetch(`${url}/api/server/instances`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: secret }, body: JSON.stringify({ name: 'logged' }) });
  t.is(created.status, 201);
  const started = await fetch(`${url}/api/server/instances/logged/start`, { method: 'POST', headers: { 'x-request-id': 'start-1', authorization: secret } });
  t.is(started.status, 200);
  const missing = await fetch(`${url}/api/server/instances/absent`);
  t.is(missing.status, 404);
  await waitFor(() => up.output().includes('"to":"Running"'), 5_000, 'the Running transition is logged');
  await stop(up);

  const output = up.output();
  t.false(output.includes('s3cr3t'), 'no Authorization header value is logged');
  const all = lines(output); // every line is JSON
  t.true(all.every((line) => typeof line.time === 'string' && typeof line.level === 'string' && typeof line.msg === 'string'));

  const access = all.find((line) => line.requestId === 'start-1' && line.operation === 'startInstance');
  t.like(access, { level: 'info', method: 'POST', path: '/api/server/instances/logged/start', status: 200 }, output);
  t.is(typeof access?.durationMs, 'number');
  t.like(all.find((line) => line.operation === 'getInstance'), { status: 404, path: '/api/server/instances/absent' });
  t.is(typeof all.find((line) => line.operation === 'getInstance')?.requestId, 'string', 'a request id is made when none is given');

  t.like(all.find((line) => line.instanceId === 'logged' && line.to === 'Running'), { level: 'info', from: 'Starting' });
  const done = all.find((line) => line.msg === 'workload.start done');
  t.like(done, { level: 'debug', instanceId: 'logged', type: 'workload.start' }, output);
  t.is(typeof done?.commandId, 'string', 'the worker names the command');
  t.false(all.some((line) => 'traceId' in line), 'tracing is off: no line names a trace (traces-redis.test.ts has them on)');
});

test('--log-level filters: warn prints warnings and nothing of info or below', async (t) => {
  const dir = await dataDir(t);
  const port = await freePort();
  const up = execa('node', ['--import=tsx', cli, 'up', '--platforms', 'process', '--port', String(port), '--data-dir', dir, '--allow', 'plugins', '--log-level', 'warn'], {
    reject: false,
    env: { DRAAS_LOG_FORMAT: 'json' },
  });
  t.teardown(() => up.kill('SIGKILL'));
  await waitFor(async () => (await fetch(`http://127.0.0.1:${port}/healthz`).then((response) => response.status, () => 0)) === 200, 20_000, 'draas up answers');
  await fetch(`http://127.0.0.1:${port}/api/server/instances`);
  up.kill('SIGTERM');
  const result = await up;
  const all = lines(String(result.stderr));
  t.true(all.some((line) => line.level === 'warn' && line.msg.startsWith('policy: instances may ask for plugins')), String(result.stderr));
  t.deepEqual(all.filter((line) => !['warn', 'error', 'fatal'].includes(line.level)), [], 'no info or debug line');
});

test('--log-format pretty: one readable line each, not JSON', async (t) => {
  const dir = await dataDir(t);
  const up = draasUp(['--platforms', 'process', '--data-dir', dir, '--log-format', 'pretty'], { env: { DRAAS_LOG_FORMAT: 'json' } });
  t.teardown(() => up.child.kill('SIGKILL'));
  await up.url;
  await stop(up);
  const listening = up.output().split('\n').find((line) => line.includes('listening on'));
  t.regex(listening ?? '', /^\[\d\d:\d\d:\d\d\.\d{3}\] INFO: DRaaS control plane \(embedded; .*listening on http:\/\/127\.0\.0\.1:\d+ \{"url":"http:\/\/127\.0\.0\.1:\d+"\}$/, up.output());
});

test('pretty by default on a terminal (stderr is a TTY)', async (t) => {
  const dir = await dataDir(t);
  const port = await freePort();
  // `script` gives the command a terminal; its output is the terminal's.
  const command = `DRAAS_LOG_FORMAT= node --import=tsx ${cli} up --platforms process --port ${port} --data-dir ${dir}`;
  const session = execa('script', ['-qec', command, '/dev/null'], { reject: false, stdin: 'ignore' });
  t.teardown(() => session.kill('SIGKILL'));
  await waitFor(async () => (await fetch(`http://127.0.0.1:${port}/healthz`).then((response) => response.status, () => 0)) === 200, 20_000, 'draas up answers');
  for (const pid of pidsWithArgument(dir)) process.kill(pid, 'SIGTERM');
  const result = await session;
  const output = String(result.stdout);
  t.regex(output, /INFO.*listening on http:\/\/127\.0\.0\.1:\d+/, output);
  t.false(/"level":/.test(output), 'no JSON');
});

test('the pino logger: fields and child bindings on the line, levels below the threshold dropped, secrets redacted', (t) => {
  const sink = new PassThrough();
  let written = '';
  sink.on('data', (chunk: Buffer) => (written += chunk.toString()));
  const logger = createPinoLogger({ level: 'info', format: 'json', destination: sink }).child({ workerId: 'w1' });
  logger.debug('not shown', { instanceId: 'a' });
  logger.warn('refused', { instanceId: 'a', commandId: 'c1', authorization: 'Bearer x', headers: { authorization: 'Bearer y' } });
  const [line, ...rest] = lines(written);
  t.deepEqual(rest, []);
  t.like(line, { level: 'warn', msg: 'refused', workerId: 'w1', instanceId: 'a', commandId: 'c1', authorization: '[redacted]', headers: { authorization: '[redacted]' } });
});

test('a plain log function still gets the messages of info and above, without fields', (t) => {
  const messages: string[] = [];
  const logger = toLogger((message) => messages.push(message)).child({ instanceId: 'a' });
  logger.debug('chatter');
  logger.trace('more chatter');
  logger.info('started', { instanceId: 'a' });
  logger.warn('refused');
  logger.error('failed');
  t.deepEqual(messages, ['started', 'refused', 'failed']);
});
