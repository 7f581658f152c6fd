/**
 * Redis dies and comes back on the same port (append-only file, so its data
 * survives) in the middle of a start: the control plane and the worker
 * reconnect by themselves, the start in flight ends within its bound (done,
 * or a retryable 503/504), readiness follows Redis, and later requests work.
 */
import {
  countDoubles,
  eventually,
  health,
  outputs,
  platformOf,
  ports,
  redisServer,
  sleep,
  startControlPlane,
  startWorker,
  waitForWorker,
  type ApiResponse,
} from './_harness.js';
import { testWithRedis } from '../helpers/engines.js';

const { test } = testWithRedis('cluster mode');

const START_TIMEOUT_MS = 8_000;
const REPLY_TIMEOUT_MS = 3_000;
/** What the control plane allows a start request (start timeout plus twice the reply slack). */
const START_REQUEST_BOUND_MS = START_TIMEOUT_MS + 2 * REPLY_TIMEOUT_MS;

test('Redis restarted mid-run: reconnect, the in-flight start settles within its bound, /readyz follows Redis, later requests succeed', async (t) => {
  t.timeout(150_000);
  const redis = await redisServer(t, { appendonly: true });
  const controlPlane = await startControlPlane(t, redis.url, { startTimeoutMs: START_TIMEOUT_MS, replyTimeoutMs: REPLY_TIMEOUT_MS });
  const worker = await startWorker(t, redis.url, { workerId: 'outage', ports: ports(10) });
  await waitForWorker(controlPlane, worker);
  const { call } = controlPlane;
  const all = [controlPlane.process, worker.process];

  t.is((await call('POST', '/api/server/instances', { name: 'inflight', environment: { DRASI_DOUBLE_STARTUP_DELAY_MS: '3000' } })).status, 201);
  const began = Date.now();
  t.is((await call('POST', '/api/server/instances', { name: 'during' })).status, 201);
  const inflight: Promise<ApiResponse> = call('POST', '/api/server/instances/inflight/start');
  inflight.catch(() => undefined); // awaited below; a failed test must not leave it unhandled
  await eventually(() => countDoubles(worker.dataDir) === 1, 15_000, 'the worker launched the server', all);

  // Redis goes away while the server is still starting.
  await redis.kill();
  const downAt = Date.now();
  await eventually(async () => (await call('GET', '/readyz', undefined, 10_000)).status === 503, 10_000, '/readyz 503 while Redis is down', all);
  t.is((await call('GET', '/healthz')).status, 200, 'the process itself is alive');
  const replicas = await call('GET', '/api/replicas', undefined, 10_000);
  t.is(replicas.status, 503, 'ownership cannot be read without Redis');
  t.regex(replicas.contentType, /application\/problem\+json/);

  // Records live in Redis: a create asked for while it is down fails fast and retryably, and so does a start.
  const late = await call('POST', '/api/server/instances', { name: 'late' }, 30_000);
  t.is(late.status, 503, JSON.stringify(late.body));
  t.regex(late.contentType, /application\/problem\+json/);
  t.true(late.ms < 3_000, `create answered in ${late.ms} ms`);
  const during = await call('POST', '/api/server/instances/during/start', undefined, 30_000);
  t.log(`start while Redis is down: ${during.status} in ${during.ms} ms: ${String(during.body.detail)}`);
  t.is(during.status, 503, JSON.stringify(during.body));
  t.regex(during.contentType, /application\/problem\+json/);
  t.true(during.ms < 3_000, `answered in ${during.ms} ms`);

  await sleep(Math.max(0, 4_000 - (Date.now() - downAt)));
  t.is((await call('GET', '/readyz', undefined, 10_000)).status, 503, 'still not ready after 4 s without Redis');
  await redis.restart();
  const upAt = Date.now();
  t.log(`Redis was down ${upAt - downAt} ms`);

  await eventually(async () => (await call('GET', '/readyz', undefined, 10_000)).status === 200, 30_000, '/readyz 200 after Redis is back', all);
  t.log(`ready again ${Date.now() - upAt} ms after Redis came back`);

  const settled = await inflight;
  const settledAfter = Date.now() - began;
  t.log(`the in-flight start answered ${settled.status} after ${settledAfter} ms (bound ${START_REQUEST_BOUND_MS} ms): ${settled.body.status ?? settled.body.detail}`);
  t.true(settledAfter <= START_REQUEST_BOUND_MS + 5_000, `the in-flight start did not hang (${settledAfter} ms)`);
  if (settled.status === 200) {
    t.is(settled.body.status, 'Running');
  } else {
    t.true([503, 504].includes(settled.status), `${settled.status} ${JSON.stringify(settled.body)}\n${outputs(...all)}`);
    t.regex(settled.contentType, /application\/problem\+json/);
  }

  // Nothing acknowledged was lost (append-only file); what was refused was not half-done.
  const names = ((await call('GET', '/api/server/instances')).body as unknown as { id: string }[]).map((view) => view.id);
  t.deepEqual(names.sort(), ['during', 'inflight']);

  // The worker announces itself again; later requests go through.
  await eventually(async () => (await platformOf(call))?.available === true, 30_000, 'the worker is available again', all);
  t.is((await call('POST', '/api/server/instances', { name: 'after' })).status, 201);
  const started = await call('POST', '/api/server/instances/after/start');
  t.is(started.status, 200, `${JSON.stringify(started.body)}\n${outputs(...all)}`);
  t.is(started.body.status, 'Running');
  t.is(await health(started.body.runtime!.port), 200);
  const stopped = await call('POST', '/api/server/instances/after/stop');
  t.is(stopped.status, 200, outputs(...all));
  t.is(stopped.body.status, 'Stopped');

  // The instance whose start was cut off can be driven to a known state too.
  const again = await call('POST', '/api/server/instances/inflight/start');
  t.is(again.status, 200, `${JSON.stringify(again.body)}\n${outputs(...all)}`);
  t.is(again.body.status, 'Running');
  const stoppedToo = await call('POST', '/api/server/instances/inflight/stop');
  t.is(stoppedToo.status, 200);
  // The start refused while Redis was down left "during" Failed with desired Running: its restart policy starts it
  // once Redis and the worker answer again (as soon as they do, now that presence reads ride out a blip). Stopped, it runs nothing.
  const stoppedDuring = await call('POST', '/api/server/instances/during/stop');
  t.is(stoppedDuring.status, 200, JSON.stringify(stoppedDuring.body));
  t.is(stoppedDuring.body.status, 'Stopped');
  t.is(countDoubles(worker.dataDir), 0, 'no server left running');
});
