/**
 * The Kubernetes API server double sheds or fails requests the way a real
 * one does: a 429 with Retry-After is waited out and repeated (the call
 * succeeds); an API server that answers 503 to everything opens the API's
 * circuit: starts fail fast with 503 and Retry-After, `GET /api/platforms`
 * shows the circuit open with the reason, and it closes by itself once the
 * server serves again, after which a start succeeds.
 */
import test from 'ava';
import { embedded } from '../helpers/embedded.js';
import { api } from '../helpers/http-api.js';
import { startCluster, startKubeApi } from './_kube.js';
import { platformNamed, pollFor } from '../helpers/platforms.js';


test('a 429 with Retry-After is waited out and the request repeated: the call succeeds, no sooner than the server asked', async (t) => {
  const cluster = await startCluster(t);
  const driver = cluster.driver();
  t.deepEqual(await driver.availability(), { available: true });
  cluster.kube.knobs.throttle(1, 1);
  const began = Date.now();
  t.deepEqual(await driver.availability(), { available: true });
  const took = Date.now() - began;
  t.true(took >= 950, `waited ${took} ms for a Retry-After of 1 s`);
  t.like(driver.circuits()[0], { name: 'kubernetes-api', status: 'closed', consecutiveFailures: 0 }, 'shedding is not sickness');

  // A Retry-After beyond the retry deadline is not waited: the 429 stands (an answer, no circuit failure).
  cluster.kube.knobs.throttle(1, 30);
  const shed = await driver.availability();
  t.false(shed.available);
  if (!shed.available) t.regex(shed.reason, /429/);
  t.is(driver.circuits()[0]!.status, 'closed');
});

test.serial('an API server answering 503: fail fast with 503 and Retry-After, the circuit open in /api/platforms, closed again by itself; then a start succeeds', async (t) => {
  t.timeout(120_000);
  const kube = await startKubeApi(t);
  const { draas } = await embedded(t, {
    platforms: ['kubernetes'],
    kubernetes: {
      kubeconfig: kube.kubeconfigPath,
      namespace: kube.namespace,
      resilience: { circuit: { failureThreshold: 2, coolDownMs: 1_500, maxCoolDownMs: 3_000, jitter: 0.1 }, retry: { attempts: 2, deadlineMs: 500 } },
    },
    startTimeoutMs: 20_000,
    stopGraceMs: 3_000,
    restartPolicy: { initialBackoffMs: 600_000, maxBackoffMs: 600_000 },
  });
  const { url } = await draas.listen({ port: 0 });
  const call = api(url);
  t.like((await platformNamed(call, 'kubernetes')).circuits.find((circuit) => circuit.kind === 'engine'), { name: 'kubernetes-api', status: 'closed' });
  t.is((await call('POST', '/api/server/instances', { name: 'shed', platformType: 'kubernetes' })).status, 201);

  await kube.knobs.setAvailability('unavailable');
  const first = await call('POST', '/api/server/instances/shed/start');
  t.log(`first start with the API server failing: ${first.status} ${String(first.body.type)}: ${String(first.body.detail)}`);
  t.is(first.status, 503, JSON.stringify(first.body));
  t.truthy(first.headers.get('retry-after'));

  const open = await pollFor(
    async () => {
      const platform = await platformNamed(call, 'kubernetes');
      return !platform.available && platform.circuits.some((circuit) => circuit.kind === 'engine' && circuit.status === 'open') ? platform : undefined;
    },
    20_000,
    'the API circuit shows open',
  );
  t.log(`unavailable: ${open.reason}`);
  t.regex(open.reason ?? '', /Kubernetes API at http:\/\/127\.0\.0\.1:\d+/);
  const circuit = open.circuits.find((entry) => entry.kind === 'engine')!;
  t.regex(circuit.lastError ?? '', /503/);
  t.truthy(circuit.nextProbeAt);

  const began = Date.now();
  const fast = await call('POST', '/api/server/instances/shed/start');
  t.is(fast.status, 503, JSON.stringify(fast.body));
  t.true(Date.now() - began < 2_000, `answered in ${Date.now() - began} ms`);
  t.true(Number(fast.headers.get('retry-after')) >= 1);

  await kube.knobs.setAvailability('serving');
  await pollFor(
    async () => {
      const platform = await platformNamed(call, 'kubernetes');
      return platform.available && platform.circuits.some((entry) => entry.kind === 'engine' && entry.status === 'closed') ? platform : undefined;
    },
    30_000,
    'the API circuit closes once the server serves again',
  );
  const started = await pollFor(
    async () => {
      const answer = await call('POST', '/api/server/instances/shed/start');
      return answer.status === 200 ? answer : undefined;
    },
    60_000,
    'a start succeeds',
  );
  t.is(started.body.status, 'Running');
  t.is((await call('DELETE', '/api/server/instances/shed')).status, 204);
});
