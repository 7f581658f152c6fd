/**
 * Status changes are recorded in the change log and fed to subscribers from
 * it: an append that fails is retried in order until it lands (never dropped
 * for a transient error); subscribers get every stored change once, in
 * sequence order, including one that resumes from an older position while
 * others follow live; a change made under a lease this replica has lost lands
 * only while no other replica held the lease since.
 */
import test from 'ava';
import { createActor } from 'xstate';
import { ChangeFeed } from '../../src/actors/change-feed.js';
import { fenceForHeldWrite, OwnTokens } from '../../src/actors/held-writes.js';
import { SoleOwnership } from '../../src/actors/ownership.js';
import { RECORDED_WAIT_MS, StatusChanges, type InstanceEventEnvelope } from '../../src/actors/status-changes.js';
import { DraasError } from '../../src/errors.js';
import { MemoryInstanceStore, type StatusChange } from '../../src/store/instance-store.js';
import { waitFor } from '../helpers/processes.js';
import { machineInput, makeChange, stubbedInstanceMachine } from '../store/fixtures.js';

/** A memory store whose appends fail while `down` is true. */
class FlakyStore extends MemoryInstanceStore {
  down = false;
  attempts = 0;
  override async appendChange(change: Omit<StatusChange, 'sequence'>): Promise<StatusChange> {
    this.attempts += 1;
    if (this.down) throw new DraasError('unavailable', 'store unreachable');
    return super.appendChange(change);
  }
}

const context = createActor(stubbedInstanceMachine(), { input: machineInput('x') }).getSnapshot().context;

test('appends that fail are retried in order until they land; subscribers get them once each, in order', async (t) => {
  const store = new FlakyStore();
  const log: string[] = [];
  const changes = new StatusChanges({ store, ownership: new SoleOwnership(), ownTokens: new OwnTokens(), now: Date.now, log: (line) => log.push(line), retryMs: 10, maxRetryMs: 40 });
  t.teardown(() => changes.close());
  const received: InstanceEventEnvelope[] = [];
  await changes.subscribe((event) => received.push(event));

  store.down = true;
  changes.record({ instanceId: 'x', from: null, to: 'Pending', context });
  changes.record({ instanceId: 'x', from: 'Pending', to: 'Starting', context });
  changes.record({ instanceId: 'x', from: 'Starting', to: 'Running', context });
  await waitFor(() => store.attempts >= 4, 2_000, 'retries');
  t.deepEqual(await store.recentChanges({ limit: 10 }), []);
  t.is(log.filter((line) => /not recorded yet/.test(line)).length, 1, 'an outage is one log line');
  store.down = false;
  await changes.flush();
  t.deepEqual((await store.recentChanges({ limit: 10 })).map((change) => change.to), ['Pending', 'Starting', 'Running']);
  await waitFor(() => received.length === 3, 2_000, 'delivered');
  t.deepEqual(received.map((event) => event.payload.to), ['Pending', 'Starting', 'Running']);
  t.deepEqual(received.map((event) => event.sequence), [1, 2, 3]);
  t.deepEqual(received.map((event) => event.eventId), ['1', '2', '3']);
});

test('a subscriber that resumes from an older position catches up from the log while another follows live, each getting every change once', async (t) => {
  const store = new MemoryInstanceStore();
  const feed = new ChangeFeed(store, { pollMs: 60_000 });
  t.teardown(() => feed.close());
  const live: number[] = [];
  await feed.subscribe({ change: (change) => live.push(change.sequence) });
  for (let n = 0; n < 10; n++) await store.appendChange(makeChange('feed', n));
  await waitFor(() => live.length === 10, 2_000, 'live delivery');
  const resumed: number[] = [];
  await feed.subscribe({ change: (change) => resumed.push(change.sequence) }, 4);
  for (let n = 10; n < 13; n++) await store.appendChange(makeChange('feed', n));
  await waitFor(() => live.length === 13 && resumed.length === 9, 2_000, 'both complete');
  t.deepEqual(live, Array.from({ length: 13 }, (_, n) => n + 1));
  t.deepEqual(resumed, Array.from({ length: 9 }, (_, n) => n + 5));
});

