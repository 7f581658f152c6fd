/**
 * A worker is SIGKILLed while it runs a server: the control plane's circuit
 * toward it opens after the first unanswered commands, so later requests fail
 * at once with 503 and Retry-After instead of each waiting for its timeout;
 * `GET /api/platforms` shows the circuit open; a stop refused meanwhile leaves
 * the instance Failed with its workload unknown (nothing was done); when the
 * worker returns (the same id, re-adopting its server), the circuit closes
 * and the stop, asked again, is done.
 */
import { MemoryInstanceStore } from '../../src/store/instance-store.js';
import { HostedControlPlane } from '../../src/hosted-control-plane.js';
import { createRedisTransport } from '../../src/transport/redis.js';
import { eventually, ports, redisServer, startWorker } from '../cluster/_harness.js';
import { testWithRedis } from '../helpers/engines.js';
import { api } from '../helpers/http-api.js';
import { scrape } from '../helpers/prometheus.js';

const { test } = testWithRedis('worker circuit');

interface Circuit {
  kind: string;
  workerId: string;
  status: string;
  consecutiveFailures: number;
  nextProbeAt: string | null;
  lastError: string | null;
}

test('a killed worker: its circuit opens after the timeouts, requests fail fast with 503, it closes when the worker returns', async (t) => {
  t.timeout(120_000);
  const redis = await redisServer(t);
  const worker = await startWorker(t, redis.url, { workerId: 'circuit-w1', ports: ports(5) });
  const transport = await createRedisTransport({ url: redis.url, reconnect: { initialMs: 100, maxMs: 500 } });
  const controlPlane = new HostedControlPlane(
    {
      transport,
      store: new MemoryInstanceStore(),
      replySlackMs: 1_000,
      workerCheckMs: 300,
      startTimeoutMs: 15_000,
      workerCircuit: { settings: { failureThreshold: 2, coolDownMs: 1_000, maxCoolDownMs: 2_000, jitter: 0.1 }, probeTimeoutMs: 1_000 },
    },
    [{ name: 'transport', resource: transport }],
  );
  await controlPlane.open();
  t.teardown(() => controlPlane.close());
  const { url } = await controlPlane.listen({ port: 0 });
  const call = api(url);
  const circuits = async (): Promise<Circuit[]> => {
    const body = (await call('GET', '/api/platforms')).body as unknown as { platforms: { platform: string; circuits: Circuit[]; available: boolean; reason?: string }[] };
    return body.platforms.find((platform) => platform.platform === 'process')!.circuits.filter((circuit) => circuit.kind === 'worker');
  };

  await eventually(async () => (await controlPlane.platforms()).some((presence) => presence.workerId === 'circuit-w1' && presence.available), 30_000, 'the worker is seen', [worker.process]);
  t.is((await call('POST', '/api/server/instances', { name: 'tripped' })).status, 201);
  const started = await call('POST', '/api/server/instances/tripped/start');
  t.is(started.status, 200, JSON.stringify(started.body));
  t.is((await call('GET', '/api/server/instances/tripped/logs?tail=5')).status, 200);
  t.like((await circuits())[0], { workerId: 'circuit-w1', status: 'closed', consecutiveFailures: 0 });

  worker.process.kill('SIGKILL');
  await worker.process.exited(5_000);
  // Its presence lives on for a few seconds: the first commands wait out their timeout…
  for (let n = 0; n < 2; n++) {
    const slow = await call('GET', '/api/server/instances/tripped/logs?tail=5');
    t.is(slow.status, 504, JSON.stringify(slow.body));
  }
  // …then the circuit is open: no more waiting.
  const began = Date.now();
  const fast = await call('GET', '/api/server/instances/tripped/logs?tail=5');
  const took = Date.now() - began;
  t.is(fast.status, 503, JSON.stringify(fast.body));
  t.true(took < 500, `answered in ${took} ms`);
  t.regex(String(fast.body.detail), /worker circuit-w1 .* not sent commands now/);
  t.true(Number(fast.headers.get('retry-after')) >= 1);
  // A lifecycle request refused by the circuit reached nothing: the machine records a stop that did not happen.
  const refusedStop = await call('POST', '/api/server/instances/tripped/stop');
  t.is(refusedStop.status, 503, JSON.stringify(refusedStop.body));
  t.is(refusedStop.body.type, 'urn:draas:problem:unavailable');
  t.truthy(refusedStop.headers.get('retry-after'));
  const afterRefusal = (await call('GET', '/api/server/instances/tripped')).body;
  t.like(afterRefusal, { status: 'Failed', desiredState: 'Stopped', observedState: 'Unknown' });
  t.regex(afterRefusal.failure?.reason ?? '', /^stop failed: worker circuit-w1 .* not sent commands now/);
  const open = (await circuits()).find((circuit) => circuit.workerId === 'circuit-w1');
  t.like(open, { status: 'open', consecutiveFailures: 2 });
  t.regex(open?.lastError ?? '', /no reply from a worker/);
  t.truthy(open?.nextProbeAt);
  // The same in the metrics: the breaker open (2) and the platform taking no commands.
  const metrics = await scrape(url);
  t.is(metrics.value('draas_circuit_state', { platform: 'process', kind: 'worker', worker: 'circuit-w1' }), 2);
  t.is(metrics.value('draas_platform_available', { platform: 'process' }), 0);

  // The worker returns (same id, same data dir): it re-adopts its server, and the circuit closes.
  const back = await startWorker(t, redis.url, { workerId: 'circuit-w1', ports: ports(5), dataDir: worker.dataDir });
  await eventually(async () => (await call('GET', '/api/server/instances/tripped/logs?tail=5')).status === 200, 30_000, 'logs are read from the returned worker', [back.process]);
  t.like((await circuits()).find((circuit) => circuit.workerId === 'circuit-w1'), { status: 'closed', consecutiveFailures: 0 });
  const recovered = await scrape(url);
  t.is(recovered.value('draas_circuit_state', { platform: 'process', kind: 'worker', worker: 'circuit-w1' }), 0);
  t.is(recovered.value('draas_platform_available', { platform: 'process' }), 1);
  // The stop that was refused is asked again and done; the server the worker re-adopted stops.
  const stopped = await call('POST', '/api/server/instances/tripped/stop');
  t.is(stopped.status, 200, JSON.stringify(stopped.body));
  t.like(stopped.body, { status: 'Stopped', observedState: 'Stopped' });
  t.is((await call('DELETE', '/api/server/instances/tripped')).status, 204);
});
