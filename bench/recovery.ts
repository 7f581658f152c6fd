/**
 * Recovery: time for a restarted control plane to rehydrate N running
 * instances from the embedded file store (records, snapshots, recover events,
 * one inspect per running workload) until it answers. Baseline: reading and
 * parsing the same files with plain fs calls.
 */
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ControlPlane } from '../src/actors/control-plane.js';
import { PlatformWorker } from '../src/actors/platform-worker.js';
import { FileInstanceStore } from '../src/store/file-store.js';
import { MemoryTransport } from '../src/transport/memory.js';
import { MemoryDriver } from '../test/fixtures/memory-driver.js';
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

async function recoverOnce(count: number): Promise<{ rehydrateMs: number; baselineMs: number }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'draas-recovery-'));
  const transport = new MemoryTransport();
  const worker = new PlatformWorker({ transport, driver: new MemoryDriver() });
  await worker.start();
  try {
    const setupStore = await FileInstanceStore.open(dir, { durable: false });
    const first = new ControlPlane({ transport, store: setupStore, historyLimit: 8 });
    await first.open();
    for (let i = 0; i < count; i += 100) {
      await Promise.all(Array.from({ length: Math.min(100, count - i) }, async (_, j) => {
        const name = `r-${i + j}`;
        await first.create({ name });
        await first.start(name);
      }));
    }
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

export async function benchRecovery(options: { quick: boolean }): Promise<Row[]> {
  const rows: Row[] = [];
  for (const count of options.quick ? [1_000] : [1_000, 10_000]) {
    process.stdout.write(`  recovery: ${count} running instances…\n`);
    const { rehydrateMs, baselineMs } = await recoverOnce(count);
    rows.push(
      row(`embedded: rehydrate ${count} running instances until answering`, rehydrateMs / 1000, 's', {
        baseline: baselineMs / 1000,
        ...(count === 10_000 ? { target: '<= 5' } : {}),
      }),
    );
  }
  return rows;
}
