import test from 'ava';
import { createActor } from 'xstate';
import { OwnTokens } from '../../src/actors/held-writes.js';
import { SoleOwnership } from '../../src/actors/ownership.js';
import { SnapshotWriter } from '../../src/actors/snapshot-writer.js';
import { StatusChanges } from '../../src/actors/status-changes.js';
import { MemoryInstanceStore } from '../../src/store/instance-store.js';
import type { PersistedInstanceSnapshot, StatusChange, WriteOptions } from '../../src/store/instance-store.js';
import { DraasError } from '../../src/errors.js';
import { machineInput, makeRecord, makeSnapshot, stubbedInstanceMachine } from '../store/fixtures.js';

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

/** Counts snapshot writes carried by change appends and those made on their own; both fail while `down`. */
class CountingStore extends MemoryInstanceStore {
  down = false;
  carried = 0;
  alone = 0;
  private inAppend = false;
  override async saveSnapshot(id: string, snapshot: PersistedInstanceSnapshot): Promise<void> {
    if (!this.inAppend) this.alone += 1;
    if (this.down) throw new DraasError('unavailable', 'store unreachable');
    return super.saveSnapshot(id, snapshot);
  }
  override async appendChange(change: Omit<StatusChange, 'sequence'>, options?: WriteOptions, snapshot?: PersistedInstanceSnapshot): Promise<StatusChange> {
    if (this.down) throw new DraasError('unavailable', 'store unreachable');
    if (snapshot) this.carried += 1;
    this.inAppend = true;
    try {
      return await super.appendChange(change, options, snapshot);
    } finally {
      this.inAppend = false;
    }
  }
}

const transitionContext = createActor(stubbedInstanceMachine(), { input: machineInput('a') }).getSnapshot().context;

function carriedPair(store: CountingStore) {
  const writer = new SnapshotWriter(store, () => undefined, { retryMs: 10, maxRetryMs: 40 });
  const changes = new StatusChanges({ store, snapshots: writer, ownership: new SoleOwnership(), ownTokens: new OwnTokens(), now: Date.now, log: () => undefined, retryMs: 10, maxRetryMs: 40 });
  return { writer, changes };
}

/** A store whose writes fail, a carrier pair on it, and a transition recorded with its snapshot while the store is down. */
async function transitionWhileDown(waitMs: number) {
  const store = new CountingStore();
  await store.insert(makeRecord('a'));
  const { writer, changes } = carriedPair(store);
  store.down = true;
  changes.record({ instanceId: 'a', from: 'Pending', to: 'Starting', context: transitionContext });
  writer.save('a', () => makeSnapshot(1));
  await sleep(waitMs);
  return { store, writer, changes };
}

test('a transition is one store write: its change carries the snapshot', async (t) => {
  const store = new CountingStore();
  await store.insert(makeRecord('a'));
  const { writer, changes } = carriedPair(store);
  for (const [n, to] of (['Starting', 'Running', 'Stopping'] as const).entries()) {
    // As an actor does: the transition first, then its snapshot, in one tick.
    changes.record({ instanceId: 'a', from: 'Pending', to, context: transitionContext });
    writer.save('a', () => makeSnapshot(n + 1));
    await changes.flush();
    await writer.flush();
  }
  t.is(store.carried, 3);
  t.is(store.alone, 0);
  t.deepEqual(await store.loadSnapshot('a'), makeSnapshot(3));
  // A snapshot with no change coming (a context change that is no transition) is written on its own.
  writer.save('a', () => makeSnapshot(4));
  await writer.flush();
  t.is(store.alone, 1);
  t.deepEqual(await store.loadSnapshot('a'), makeSnapshot(4));
  await changes.close();
  await writer.close();
});

test('a carried snapshot whose append failed stays unwritten until it lands, and a newer one replaces it', async (t) => {
  const { store, writer, changes } = await transitionWhileDown(60);
  t.deepEqual(writer.unwritten('a'), makeSnapshot(1), 'not known to be stored');
  writer.save('a', () => makeSnapshot(2));
  store.down = false;
  await changes.flush();
  await writer.flush();
  t.deepEqual(await store.loadSnapshot('a'), makeSnapshot(2));
  t.is(writer.unwritten('a'), undefined);
  t.deepEqual((await store.recentChanges({ limit: 5 })).map((change) => change.to), ['Starting']);
  await changes.close();
  await writer.close();
});

test('what waits for a carrier is written at close, by the writer', async (t) => {
  const { store, writer, changes } = await transitionWhileDown(30);
  store.down = false;
  await writer.close();
  t.deepEqual(await store.loadSnapshot('a'), makeSnapshot(1));
  await changes.close();
});