test('a reader whose store read fails keeps its position and catches up once the store answers', async (t) => {
  const store = new MemoryInstanceStore();
  let failing = true;
  const reader = {
    readChanges: (after: number, limit: number) => (failing ? Promise.reject(new DraasError('unavailable', 'down')) : store.readChanges(after, limit)),
    watchChanges: (listener: () => void) => store.watchChanges(listener),
  };
  const feed = new ChangeFeed(reader, { retryMs: 10, maxRetryMs: 20 });
  t.teardown(() => feed.close());
  const got: number[] = [];
  await feed.subscribe({ change: (change) => got.push(change.sequence) }, 0);
  for (let n = 0; n < 5; n++) await store.appendChange(makeChange('down', n));
  await new Promise((resolve) => setTimeout(resolve, 100));
  t.deepEqual(got, []);
  failing = false;
  await waitFor(() => got.length === 5, 2_000, 'caught up');
  t.deepEqual(got, [1, 2, 3, 4, 5]);
});

test('state made under a lost lease is written under the token held now only if every token since was this replica’s', (t) => {
  const own = new OwnTokens();
  const made = { lease: 'shard-3', token: 7 };
  own.note(made);
  t.deepEqual(fenceForHeldWrite(made, made, own), { options: { fence: made } }, 'same lease token');
  t.deepEqual(fenceForHeldWrite(made, { lease: 'shard-3', token: 0 }, own), { options: { fence: made } }, 'not held now: the store’s fence check decides');
  t.deepEqual(fenceForHeldWrite(made, { lease: 'shard-3', token: 9 }, own), { superseded: true }, 'tokens 8 and 9 may be another replica’s');
  own.note({ lease: 'shard-3', token: 8 }); // taken and handed back (its load failed)
  own.note({ lease: 'shard-3', token: 9 });
  t.deepEqual(fenceForHeldWrite(made, { lease: 'shard-3', token: 9 }, own), { options: { fence: { lease: 'shard-3', token: 9 } } });
  t.deepEqual(fenceForHeldWrite(made, { lease: 'shard-3', token: 11 }, own), { superseded: true }, 'token 10 was not this replica’s');
  t.deepEqual(fenceForHeldWrite(undefined, undefined, own), { options: {} }, 'unfenced stores');
});

/** A memory store whose appends take `delayMs`. */
class SlowStore extends MemoryInstanceStore {
  delayMs = 300;
  override async appendChange(...args: Parameters<MemoryInstanceStore['appendChange']>): Promise<StatusChange> {
    await new Promise((resolve) => setTimeout(resolve, this.delayMs));
    return super.appendChange(...args);
  }
}

test('a read of the recent changes finds the changes this replica made before it, even while their writes are under way', async (t) => {
  const store = new SlowStore();
  const changes = new StatusChanges({ store, ownership: new SoleOwnership(), ownTokens: new OwnTokens(), now: Date.now, log: () => {}, retryMs: 10, maxRetryMs: 40 });
  t.teardown(() => changes.close());
  changes.record({ instanceId: 'x', from: null, to: 'Pending', context });
  changes.record({ instanceId: 'x', from: 'Pending', to: 'Starting', context });
  changes.record({ instanceId: 'y', from: null, to: 'Pending', context });
  t.deepEqual(await store.recentChanges({ limit: 10 }), [], 'nothing written yet');
  t.deepEqual((await changes.recent({ limit: 10, instanceId: 'x' })).map((change) => change.to), ['Pending', 'Starting']);
  changes.record({ instanceId: 'x', from: 'Starting', to: 'Running', context });
  t.deepEqual((await changes.recent({ limit: 10 })).map((change) => `${change.instanceId}:${change.to}`).sort(), ['x:Pending', 'x:Running', 'x:Starting', 'y:Pending']);
});

test('while the store refuses the writes, a read of the recent changes waits a bounded time, then answers what the log holds', async (t) => {
  const store = new FlakyStore();
  const changes = new StatusChanges({ store, ownership: new SoleOwnership(), ownTokens: new OwnTokens(), now: Date.now, log: () => {}, retryMs: 10, maxRetryMs: 40 });
  t.teardown(() => changes.close());
  store.down = true;
  changes.record({ instanceId: 'x', from: null, to: 'Pending', context });
  const began = Date.now();
  t.deepEqual(await changes.recent({ limit: 10 }), []);
  const waited = Date.now() - began;
  t.true(waited >= RECORDED_WAIT_MS - 50 && waited < RECORDED_WAIT_MS + 1_000, `waited ${waited} ms`);
  store.down = false;
  t.deepEqual((await changes.recent({ limit: 10 })).map((change) => change.to), ['Pending']);
});
