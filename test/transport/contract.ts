/**
 * The transport contract: one suite, run against every implementation
 * (`memory.test.ts`, `redis.test.ts`). Each test uses its own queue, topic and
 * platform names, so the tests of a suite run concurrently.
 */
import { randomUUID } from 'node:crypto';
import type { ExecutionContext } from 'ava';
import test from 'ava';
import { DraasError, WorkerTimeoutError } from '../../src/errors.js';
import { newCommand, newEvent, type CommandEnvelope, type EventEnvelope } from '../../src/transport/envelope.js';
import type { Transport } from '../../src/transport/transport.js';

/** Two transports on the same bus (for memory, the same one twice). Closing them is the factory's job (t.teardown). */
export interface TransportPair {
  requester: Transport;
  worker: Transport;
}

export type MakeTransportPair = (t: ExecutionContext) => Promise<TransportPair>;

const unique = (what: string) => `${what}.${randomUUID().slice(0, 8)}`;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export async function eventually(check: () => boolean | Promise<boolean>, timeoutMs = 10_000, what = 'condition'): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`${what} not met within ${timeoutMs} ms`);
    await sleep(25);
  }
}

async function rejectionOf(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    (value) => {
      throw new Error(`expected a rejection, got ${JSON.stringify(value)}`);
    },
    (error: unknown) => error,
  );
}

