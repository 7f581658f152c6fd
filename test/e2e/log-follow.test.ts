/**
 * `GET /api/server/instances/{id}/logs?follow=true` end to end: real HTTP,
 * real processes (the Drasi Server double printing numbered heartbeats).
 */
import test from 'ava';
import { embedded } from '../helpers/embedded.js';
import { consecutive, expectEveryHeartbeatOnce, followLog, heartbeats } from '../helpers/follow-stream.js';
import { api } from '../helpers/http-api.js';

const echo = 'the very same line';

async function running(t: Parameters<typeof embedded>[0], name: string, environment: Record<string, string>) {
  const { draas } = await embedded(t);
  const { url } = await draas.listen({ port: 0 });
  const call = api(url);
  t.is((await call('POST', '/api/server/instances', { name, environment })).status, 201);
  t.is((await call('POST', `/api/server/instances/${name}/start`)).body.status, 'Running');
  return { draas, url, call };
}


test('follow streams the tail, then every new line once and in order, identical lines included', async (t) => {
  const { url } = await running(t, 'follow1', { DRASI_DOUBLE_LOG_INTERVAL_MS: '40', DRASI_DOUBLE_ECHO_LINE: echo });
  const log = await followLog(`${url}/api/server/instances/follow1/logs?follow=true&tail=1`);
  t.teardown(() => log.disconnect());
  t.is(log.status, 200);
  t.is(log.contentType, 'text/plain; charset=utf-8');
  await expectEveryHeartbeatOnce(t, log, 15, echo);
});

test('a restart in the middle shows the old run to its end, a marker, then the new workload; delete ends the stream', async (t) => {
  const { url, call } = await running(t, 'follow2', { DRASI_DOUBLE_LOG_INTERVAL_MS: '40' });
  const log = await followLog(`${url}/api/server/instances/follow2/logs?follow=true&tail=0`);
  t.teardown(() => log.disconnect());
  await log.until((line) => line.includes('heartbeat #'));

  const restarted = await call('POST', '/api/server/instances/follow2/restart');
  t.is(restarted.body.status, 'Running');
  const marker = await log.until((line) => line.startsWith('— new workload'));
  t.is(log.lines[marker], `— new workload ${restarted.body.runtime!.workloadId} (generation 1) started —`);
  const before = log.lines.slice(0, marker);
  t.true(consecutive(heartbeats(before)), 'the old run: every heartbeat once');
  t.regex(before.at(-1)!, /received SIGINT, shutting down/, 'the old run to its last line');
  await log.until((line, index = log.lines.indexOf(line)) => index > marker && line.includes('heartbeat #3:'));
  const after = heartbeats(log.lines.slice(marker + 1));
  t.deepEqual(after.slice(0, 3), [1, 2, 3], 'the new run from its first line');

  t.is((await call('DELETE', '/api/server/instances/follow2')).status, 204);
  await log.ended();
  t.is(log.lines.at(-1), '— instance "follow2" was deleted —');
});

test('bad follow parameters are 400 problems; an unknown instance is 404 before any streaming', async (t) => {
  const { draas } = await embedded(t);
  const { url } = await draas.listen({ port: 0 });
  const call = api(url);
  await call('POST', '/api/server/instances', { name: 'quiet' });
  for (const query of ['follow=yes', 'follow=true&tail=abc', 'follow=true&tail=-1', 'follow=true&tail=10001', 'tail=0', 'follow=true&since=5']) {
    const response = await fetch(`${url}/api/server/instances/quiet/logs?${query}`);
    t.is(response.status, 400, query);
    t.is(response.headers.get('content-type'), 'application/problem+json', query);
    t.is(((await response.json()) as { type: string }).type, 'urn:draas:problem:bad-request', query);
  }
  const missing = await fetch(`${url}/api/server/instances/nobody/logs?follow=true`);
  t.is(missing.status, 404);
  t.is(missing.headers.get('content-type'), 'application/problem+json');
  await missing.arrayBuffer();
  // Non-follow requests answer JSON as before.
  const plain = await call('GET', '/api/server/instances/quiet/logs?tail=5&follow=false');
  t.is(plain.status, 200);
  t.deepEqual(plain.body, { instanceId: 'quiet', lines: [] });
});
