/**
 * Requests for an instance whose owning replica is dead are answered
 * promptly: served once another replica took the instance over, or refused
 * with 503 `not-owner` and a `Retry-After` — never left to a timeout. The
 * replicas' reply timeouts are set large (a forwarded GET would wait two
 * minutes, a lifecycle call several), so a hang cannot pass for an answer.
 *
 * Also: a forwarded call whose client goes away is abandoned on both sides —
 * the forwarding replica stops waiting and the owner stops working on it.
 */
import type { ExecutionContext } from 'ava';
import { shardOf, type OwnershipView } from '../../src/actors/ownership.js';
import { startClusterControlPlane } from '../../src/cluster.js';
import type { HostedControlPlane } from '../../src/hosted-control-plane.js';
import {
  eventually,
  leaseTable,
  outputs,
  ports,
  redisServer,
  sleep,
  startControlPlane,
  startWorker,
  waitForWorker,
  type ControlPlaneProcess,
  type NodeProcess,
} from './_harness.js';
import { Redis } from 'ioredis';
import { RedisKeys } from '../../src/redis/keys.js';
import { queues, topics } from '../../src/transport/transport.js';
import { testWithRedis } from '../helpers/engines.js';
import { settledWithin } from '../helpers/processes.js';

const { test } = testWithRedis('cluster mode');

const SHARDS = 16;
const LEASE_MS = 8_000;
/** "Promptly": a few seconds (liveness is known within ~3 s), far below the timeouts a hang would hit. */
const ANSWER_BOUND_MS = 10_000;
/** A request not answered by then is counted as hung (the replicas' own timeouts are longer still). */
const CLIENT_TIMEOUT_MS = 40_000;
const slowTimeouts = { leaseMs: LEASE_MS, replyTimeoutMs: 60_000, startTimeoutMs: 120_000 };

interface Answer {
  label: string;
  status: number;
  /** The problem type's last segment, for a problem answer. */
  code?: string;
  retryAfter: string | null;
  ms: number;
  detail?: string;
}

/** One HTTP request, with the headers a client during a takeover looks at; a request unanswered in time is status 0. */
async function send(base: string, label: string, method: string, route: string, body?: unknown): Promise<Answer> {
  const began = Date.now();
  try {
    const response = await fetch(base + route, {
      method,
      signal: AbortSignal.timeout(CLIENT_TIMEOUT_MS),
      ...(body !== undefined ? { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } } : {}),
    });
    const text = await response.text();
    const parsed = (text ? JSON.parse(text) : {}) as { type?: string; detail?: string };
    return {
      label,
      status: response.status,
      ...(typeof parsed.type === 'string' ? { code: parsed.type.split(':').at(-1)! } : {}),
      ...(typeof parsed.detail === 'string' ? { detail: parsed.detail } : {}),
      retryAfter: response.headers.get('retry-after'),
      ms: Date.now() - began,
    };
  } catch (error) {
    return { label, status: 0, retryAfter: null, ms: Date.now() - began, detail: String(error) };
  }
}

/** Success, or the documented refusal during a takeover: 503 not-owner with a Retry-After in whole seconds. */
function acceptable(answer: Answer): boolean {
  if (answer.ms >= ANSWER_BOUND_MS) return false;
  if (answer.status >= 200 && answer.status < 300) return true;
  return answer.status === 503 && answer.code === 'not-owner' && /^[1-9]\d*$/.test(answer.retryAfter ?? '');
}

function told(answer: Answer): string {
  return `${answer.label}: ${answer.status}${answer.code ? ` ${answer.code}` : ''} in ${answer.ms} ms` +
    `${answer.retryAfter ? ` (Retry-After ${answer.retryAfter})` : ''}${answer.detail ? ` — ${answer.detail}` : ''}`;
}

async function replicaIdOf(controlPlane: ControlPlaneProcess): Promise<string> {
  return ((await controlPlane.call('GET', '/api/replicas', undefined, 10_000)).body as unknown as OwnershipView).replicaId;
}

/** Two replicas (no --replica-id) splitting the shards 8/8, one worker; returns them with a name whose instance B owns. */
async function twoReplicas(t: ExecutionContext, portCount: number) {
  const redis = await redisServer(t);
  const leases = leaseTable(t, redis.url, SHARDS);
  const a = await startControlPlane(t, redis.url, slowTimeouts);
  const b = await startControlPlane(t, redis.url, slowTimeouts);
  const worker = await startWorker(t, redis.url, { workerId: 'w', ports: ports(portCount) });
  await waitForWorker(a, worker);
  const [idA, idB] = [await replicaIdOf(a), await replicaIdOf(b)];
  const all: NodeProcess[] = [a.process, b.process, worker.process];
  await eventually(
    async () => {
      const owners = (await leases()).map((lease) => lease.owner);
      return owners.filter((owner) => owner === idA).length === 8 && owners.filter((owner) => owner === idB).length === 8;
    },
    30_000,
    'the shards split 8/8',
    all,
  );
  const owners = (await leases()).map((lease) => lease.owner);
  const ownedByB = (prefix: string) =>
    Array.from({ length: 64 }, (_, i) => `${prefix}-${i}`).filter((name) => owners[shardOf(name, SHARDS)] === idB);
  return { redis, leases, a, b, worker, idA, idB, all, ownedByB };
}