export function transportContract(name: string, makeTransportPair: MakeTransportPair): void {
  test(`${name}: a request is answered by a consumer of its queue`, async (t) => {
    const { requester, worker } = await makeTransportPair(t);
    const queue = unique('contract');
    const seen: CommandEnvelope[] = [];
    await worker.consume(queue, async (command) => {
      seen.push(command);
      return { echoed: command.payload, type: command.type };
    });
    const command = newCommand('test.echo', 'inst-1', { n: 1, tags: ['a', 'b'] });
    const result = await requester.request(queue, command, { timeoutMs: 10_000 });
    t.deepEqual(result, { echoed: { n: 1, tags: ['a', 'b'] }, type: 'test.echo' });
    t.is(seen.length, 1);
    t.deepEqual(seen[0], command);
  });

  test(`${name}: a handler returning nothing resolves the request with undefined or null`, async (t) => {
    const { requester, worker } = await makeTransportPair(t);
    const queue = unique('contract');
    await worker.consume(queue, async () => undefined);
    const result = await requester.request(queue, newCommand('test.void', 'inst-1', {}), { timeoutMs: 10_000 });
    t.true(result === undefined || result === null);
  });

  test(`${name}: each request is handled by exactly one of several consumers`, async (t) => {
    const { requester, worker } = await makeTransportPair(t);
    const queue = unique('contract');
    const handledBy = new Map<string, number[]>();
    for (const consumer of [0, 1, 2]) {
      await worker.consume(queue, async (command) => {
        handledBy.set(command.commandId, [...(handledBy.get(command.commandId) ?? []), consumer]);
        await sleep(5);
        return { n: (command.payload as { n: number }).n * 2 };
      });
    }
    const commands = Array.from({ length: 100 }, (_, n) => newCommand('test.double', `inst-${n}`, { n }));
    const results = await Promise.all(commands.map((command) => requester.request(queue, command, { timeoutMs: 30_000 })));
    t.deepEqual(
      results,
      commands.map((_, n) => ({ n: n * 2 })),
    );
    t.is(handledBy.size, 100);
    for (const command of commands) t.is(handledBy.get(command.commandId)?.length, 1, `${command.commandId} handled once`);
    const consumersUsed = new Set([...handledBy.values()].flat());
    t.true(consumersUsed.size > 1, `spread over ${consumersUsed.size} consumer(s)`);
  });

  test(`${name}: a DraasError from the handler becomes the same DraasError for the requester, without a retry`, async (t) => {
    const { requester, worker } = await makeTransportPair(t);
    const queue = unique('contract');
    let calls = 0;
    await worker.consume(queue, async () => {
      calls += 1;
      throw new DraasError('conflict', 'instance is Running', { state: 'Running', nested: { list: [1, 2] } });
    });
    const error = await rejectionOf(requester.request(queue, newCommand('test.fail', 'inst-1', {}), { timeoutMs: 10_000 }));
    t.true(error instanceof DraasError);
    const draas = error as DraasError;
    t.is(draas.code, 'conflict');
    t.is(draas.status, 409);
    t.is(draas.message, 'instance is Running');
    t.deepEqual(draas.details, { state: 'Running', nested: { list: [1, 2] } });
    await sleep(300);
    t.is(calls, 1);
  });

  test(`${name}: no reply within the timeout gives WorkerTimeoutError and the late reply is dropped`, async (t) => {
    const { requester, worker } = await makeTransportPair(t);
    const queue = unique('contract');
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    t.teardown(() => void process.off('unhandledRejection', onUnhandled));
    await worker.consume(queue, async (command) => {
      const { delayMs } = command.payload as { delayMs: number };
      await sleep(delayMs);
      return { commandId: command.commandId };
    });
    const slow = newCommand('test.slow', 'inst-1', { delayMs: 600 });
    const started = Date.now();
    const error = await rejectionOf(requester.request(queue, slow, { timeoutMs: 150 }));
    t.true(error instanceof WorkerTimeoutError);
    t.is((error as DraasError).code, 'worker-timeout');
    t.is((error as DraasError).status, 504);
    t.true(Date.now() - started < 5_000);
    await sleep(1_000); // the late reply arrives meanwhile
    const next = newCommand('test.slow', 'inst-1', { delayMs: 0 });
    t.deepEqual(await requester.request(queue, next, { timeoutMs: 10_000 }), { commandId: next.commandId });
    t.deepEqual(unhandled, []);
  });

  test(`${name}: an aborted signal abandons the wait with the signal's reason`, async (t) => {
    const { requester, worker } = await makeTransportPair(t);
    const queue = unique('contract');
    await worker.consume(queue, async () => {
      await sleep(500);
      return 'done';
    });
    const controller = new AbortController();
    const reason = new Error('caller gave up');
    setTimeout(() => controller.abort(reason), 50);
    const started = Date.now();
    const error = await rejectionOf(
      requester.request(queue, newCommand('test.slow', 'inst-1', {}), { timeoutMs: 10_000, signal: controller.signal }),
    );
    t.is(error, reason);
    t.true(Date.now() - started < 5_000);

    const aborted = AbortSignal.abort(new Error('already'));
    let promise: Promise<unknown> | undefined;
    t.notThrows(() => {
      promise = requester.request(queue, newCommand('test.slow', 'inst-1', {}), { timeoutMs: 10_000, signal: aborted });
    }, 'rejects, does not throw synchronously');
    const early = await rejectionOf(promise!);
    t.is((early as Error).message, 'already');
  });

  test(`${name}: every subscriber of a topic receives each event, in order`, async (t) => {
    const { requester, worker } = await makeTransportPair(t);
    const topic = unique('topic');
    const received: EventEnvelope[][] = [[], [], []];
    await requester.subscribe(topic, (event) => received[0]!.push(event));
    await requester.subscribe(topic, (event) => received[1]!.push(event));
    await worker.subscribe(topic, (event) => received[2]!.push(event));
    const events = Array.from({ length: 5 }, (_, n) => newEvent('test.happened', `inst-${n}`, { n }));
    for (const event of events) await worker.publish(topic, event);
    await eventually(() => received.every((list) => list.length >= 5), 10_000, 'all subscribers received 5 events');
    await sleep(100);
    for (const list of received) t.deepEqual(list, events);
  });

  test(`${name}: a throwing listener does not stop other subscribers or later events`, async (t) => {
    const { requester, worker } = await makeTransportPair(t);
    const topic = unique('topic');
    const good: string[] = [];
    await requester.subscribe(topic, () => {
      throw new Error('listener bug');
    });
    await requester.subscribe(topic, (event) => good.push(event.eventId));
    const events = [newEvent('test.a', 'i', {}), newEvent('test.b', 'i', {})];
    for (const event of events) await worker.publish(topic, event);
    await eventually(() => good.length === 2, 10_000, 'both events delivered');
    t.deepEqual(good, events.map((event) => event.eventId));
  });

  test(`${name}: a closed subscription receives nothing more`, async (t) => {
    const { requester, worker } = await makeTransportPair(t);
    const topic = unique('topic');
    const closedOne: string[] = [];
    const openOne: string[] = [];
    const subscription = await requester.subscribe(topic, (event) => closedOne.push(event.eventId));
    await requester.subscribe(topic, (event) => openOne.push(event.eventId));
    const first = newEvent('test.first', 'i', {});
    await worker.publish(topic, first);
    await eventually(() => closedOne.length === 1 && openOne.length === 1, 10_000, 'first event delivered');
    await subscription.close();
    await subscription.close();
    const second = newEvent('test.second', 'i', {});
    await worker.publish(topic, second);
    await eventually(() => openOne.length === 2, 10_000, 'second event delivered to the open subscription');
    await sleep(200);
    t.deepEqual(closedOne, [first.eventId]);
    t.deepEqual(openOne, [first.eventId, second.eventId]);
  });

  test(`${name}: presence lists announced workers until they withdraw`, async (t) => {
    const { requester, worker } = await makeTransportPair(t);
    const platform = unique('platform');
    const other = unique('platform');
    await worker.presence.announce({ workerId: 'w1', platform, available: true, details: { pid: 42 } }, 30_000);
    await worker.presence.announce({ workerId: 'w2', platform: other, available: false, details: {} }, 30_000);
    const live = await requester.presence.live(platform);
    t.is(live.length, 1);
    t.like(live[0], { workerId: 'w1', platform, available: true, details: { pid: 42 } });
    t.false(Number.isNaN(Date.parse(live[0]!.lastSeen)));
    const all = (await requester.presence.live()).filter((w) => w.platform === platform || w.platform === other);
    t.deepEqual(all.map((w) => w.workerId).sort(), ['w1', 'w2']);
    await worker.presence.withdraw(platform, 'w1');
    t.deepEqual(await requester.presence.live(platform), []);
    t.is((await requester.presence.live(other)).length, 1);
    await worker.presence.withdraw(platform, 'w1'); // withdrawing twice is fine
  });

  test(`${name}: a worker that stops announcing expires after its TTL`, async (t) => {
    const { requester, worker } = await makeTransportPair(t);
    const platform = unique('platform');
    await worker.presence.announce({ workerId: 'short', platform, available: true, details: {} }, 400);
    await worker.presence.announce({ workerId: 'long', platform, available: true, details: {} }, 60_000);
    t.deepEqual((await requester.presence.live(platform)).map((w) => w.workerId).sort(), ['long', 'short']);
    await eventually(
      async () => (await requester.presence.live(platform)).every((w) => w.workerId !== 'short'),
      10_000,
      'short-lived worker expired',
    );
    t.deepEqual((await requester.presence.live(platform)).map((w) => w.workerId), ['long']);
  });

  test(`${name}: close() may be called twice and makes the transport unhealthy`, async (t) => {
    const { requester, worker } = await makeTransportPair(t);
    t.true(await requester.healthy());
    await worker.consume(unique('contract'), async () => 'ok');
    await requester.subscribe(unique('topic'), () => undefined);
    await requester.close();
    await requester.close();
    await worker.close();
    await Promise.all([worker.close(), worker.close()]);
    t.false(await requester.healthy());
    t.false(await worker.healthy());
  });
}
