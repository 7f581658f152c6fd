/**
 * The Docker Engine becomes unreachable under a running fleet (a real proxy
 * in front of the engine's socket is cut): operations fail fast with 503 and
 * Retry-After, `GET /api/platforms` shows the engine's circuit open with the
 * reason, and once the engine is back the circuit closes by itself (its
 * probe is the worker's ping) and a start succeeds.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { dockerConnectionOptions } from '../../src/platforms/docker-connection.js';
import { dockerEngine, testWithDocker } from '../helpers/docker-engine.js';
import { testImage } from '../helpers/docker-image.js';
import { api } from '../helpers/http-api.js';
import { SocketForwarder } from '../helpers/socket-forwarder.js';
import { dockerControlPlane, instanceName, removeContainersAfter } from './_docker.js';
import { platformNamed, pollFor } from '../helpers/platforms.js';

const { test } = testWithDocker('docker engine circuit');


test.serial('an unreachable Docker Engine: fail fast with 503 and Retry-After, the circuit open in /api/platforms, closed again by itself when the engine returns', async (t) => {
  t.timeout(180_000);
  const dir = await mkdtemp(path.join(os.tmpdir(), 'draas-docker-proxy-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  // The engine the suite uses, reached through a forwarder the test can cut.
  const engine = await dockerEngine();
  const image = await testImage(engine.docker);
  const target = dockerConnectionOptions({ dockerHost: engine.host });
  if (!('socketPath' in target)) {
    t.log(`the engine is not on a unix socket (${engine.host}): nothing to put a forwarder in front of`);
    t.pass();
    return;
  }
  const forwarder = await SocketForwarder.start(path.join(dir, 'docker.sock'), target.socketPath);
  t.teardown(() => forwarder.cut());

  const { draas, docker } = await dockerControlPlane(t, {
    docker: {
      host: `unix://${forwarder.listenPath}`,
      image,
      network: 'host',
      resilience: { circuit: { failureThreshold: 2, coolDownMs: 1_500, maxCoolDownMs: 3_000, jitter: 0.1 } },
    },
  });
  const { url } = await draas.listen({ port: 0 });
  const call = api(url);
  const name = instanceName('circuit');
  removeContainersAfter(t, docker, name);

  const before = await platformNamed(call, 'docker');
  t.true(before.available, JSON.stringify(before));
  t.like(before.circuits.find((circuit) => circuit.kind === 'engine'), { name: 'docker-engine', status: 'closed', consecutiveFailures: 0 });
  t.is((await call('POST', '/api/server/instances', { name, platformType: 'docker' })).status, 201);

  // The engine goes away.
  await forwarder.cut();
  const first = await call('POST', `/api/server/instances/${name}/start`);
  t.is(first.status, 503, JSON.stringify(first.body));
  t.log(`first start with the engine gone: ${first.status} ${String(first.body.type)}: ${String(first.body.detail)}`);
  t.regex(String(first.body.type), /unavailable|no-live-worker/);
  t.truthy(first.headers.get('retry-after'), 'a 503 says when to retry');

  const open = await pollFor(
    async () => {
      const platform = await platformNamed(call, 'docker');
      return !platform.available && platform.circuits.some((circuit) => circuit.kind === 'engine' && circuit.status === 'open') ? platform : undefined;
    },
    15_000,
    'the engine circuit shows open in /api/platforms',
  );
  t.log(`unavailable: ${open.reason}`);
  t.regex(open.reason ?? '', /Docker Engine at unix:\/\/.*circuit is open|Docker Engine at unix:\/\/.*unreachable/);
  const engineCircuit = open.circuits.find((circuit) => circuit.kind === 'engine')!;
  t.is(engineCircuit.name, 'docker-engine');
  t.true(engineCircuit.consecutiveFailures >= 2);
  t.truthy(engineCircuit.openedAt);
  t.truthy(engineCircuit.nextProbeAt);
  t.regex(engineCircuit.lastError ?? '', /ENOENT|ECONNREFUSED|no answer/);
  t.is(open.workers[0]!.available, false);

  // Fails fast while the engine is away, saying when to retry. (A restart-policy retry sent in the moment before the
  // worker announced itself unavailable waits for its reply timeout, and a start would join it: let it settle first.)
  await pollFor(async () => ((await call('GET', `/api/server/instances/${name}`)).body.status !== 'Starting' ? true : undefined), 30_000, 'no start in flight');
  const began = Date.now();
  const fast = await call('POST', `/api/server/instances/${name}/start`);
  const took = Date.now() - began;
  t.is(fast.status, 503, JSON.stringify(fast.body));
  t.true(took < 2_000, `answered in ${took} ms`);
  t.regex(String(fast.body.detail), /Docker Engine/);
  t.true(Number(fast.headers.get('retry-after')) >= 1);

  // The engine returns: the circuit closes by itself (the worker's ping is the probe) and a start succeeds.
  await forwarder.restore();
  const recovered = await pollFor(
    async () => {
      const platform = await platformNamed(call, 'docker');
      return platform.available && platform.circuits.some((circuit) => circuit.kind === 'engine' && circuit.status === 'closed') ? platform : undefined;
    },
    30_000,
    'the engine circuit closes once the engine is back',
  );
  t.true(recovered.available);
  const started = await pollFor(
    async () => {
      const answer = await call('POST', `/api/server/instances/${name}/start`);
      return answer.status === 200 ? answer : undefined;
    },
    60_000,
    'a start succeeds',
  );
  t.is(started.body.status, 'Running');
  t.is((await call('DELETE', `/api/server/instances/${name}`)).status, 204);
});

