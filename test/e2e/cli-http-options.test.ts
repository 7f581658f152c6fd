/**
 * The HTTP options of `draas up` reach its REST API: listed host names,
 * the body limit, status reports; and the guards are on by default.
 */
import test from 'ava';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { doubleExecutable, portRange } from '../helpers/embedded.js';
import { draasUp } from '../helpers/draas-up.js';
import { pidsWithArgument } from '../helpers/processes.js';
import { rawRequest } from '../helpers/raw-http.js';

async function up(t: import('ava').ExecutionContext, args: string[]): Promise<string> {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'draas-cli-http-'));
  const ports = portRange(5);
  const draas = draasUp(['--data-dir', dataDir, '--drasi-server', doubleExecutable, '--ports', `${ports.min}-${ports.max}`, ...args]);
  t.teardown(async () => {
    draas.child.kill('SIGKILL');
    for (const pid of pidsWithArgument(dataDir)) process.kill(pid, 'SIGKILL');
    await rm(dataDir, { recursive: true, force: true });
  });
  return draas.url;
}

const report = JSON.stringify({ instanceId: 'nobody', status: 'Failed', source: 'cli-test' });
const json = { 'content-type': 'application/json' };

test('draas up: the guards are on by default, and its flags set them', async (t) => {
  t.timeout(120_000);
  const [plain, configured] = await Promise.all([
    up(t, []),
    up(t, ['--allowed-hosts', 'draas.test', '--max-body', '2048', '--accept-status-reports', '--cors-origins', 'https://console.test']),
  ]);
  const port = (base: string) => new URL(base).port;

  t.is((await rawRequest(plain, { method: 'GET', path: '/healthz', headers: { host: `draas.test:${port(plain)}` } })).status, 421);
  t.is((await rawRequest(plain, { method: 'POST', path: '/api/status/updates', headers: json, body: report })).status, 403);
  t.is((await rawRequest(plain, { method: 'POST', path: '/api/server/instances', headers: { 'content-type': 'text/plain' }, body: '{}' })).status, 415);
  t.is((await rawRequest(plain, { method: 'GET', path: '/healthz', headers: { origin: 'https://console.test' } })).status, 403);

  t.is((await rawRequest(configured, { method: 'GET', path: '/healthz', headers: { host: `draas.test:${port(configured)}` } })).status, 200);
  t.is((await rawRequest(configured, { method: 'GET', path: '/healthz', headers: { host: 'other.test' } })).status, 421);
  t.is((await rawRequest(configured, { method: 'POST', path: '/api/status/updates', headers: json, body: report })).status, 404, 'accepted, for an instance that is not there');
  const big = await rawRequest(configured, { method: 'POST', path: '/api/server/instances', headers: json, body: JSON.stringify({ name: 'big', description: 'x'.repeat(4_000) }) });
  t.is(big.status, 413);
  t.regex(String(big.json?.detail), /2048 bytes/);
  const cors = await rawRequest(configured, { method: 'GET', path: '/healthz', headers: { origin: 'https://console.test' } });
  t.is(cors.status, 200);
  t.is(cors.headers['access-control-allow-origin'], 'https://console.test');
});
