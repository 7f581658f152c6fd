/**
 * Child process of the crash test in file.test.ts: writes to a file store in
 * a loop until it is killed. Every record and snapshot carries a padding of
 * varying size and its length, so a torn write would show.
 *
 * Usage: node --import=tsx test/store/crash-writer.ts <dataDir> <durable: 0|1>
 */
import { FileInstanceStore } from '../../src/store/file-store.js';
import { makeChange, makeRecord } from './fixtures.js';

const [dataDir, durableFlag] = process.argv.slice(2);
if (!dataDir) throw new Error('usage: crash-writer.ts <dataDir> <durable: 0|1>');
const store = await FileInstanceStore.open(dataDir, { durable: durableFlag === '1', changeLogLimit: 20, log: () => undefined });
const ids = ['crash-0', 'crash-1', 'crash-2', 'crash-3'];
for (const id of ids) await store.insert(makeRecord(id));

const padding = (n: number) => 'x'.repeat(((n * 7919) % 200_000) + 1);
for (let n = 1; ; n++) {
  const writes: Promise<unknown>[] = [];
  for (const id of ids) {
    const pad = padding(n + id.length);
    writes.push(store.update(makeRecord(id, { generation: n, description: pad, configuration: { size: pad.length } })));
    writes.push(store.saveSnapshot(id, { machineVersion: 1, savedAt: new Date().toISOString(), snapshot: { n, pad, size: pad.length } }));
    writes.push(store.appendChange(makeChange(id, n)));
  }
  // Not awaited one by one: several writes per id are in flight at once.
  await Promise.all(writes);
  process.stdout.write(`${n}\n`);
}