test('while a SIGKILLed owner is replaced by one with a new id, every request for its instance is answered promptly', async (t) => {
  t.timeout(240_000);
  const { redis, a, b, worker, idB, all, ownedByB } = await twoReplicas(t, 20);
  const victim = ownedByB('victim')[0]!;
  t.is((await a.call('POST', '/api/server/instances', { name: victim })).status, 201, outputs(...all));
  const started = await a.call('POST', `/api/server/instances/${victim}/start`);
  t.is(started.status, 200, `${JSON.stringify(started.body)}\n${outputs(...all)}`);

  b.process.kill('SIGKILL');
  const killedAt = Date.now();
  t.true(await b.process.exited(10_000));
  // Restarted at once, without --replica-id: a new id, which cannot take the old id's leases before they expire.
  let restarted: ControlPlaneProcess | undefined;
  const restarting = startControlPlane(t, redis.url, slowTimeouts).then((cp) => (restarted = cp));
  restarting.catch(() => undefined);

  const operations: [label: string, method: string, route: string, body?: unknown][] = [
    ['GET instance', 'GET', `/api/server/instances/${victim}`],
    ['GET config', 'GET', `/api/configuration/instances/${victim}`],
    ['PATCH config', 'PATCH', `/api/configuration/instances/${victim}`, [{ op: 'add', path: '/sources', value: [] }]],
    ['GET status', 'GET', `/api/status/${victim}/status`],
    ['stop', 'POST', `/api/server/instances/${victim}/stop`],
    ['start', 'POST', `/api/server/instances/${victim}/start`],
    ['restart', 'POST', `/api/server/instances/${victim}/restart`],
  ];
  const answers: Answer[] = [];
  const deadline = killedAt + LEASE_MS + 90_000;
  let servedByBoth = false;
  while (!servedByBoth && Date.now() < deadline) {
    const replicas = restarted ? [{ name: 'A', cp: a }, { name: "B'", cp: restarted }] : [{ name: 'A', cp: a }];
    let cycleOk = replicas.length === 2;
    for (const { name, cp } of replicas) {
      for (const [label, method, route, body] of operations) {
        const answer = await send(cp.base, `${label} via ${name} at +${Date.now() - killedAt} ms`, method, route, body);
        answers.push(answer);
        if (!acceptable(answer)) {
          t.fail(`${told(answer)}\n${outputs(a.process, restarted?.process, worker.process)}`);
          return;
        }
        if (answer.status >= 300) cycleOk = false;
      }
    }
    servedByBoth = cycleOk;
    if (!servedByBoth) await sleep(200);
  }
  t.log(`${answers.length} requests; slowest ${Math.max(...answers.map((answer) => answer.ms))} ms`);
  const tally = new Map<string, number>();
  for (const answer of answers) {
    const key = `${answer.label.split(' at ')[0]!.split(' via ')[1]} ${answer.status}`;
    tally.set(key, (tally.get(key) ?? 0) + 1);
  }
  t.log([...tally].map(([key, count]) => `${key}: ${count}`).join(', '));
  t.log(answers.filter((answer) => answer.status !== 200).map(told).slice(0, 3).join('\n'));
  t.true(servedByBoth, `every operation succeeded on both replicas after the takeover\n${outputs(a.process, restarted?.process, worker.process)}`);
  const refused = answers.filter((answer) => answer.status === 503);
  t.true(refused.length > 0, 'the takeover window was exercised: some requests were refused with not-owner');
  for (const answer of refused) t.true(Number(answer.retryAfter) <= Math.ceil(LEASE_MS / 1000) + 2, told(answer));
  const finalView = await a.call('GET', `/api/replicas`);
  t.false(
    (finalView.body as unknown as OwnershipView).replicas.some((replica) => replica.replicaId === idB),
    'the dead id is gone from GET /api/replicas',
  );
});

