/**
 * `draas up --metrics-port`: the command serves the metrics on their own
 * listener and says where; a port in use stops it with a readable message.
 */
import test from 'ava';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { doubleExecutable, portRange } from '../helpers/embedded.js';
import { draasUp } from '../helpers/draas-up.js';
import { freePort } from '../helpers/redis-server.js';
import { scrape } from '../helpers/prometheus.js';

async function dataDir(t: import('ava').ExecutionContext): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'draas-metrics-cli-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

const upArgs = (dir: string) => {
  const ports = portRange();
  return ['--data-dir', dir, '--platforms', 'process', '--drasi-server', doubleExecutable, '--ports', `${ports.min}-${ports.max}`];
};

test('draas up --metrics-port serves GET /metrics there, without the API, and logs where', async (t) => {
  const port = await freePort();
  const draas = draasUp([...upArgs(await dataDir(t)), '--metrics-port', String(port)]);
  t.teardown(async () => {
    draas.child.kill('SIGTERM');
    await draas.child;
  });
  const api = await draas.url;
  t.regex(draas.output(), new RegExp(`metrics: GET http://127\\.0\\.0\\.1:${port}/metrics \\(no token; --metrics-port\\)`));
  const metrics = await scrape(`http://127.0.0.1:${port}`);
  t.is(metrics.value('draas_workers', { platform: 'process', available: 'true' }), 1);
  t.is((await fetch(`http://127.0.0.1:${port}/api/server/instances`)).status, 404, 'the API is not on the metrics port');
  t.is((await scrape(api)).family('draas_ready').type, 'GAUGE', 'and GET /metrics on the API serves them too');
});

test('draas up with its metrics port in use exits 1 saying so', async (t) => {
  const blocker = net.createServer();
  await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => blocker.close(() => resolve())));
  const port = (blocker.address() as net.AddressInfo).port;
  const draas = draasUp([...upArgs(await dataDir(t)), '--metrics-port', String(port)]);
  await t.throwsAsync(draas.url, { message: /exited early/ }, 'it never listens');
  const result = await draas.child;
  t.is(result.exitCode, 1);
  t.regex(draas.output(), new RegExp(`draas: the metrics port 127\\.0\\.0\\.1:${port} is in use \\(choose another with --metrics-port / DRAAS_METRICS_PORT\\)`));
});
