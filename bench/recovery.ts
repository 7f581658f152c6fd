/**
 * Recovery: time for a restarted control plane to rehydrate N running
 * instances (records, snapshots, recover events, one inspect per running
 * workload) until it answers:
 * - embedded, from the file store; baseline: reading and parsing the same
 *   files with plain fs calls;
 * - cluster, from Redis (a private redis-server; Redis transport; lease
 *   acquisition included); baseline: HGETALL of the same two hashes and
 *   parsing every value.
 */
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ControlPlane } from '../src/actors/control-plane.js';
import { PlatformWorker } from '../src/actors/platform-worker.js';
import { FileInstanceStore } from '../src/store/file-store.js';
import { MemoryTransport } from '../src/transport/memory.js';
import { MemoryDriver } from '../test/fixtures/memory-driver.js';
import { Redis } from 'ioredis';
import { startClusterControlPlane } from '../src/cluster.js';
import { RedisStoreKeys } from '../src/redis/keys.js';
import { createRedisTransport } from '../src/transport/redis.js';
import { startRedisServer } from '../test/helpers/redis-server.js';
import { row, type Row } from './lib/results.js';

async function rawRead(dir: string): Promise<number> {
  const began = performance.now();
  let parsed = 0;
  for (const sub of ['records', 'snapshots']) {
    const folder = path.join(dir, 'state', sub);
    const files = await readdir(folder);
    await Promise.all(files.map(async (file) => {
      JSON.parse(await readFile(path.join(folder, file), 'utf8'));
      parsed++;
    }));
  }
  if (parsed === 0) throw new Error('nothing to read');
  return performance.now() - began;
}

/** Creates and starts `count` instances, 100 at a time. */
async function startInstances(controlPlane: ControlPlane, count: number): Promise<void> {
  for (let i = 0; i < count; i += 100) {
    await Promise.all(
      Array.from({ length: Math.min(100, count - i) }, async (_, j) => {
        const name = `r-${i + j}`;
        await controlPlane.create({ name });
        await controlPlane.start(name);
      }),
    );
  }
}

async function recoverOnce(count: number): Promise<{ rehydrateMs: number; baselineMs: number }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'draas-recovery-'));
  const transport = new MemoryTransport();
  const worker = new PlatformWorker({ transport, driver: new MemoryDriver() });
  await worker.start();
  try {
    const setupStore = await FileInstanceStore.open(dir, { durable: false });
    const first = new ControlPlane({ transport, store: setupStore, historyLimit: 8 });
    await first.open();
    await startInstances(first, count);
    await first.close();
    await setupStore.close();

    const baselineMs = await rawRead(dir);
    const began = performance.now();
    const store = await FileInstanceStore.open(dir);
    const second = new ControlPlane({ transport, store, historyLimit: 8 });
    await second.open();
    const running = (await second.list()).filter((view) => view.status === 'Running').length;
    const rehydrateMs = performance.now() - began;
    if (running !== count) throw new Error(`expected ${count} running after recovery, found ${running}`);
    await second.close();
    await store.close();
    return { rehydrateMs, baselineMs };
  } finally {
    await worker.close();
    await rm(dir, { recursive: true, force: true });
  }
}

async function rawRedisRead(url: string): Promise<number> {
  const redis = new Redis(url);
  try {
    const began = performance.now();
    const keys = new RedisStoreKeys();
    const [records, snapshots] = await Promise.all([redis.hgetall(keys.records()), redis.hgetall(keys.snapshots())]);
    let parsed = 0;
    for (const json of [...Object.values(records), ...Object.values(snapshots)]) {
      JSON.parse(json);
      parsed++;
    }
    if (parsed === 0) throw new Error('nothing to read');
    return performance.now() - began;
  } finally {
    redis.disconnect();
  }
}

async function recoverFromRedis(count: number): Promise<{ rehydrateMs: number; baselineMs: number }> {
  const redis = await startRedisServer();
  const workerTransport = await createRedisTransport({ url: redis.url });
  const worker = new PlatformWorker({ transport: workerTransport, driver: new MemoryDriver() });
  await worker.start();
  const options = { redis: { url: redis.url }, replicaId: 'bench', historyLimit: 8 };
  try {
    const first = await startClusterControlPlane(options);
    await startInstances(first, count);
    await first.close();

    const baselineMs = await rawRedisRead(redis.url);
    const began = performance.now();
    const second = await startClusterControlPlane(options);
    const running = (await second.list()).filter((view) => view.status === 'Running').length;
    const rehydrateMs = performance.now() - began;
    await second.close();
    if (running !== count) throw new Error(`expected ${count} running after recovery, found ${running}`);
    return { rehydrateMs, baselineMs };
  } finally {
    await worker.close();
    await workerTransport.close();
    await redis.stop();
  }
}

export async function benchRecovery(options: { quick: boolean }): Promise<Row[]> {
  const rows: Row[] = [];
  const modes = [
    ['embedded', recoverOnce, 'the file store'],
    ['cluster', recoverFromRedis, 'Redis'],
  ] as const;
  for (const [mode, recover, from] of modes) {
    for (const count of options.quick ? [1_000] : [1_000, 10_000]) {
      process.stdout.write(`  recovery (${mode}, from ${from}): ${count} running instances…\n`);
      const { rehydrateMs, baselineMs } = await recover(count);
      rows.push(
        row(`${mode}: rehydrate ${count} running instances until answering`, rehydrateMs / 1000, 's', {
          baseline: baselineMs / 1000,
          ...(count === 10_000 ? { target: '<= 1' } : {}),
        }),
      );
    }
  }
  return rows;
}