test('a forwarded request whose owner is SIGKILLed while it runs is answered promptly', async (t) => {
  t.timeout(180_000);
  const { a, b, all, ownedByB } = await twoReplicas(t, 10);
  const victim = ownedByB('inflight')[0]!;
  // The server takes 90 s to answer /health: the start stays in flight on its owner, B.
  const created = await a.call('POST', '/api/server/instances', { name: victim, environment: { DRASI_DOUBLE_STARTUP_DELAY_MS: '90000' } });
  t.is(created.status, 201, outputs(...all));
  const starting = send(a.base, 'start via A', 'POST', `/api/server/instances/${victim}/start`);
  await eventually(
    async () => (await a.call('GET', `/api/server/instances/${victim}`, undefined, 10_000)).body.status === 'Starting',
    30_000,
    'the start runs on B',
    all,
  );
  b.process.kill('SIGKILL');
  const killedAt = Date.now();
  const answer = await starting;
  const sinceKill = Date.now() - killedAt;
  t.log(`${told(answer)}; ${sinceKill} ms after the SIGKILL`);
  t.is(answer.status, 503, `${told(answer)}\n${outputs(...all)}`);
  t.is(answer.code, 'not-owner');
  t.regex(answer.retryAfter ?? '', /^[1-9]\d*$/);
  t.true(sinceKill < ANSWER_BOUND_MS, `answered ${sinceKill} ms after the owner died`);
});

test('a forwarded request whose client disconnects is abandoned by the forwarding replica and by the owner', async (t) => {
  t.timeout(180_000);
  const redis = await redisServer(t);
  const worker = await startWorker(t, redis.url, { workerId: 'w', ports: ports(10) });
  const messages: string[] = [];
  // Each replica runs at most two forwarded calls at a time: two calls the owner kept working on would block the third.
  const open = async (): Promise<HostedControlPlane> => {
    const controlPlane = await startClusterControlPlane({
      redis: { url: redis.url, concurrency: 2 },
      leaseMs: LEASE_MS,
      startTimeoutMs: 120_000,
      replySlackMs: 60_000,
      log: (message) => messages.push(message),
    });
    t.teardown(() => controlPlane.close());
    return controlPlane;
  };
  const a = await open();
  const b = await open();
  const listener = await a.listen({ port: 0, host: '127.0.0.1' });
  await eventually(
    async () => {
      const view = await a.replicas();
      return view.unowned.length === 0 && view.replicas.every((replica) => replica.shards.length === 8);
    },
    30_000,
    'the shards split 8/8',
    [worker.process],
  );
  const view = await a.replicas();
  const heldByB = new Set(view.replicas.find((replica) => replica.replicaId === b.ownership.replicaId)?.shards);
  const names = Array.from({ length: 64 }, (_, i) => `abandoned-${i}`).filter((name) => heldByB.has(shardOf(name, SHARDS))).slice(0, 4);
  const [slow1, slow2, queued, other] = names as [string, string, string, string];
  for (const name of [slow1, slow2, queued]) await a.create({ name, environment: { DRASI_DOUBLE_STARTUP_DELAY_MS: '100000' } });
  await a.create({ name: other });

  /** A start through A's HTTP API (forwarded to B) whose client can go away. */
  const startClient = (name: string) => {
    const controller = new AbortController();
    const request = fetch(`${listener.url}/api/server/instances/${name}/start`, { method: 'POST', signal: controller.signal }).then(
      () => 'answered',
      () => 'aborted',
    );
    return { controller, request };
  };
  const running = [startClient(slow1), startClient(slow2)];
  // Read from the snapshots B saves (a status call would queue behind the starts on B).
  await eventually(
    async () => (await a.list()).filter((instance) => [slow1, slow2].includes(instance.id) && instance.status === 'Starting').length === 2,
    30_000,
    'both starts run on B',
    [worker.process],
  );
  // A third start waits in B's queue behind them; its client leaves before B ever reads it.
  const raw = new Redis(redis.url);
  t.teardown(() => raw.disconnect());
  const queue = new RedisKeys().commandStream(queues.replicaCalls(b.ownership.replicaId));
  const waiting = startClient(queued);
  await eventually(async () => (await raw.xlen(queue)) >= 3, 10_000, 'the third start is queued on B', [worker.process]);
  waiting.controller.abort();
  t.is(await waiting.request, 'aborted');
  // Its cancellation is published before the others' (A notices each client leave on its own), so B knows of it
  // before the running starts give their slots back.
  const cancellations = new RedisKeys().events(topics.callCancellations);
  await eventually(
    async () => (await raw.xrange(cancellations, '-', '+')).some(([, fields]) => fields.some((field) => field.includes(`"${queued}"`))),
    10_000,
    'A cancelled the queued start',
    [worker.process],
  );
  for (const client of running) client.controller.abort();
  t.deepEqual(await Promise.all(running.map((client) => client.request)), ['aborted', 'aborted']);

  // B no longer works for the departed clients: a third forwarded call is served at once, not after a start settles.
  const began = Date.now();
  const answered = await settledWithin(a.get(other).then((instance) => instance.status), 30_000, 'no answer in 30 s');
  const ms = Date.now() - began;
  t.is(answered, 'Pending', messages.join('\n'));
  t.true(ms < ANSWER_BOUND_MS, `the third call took ${ms} ms\n${messages.join('\n')}`);
  // The starts B had accepted go on (a client leaving does not cancel an accepted request); the queued one never ran.
  t.is((await a.status(slow1)).status, 'Starting');
  t.is((await a.status(queued)).status, 'Pending');
});
