/**
 * Measures the file store outside ava (nothing else running in the process):
 * write rates with durable on and off, and rehydration of 10,000 instances.
 *
 * Usage: node --import=tsx test/store/bench-file-store.ts [instances=10000]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileInstanceStore } from '../../src/store/file-store.js';
import { makeChange, makeRecord, runningInstanceSnapshot } from './fixtures.js';

const instances = Number(process.argv[2] ?? 10_000);
const persisted = await runningInstanceSnapshot('bench');
const rate = (count: number, since: number) => (count / ((performance.now() - since) / 1_000)).toFixed(0);

async function withStore<T>(durable: boolean, run: (store: FileInstanceStore, dataDir: string) => Promise<T>): Promise<T> {
  const dataDir = mkdtempSync(join(tmpdir(), 'draas-bench-'));
  try {
    const store = await FileInstanceStore.open(dataDir, { durable });
    try {
      return await run(store, dataDir);
    } finally {
      await store.close();
    }
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
}

for (const durable of [true, false]) {
  await withStore(durable, async (store) => {
    const ids = Array.from({ length: 50 }, (_, n) => `bench-${n}`);
    for (const id of ids) await store.insert(makeRecord(id));
    const sequential = durable ? 300 : 2_000;
    let since = performance.now();
    for (let n = 0; n < sequential; n++) await store.saveSnapshot('bench-0', persisted);
    const oneId = rate(sequential, since);
    const rounds = durable ? 20 : 80;
    since = performance.now();
    for (let round = 0; round < rounds; round++) await Promise.all(ids.map((id) => store.saveSnapshot(id, persisted)));
    const fifty = rate(rounds * ids.length, since);
    since = performance.now();
    for (let n = 0; n < sequential; n++) await store.appendChange(makeChange('bench-0', n));
    const appends = rate(sequential, since);
    console.log(`durable ${durable}: ${oneId} snapshot writes/s awaited one by one; ${fifty} writes/s with 50 ids in flight; ${appends} change appends/s awaited one by one`);
  });
}

const dataDir = mkdtempSync(join(tmpdir(), 'draas-bench-'));
try {
  const writer = await FileInstanceStore.open(dataDir, { durable: false });
  let since = performance.now();
  await Promise.all(
    Array.from({ length: instances }, async (_, n) => {
      await writer.insert(makeRecord(`instance-${n}`));
      await writer.saveSnapshot(`instance-${n}`, persisted);
    }),
  );
  const written = performance.now() - since;
  await writer.close();
  since = performance.now();
  const reader = await FileInstanceStore.open(dataDir, { durable: false });
  const opened = performance.now() - since;
  since = performance.now();
  const all = await reader.loadAll();
  const loaded = performance.now() - since;
  await reader.close();
  console.log(
    `${instances} instances (record ${JSON.stringify(makeRecord('instance-0')).length} B + snapshot ${JSON.stringify(persisted).length} B): ` +
      `written in ${written.toFixed(0)} ms (durable false); open ${opened.toFixed(0)} ms + loadAll ${loaded.toFixed(0)} ms = ${(opened + loaded).toFixed(0)} ms for ${all.length}`,
  );
} finally {
  rmSync(dataDir, { recursive: true, force: true });
}
