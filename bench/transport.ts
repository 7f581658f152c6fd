/**
 * Request/reply through the transports, beside a raw ioredis round trip of
 * the same shape (XADD a command, XREADGROUP it, XADD a reply, XREAD it),
 * measured in the same run against the same private redis-server: one at a
 * time, and with 32 in flight (5 rounds alternating with the transport's,
 * the median of each).
 */
import { Redis } from 'ioredis';
import { newCommand } from '../src/transport/envelope.js';
import { MemoryTransport } from '../src/transport/memory.js';
import { createRedisTransport } from '../src/transport/redis.js';
import type { Transport } from '../src/transport/transport.js';
import { startRedisServer } from '../test/helpers/redis-server.js';
import { measure, type LatencySummary } from './lib/stats.js';
import { row, type Row } from './lib/results.js';

const payload = { instanceId: 'bench', generation: 1, graceMs: 1000 };

async function transportRoundTrips(transport: Transport, queue: string, count: number, concurrency: number): Promise<LatencySummary> {
  const consumer = await transport.consume(queue, async (command) => ({ echoed: command.commandId }));
  try {
    await transport.request(queue, newCommand('bench.echo', 'bench', payload), { timeoutMs: 10_000 }); // warm-up
    return await measure(count, concurrency, () =>
      transport.request(queue, newCommand('bench.echo', 'bench', payload), { timeoutMs: 10_000 }),
    );
  } finally {
    await consumer.close();
  }
}

type ReadReply = [string, [string, string[]][]][] | null;

/** The same round trip, hand-written with ioredis, one at a time: the floor any Streams transport stands on. */
async function rawRoundTrips(url: string, count: number): Promise<LatencySummary> {
  const requester = new Redis(url);
  const requesterBlocking = new Redis(url);
  const worker = new Redis(url);
  const stream = 'raw:commands';
  const replies = 'raw:replies';
  await worker.xgroup('CREATE', stream, 'g', '$', 'MKSTREAM').catch(() => undefined);
  let running = true;
  const workerLoop = (async () => {
    while (running) {
      const result = (await worker.xreadgroup('GROUP', 'g', 'c', 'COUNT', 1, 'BLOCK', 200, 'STREAMS', stream, '>')) as ReadReply;
      for (const [, entries] of result ?? []) {
        for (const [id, fields] of entries) {
          await worker.xadd(replies, '*', 'reply', fields[1] ?? '');
          await worker.xack(stream, 'g', id);
        }
      }
    }
  })();
  let lastReplyId = '$';
  const roundTrip = async () => {
    const body = JSON.stringify(newCommand('bench.echo', 'bench', payload));
    const waiting = requesterBlocking.xread('BLOCK', 5_000, 'STREAMS', replies, lastReplyId);
    await requester.xadd(stream, '*', 'command', body);
    const result = (await waiting) as ReadReply;
    const entries = result?.[0]?.[1] ?? [];
    lastReplyId = entries.at(-1)?.[0] ?? lastReplyId;
    JSON.parse(entries.at(-1)?.[1][1] ?? '{}');
  };
  await roundTrip();
  const summary = await measure(count, 1, roundTrip);
  running = false;
  await workerLoop;
  requester.disconnect();
  requesterBlocking.disconnect();
  worker.disconnect();
  return summary;
}

/**
 * The same round trip with `concurrency` in flight (`run`), hand-written with ioredis
 * and no guarantees beyond the stream's: the requester XADDs each command
 * (with its request id) and one blocking XREAD loop routes replies by id; the
 * worker reads batches with XREADGROUP COUNT and answers each entry with an
 * XADD to the reply stream and an XACK, all sent without waiting in between.
 * No expiry, dead-letter bookkeeping, timeouts or validation: the floor of a
 * Streams request/reply with this much in flight, on this machine.
 */
