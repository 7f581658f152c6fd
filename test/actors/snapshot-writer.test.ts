import test from 'ava';
import { SnapshotWriter } from '../../src/actors/snapshot-writer.js';
import { MemoryInstanceStore } from '../../src/store/instance-store.js';
import type { PersistedInstanceSnapshot } from '../../src/store/instance-store.js';
import { DraasError } from '../../src/errors.js';
import { makeRecord, makeSnapshot } from '../store/fixtures.js';

/** A memory store whose snapshot writes fail while `down` is true. */
class FlakyStore extends MemoryInstanceStore {
  down = false;
  attempts = 0;
  override async saveSnapshot(id: string, snapshot: PersistedInstanceSnapshot): Promise<void> {
    this.attempts += 1;
    if (this.down) throw new DraasError('unavailable', 'store unreachable');
    return super.saveSnapshot(id, snapshot);
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

test('a snapshot whose write failed is written once the store is back, and only the newest one', async (t) => {
  const store = new FlakyStore();
  await store.insert(makeRecord('a'));
  const errors: unknown[] = [];
  const writer = new SnapshotWriter(store, (_id, error) => errors.push(error), { retryMs: 10, maxRetryMs: 40 });
  store.down = true;
  writer.save('a', () => makeSnapshot(1));
  await sleep(100);
  t.true(store.attempts >= 3, `retried (${store.attempts} attempts)`);
  t.is(errors.length, 1, 'an outage is logged once');
  writer.save('a', () => makeSnapshot(2));
  store.down = false;
  await writer.flush();
  t.deepEqual((await store.loadSnapshot('a'))?.snapshot, makeSnapshot(2).snapshot);
  await writer.close();
});

test('close gives up on a write that keeps failing, after one last try', async (t) => {
  const store = new FlakyStore();
  await store.insert(makeRecord('a'));
  const writer = new SnapshotWriter(store, () => undefined, { retryMs: 60_000 });
  store.down = true;
  writer.save('a', () => makeSnapshot(1));
  await sleep(20);
  const before = store.attempts;
  await writer.close();
  t.is(store.attempts, before + 1);
  t.is(await store.loadSnapshot('a'), undefined);
  writer.save('a', () => makeSnapshot(2)); // ignored once closed
  await writer.flush();
  t.is(await store.loadSnapshot('a'), undefined);
});

test('an error that is not retryable is not retried; a dropped instance is not written', async (t) => {
  const store = new FlakyStore();
  await store.insert(makeRecord('a'));
  const writer = new SnapshotWriter(store, () => undefined, { retryMs: 5, retryable: () => false });
  store.down = true;
  writer.save('a', () => makeSnapshot(1));
  await writer.flush();
  t.is(store.attempts, 1);
  store.down = false;
  writer.save('a', () => makeSnapshot(1));
  writer.drop('a');
  await writer.flush();
  t.is(store.attempts, 1);
});