async function rawConcurrentRig(url: string, concurrency: number): Promise<{ run: (count: number) => Promise<LatencySummary>; stop: () => Promise<void> }> {
  const requester = new Redis(url);
  const requesterBlocking = new Redis(url);
  const worker = new Redis(url);
  const workerBlocking = new Redis(url);
  const stream = 'raw:concurrent:commands';
  const replies = 'raw:concurrent:replies';
  await worker.xgroup('CREATE', stream, 'g', '$', 'MKSTREAM').catch(() => undefined);
  let running = true;
  const workerLoop = (async () => {
    while (running) {
      const result = (await workerBlocking.xreadgroup('GROUP', 'g', 'c', 'COUNT', concurrency, 'BLOCK', 200, 'STREAMS', stream, '>')) as ReadReply;
      const writes: Promise<unknown>[] = [];
      for (const [, entries] of result ?? []) {
        for (const [id, fields] of entries) {
          // fields: requestId, <id>, command, <json>
          const command = JSON.parse(fields[3] ?? '{}') as { commandId?: string };
          writes.push(worker.xadd(replies, '*', 'requestId', fields[1] ?? '', 'reply', JSON.stringify({ echoed: command.commandId })));
          writes.push(worker.xack(stream, 'g', id));
        }
      }
      await Promise.all(writes);
    }
  })();
  const waiting = new Map<string, () => void>();
  let lastReplyId = '$';
  const replyLoop = (async () => {
    while (running) {
      const result = (await requesterBlocking.xread('COUNT', 100, 'BLOCK', 200, 'STREAMS', replies, lastReplyId)) as ReadReply;
      for (const [, entries] of result ?? []) {
        for (const [id, fields] of entries) {
          lastReplyId = id;
          // fields: requestId, <id>, reply, <json>
          JSON.parse(fields[3] ?? '{}');
          const settle = waiting.get(fields[1] ?? '');
          waiting.delete(fields[1] ?? '');
          settle?.();
        }
      }
    }
  })();
  let sequence = 0;
  const roundTrip = () =>
    new Promise<void>((resolve, reject) => {
      const requestId = String(++sequence);
      waiting.set(requestId, resolve);
      requester.xadd(stream, '*', 'requestId', requestId, 'command', JSON.stringify(newCommand('bench.echo', 'bench', payload))).catch(reject);
    });
  await roundTrip();
  return {
    run: (count) => measure(count, concurrency, roundTrip),
    stop: async () => {
      running = false;
      await Promise.all([workerLoop, replyLoop]);
      for (const connection of [requester, requesterBlocking, worker, workerBlocking]) connection.disconnect();
    },
  };
}

/** The run with the median rate (of an odd number of runs). */
function median(runs: LatencySummary[]): LatencySummary {
  return [...runs].sort((a, b) => a.perSecond - b.perSecond)[Math.floor(runs.length / 2)]!;
}

export async function benchTransport(options: { quick: boolean }): Promise<Row[]> {
  const count = options.quick ? 300 : 3_000;
  const rounds = options.quick ? 1 : 5;
  const redis = await startRedisServer();
  try {
    const raw = await rawRoundTrips(redis.url, count);
    const rawRig = await rawConcurrentRig(redis.url, 32);
    const requester = await createRedisTransport({ url: redis.url, prefix: 'bench:' });
    const worker = await createRedisTransport({ url: redis.url, prefix: 'bench:' });
    const viaRedis = await (async () => {
      const consumer = await worker.consume('commands.bench', async (command) => ({ echoed: command.commandId }));
      try {
        await requester.request('commands.bench', newCommand('bench.echo', 'bench', payload), { timeoutMs: 10_000 });
        const sequential = await measure(count, 1, () =>
          requester.request('commands.bench', newCommand('bench.echo', 'bench', payload), { timeoutMs: 10_000 }),
        );
        // 32 in flight, alternating with the raw baseline (the machine's load changes from second to second): median of each.
        const rawRuns: LatencySummary[] = [];
        const runs: LatencySummary[] = [];
        for (let round = 0; round < rounds; round++) {
          rawRuns.push(await rawRig.run(count * 2));
          runs.push(
            await measure(count * 2, 32, () =>
              requester.request('commands.bench', newCommand('bench.echo', 'bench', payload), { timeoutMs: 10_000 }),
            ),
          );
        }
        return { sequential, concurrent: median(runs), rawConcurrent: median(rawRuns) };
      } finally {
        await rawRig.stop();
        await consumer.close();
        await requester.close();
        await worker.close();
      }
    })();
    const memory = await transportRoundTrips(new MemoryTransport(), 'commands.bench', count * 10, 1);
    return [
      row('redis transport round trip p50 (sequential)', viaRedis.sequential.p50Ms, 'ms', { baseline: raw.p50Ms, ratioTarget: '<= 2' }),
      row('redis transport round trip p99 (sequential)', viaRedis.sequential.p99Ms, 'ms', { baseline: raw.p99Ms, ratioTarget: '<= 2' }),
      row('redis transport round trips/s (sequential)', viaRedis.sequential.perSecond, 'ops/s', { baseline: raw.perSecond }),
      row('redis transport round trips/s (32 in flight)', viaRedis.concurrent.perSecond, 'ops/s', {
        baseline: viaRedis.rawConcurrent.perSecond,
        target: '>= 20000',
        note: 'baseline: raw XADD + XREADGROUP + XADD/XACK + XREAD, 32 in flight',
      }),
      row('redis transport p99 (32 in flight)', viaRedis.concurrent.p99Ms, 'ms'),
      row('memory transport round trips/s (sequential)', memory.perSecond, 'ops/s', { baseline: raw.perSecond }),
    ];
  } finally {
    await redis.stop();
  }
}
