/**
 * The instance-store contract: one suite, run against every implementation
 * (`memory.test.ts`, `file.test.ts`). Every test gets a fresh store from the
 * factory, which also closes it (t.teardown), so the tests run concurrently.
 */
import type { ExecutionContext } from 'ava';
import test from 'ava';
import { createActor } from 'xstate';
import type { InstanceStore, PersistedInstanceSnapshot, StatusChange } from '../../src/store/instance-store.js';
import { makeChange, makeRecord, makeSnapshot, machineInput, runningInstanceSnapshot, stubbedInstanceMachine } from './fixtures.js';

export interface StoreFactoryOptions {
  /** Entries the recent-changes log keeps (the implementation's default when absent). */
  changeLogLimit?: number;
}

export type MakeStore = (t: ExecutionContext, options?: StoreFactoryOptions) => Promise<InstanceStore>;

export function instanceStoreContract(name: string, makeStore: MakeStore): void {
  test(`${name}: insert, get, list, update, delete`, async (t) => {
    const store = await makeStore(t);
    t.is(await store.get('alpha'), undefined);
    t.deepEqual(await store.list(), []);
    t.true(await store.insert(makeRecord('alpha')));
    t.true(await store.insert(makeRecord('beta')));
    t.deepEqual(await store.get('alpha'), makeRecord('alpha'));
    t.deepEqual((await store.list()).map((record) => record.id).sort(), ['alpha', 'beta']);

    const updated = makeRecord('alpha', { generation: 2, configuration: { sources: [] }, updatedAt: '2025-01-02T00:00:00.000Z' });
    await store.update(updated);
    t.deepEqual(await store.get('alpha'), updated);

    await store.delete('alpha');
    t.is(await store.get('alpha'), undefined);
    t.deepEqual((await store.list()).map((record) => record.id), ['beta']);
    await t.notThrowsAsync(store.delete('alpha'), 'deleting an absent id does nothing');
    await t.notThrowsAsync(store.delete('never-was'));
  });

  test(`${name}: the stored record is a copy of what was written`, async (t) => {
    const store = await makeStore(t);
    const record = makeRecord('copied');
    await store.insert(record);
    record.description = 'changed after insert';
    record.environment.EXTRA = '1';
    t.deepEqual(await store.get('copied'), makeRecord('copied'));
  });

  test(`${name}: insert refuses a taken id and keeps the first record`, async (t) => {
    const store = await makeStore(t);
    t.true(await store.insert(makeRecord('taken', { description: 'first' })));
    t.false(await store.insert(makeRecord('taken', { description: 'second' })));
    t.is((await store.get('taken'))?.description, 'first');

    const results = await Promise.all(
      Array.from({ length: 10 }, (_, n) => store.insert(makeRecord('raced', { description: `racer ${n}` }))),
    );
    t.is(results.filter(Boolean).length, 1, 'exactly one of concurrent inserts wins');
    t.is((await store.get('raced'))?.description, `racer ${results.indexOf(true)}`);
  });

  test(`${name}: an id can be inserted again after delete`, async (t) => {
    const store = await makeStore(t);
    await store.insert(makeRecord('again', { description: 'one' }));
    await store.saveSnapshot('again', makeSnapshot(1));
    await store.delete('again');
    t.true(await store.insert(makeRecord('again', { description: 'two' })));
    t.is((await store.get('again'))?.description, 'two');
    t.is(await store.loadSnapshot('again'), undefined, 'the new instance starts without the old snapshot');
  });

  test(`${name}: snapshots are saved, replaced, loaded and deleted with their record`, async (t) => {
    const store = await makeStore(t);
    await store.insert(makeRecord('snap'));
    t.is(await store.loadSnapshot('snap'), undefined);
    await store.saveSnapshot('snap', makeSnapshot(1));
    t.deepEqual(await store.loadSnapshot('snap'), makeSnapshot(1));
    await store.saveSnapshot('snap', makeSnapshot(2));
    t.deepEqual(await store.loadSnapshot('snap'), makeSnapshot(2));

    await store.delete('snap');
    t.is(await store.loadSnapshot('snap'), undefined);
    t.deepEqual(await store.loadAll(), []);
  });

  test(`${name}: a snapshot of an id without a record is not kept`, async (t) => {
    const store = await makeStore(t);
    await store.saveSnapshot('ghost', makeSnapshot(1));
    t.is(await store.loadSnapshot('ghost'), undefined);
    t.deepEqual(await store.loadAll(), []);
    await store.insert(makeRecord('ghost'));
    t.is(await store.loadSnapshot('ghost'), undefined);
  });

  test(`${name}: a change appended with a snapshot stores both; after its record is gone, only the change`, async (t) => {
    const store = await makeStore(t);
    await store.insert(makeRecord('along'));
    const first = await store.appendChange(makeChange('along', 0), {}, makeSnapshot(1));
    t.deepEqual(await store.loadSnapshot('along'), makeSnapshot(1));
    t.deepEqual((await store.recentChanges({ limit: 10 })).map((change) => change.sequence), [first.sequence]);
    await store.appendChange(makeChange('along', 1));
    t.deepEqual(await store.loadSnapshot('along'), makeSnapshot(1), 'a change without a snapshot leaves the snapshot alone');
    await store.delete('along');
    const last = await store.appendChange(makeChange('along', 2), {}, makeSnapshot(3));
    t.is(last.sequence, first.sequence + 2);
    t.is(await store.loadSnapshot('along'), undefined, 'the last change of a deleted instance does not resurrect its snapshot');
    await store.insert(makeRecord('along'));
    t.is(await store.loadSnapshot('along'), undefined);
    await t.throwsAsync(store.appendChange(makeChange('along', 3), {}, { snapshot: {} } as unknown as PersistedInstanceSnapshot), { instanceOf: TypeError });
  });

  test(`${name}: a malformed snapshot is refused`, async (t) => {
    const store = await makeStore(t);
    await store.insert(makeRecord('strict'));
    const missingVersion = { savedAt: 'now', snapshot: {} } as unknown as PersistedInstanceSnapshot;
    await t.throwsAsync(store.saveSnapshot('strict', missingVersion), { instanceOf: TypeError, message: /machineVersion/ });
    const missingSnapshot = { machineVersion: 1, savedAt: 'now' } as unknown as PersistedInstanceSnapshot;
    await t.throwsAsync(store.saveSnapshot('strict', missingSnapshot), { instanceOf: TypeError, message: /snapshot/ });
    t.is(await store.loadSnapshot('strict'), undefined);
  });

  test(`${name}: a snapshot reads back as JSON`, async (t) => {
    const store = await makeStore(t);
    await store.insert(makeRecord('json'));
    const withExtras = { ...makeSnapshot(1), snapshot: { when: new Date(0), skip: undefined, list: [1, 'a', null] }, extra: 'dropped' };
    await store.saveSnapshot('json', withExtras);
    t.deepEqual(await store.loadSnapshot('json'), {
      machineVersion: withExtras.machineVersion,
      savedAt: withExtras.savedAt,
      snapshot: { when: '1970-01-01T00:00:00.000Z', list: [1, 'a', null] },
    });
  });

  test(`${name}: a real actor snapshot restores the actor`, async (t) => {
    const store = await makeStore(t);
    await store.insert(makeRecord('actor'));
    const persisted = await runningInstanceSnapshot('actor');
    await store.saveSnapshot('actor', persisted);
    const loaded = await store.loadSnapshot('actor');
    t.truthy(loaded);
    const restored = createActor(stubbedInstanceMachine(), { snapshot: loaded?.snapshot as never, input: machineInput('actor') });
    restored.start();
    t.teardown(() => restored.stop());
    const snapshot = restored.getSnapshot();
    t.is(snapshot.value, 'Running');
    t.is(snapshot.context.workload?.workloadId, 'pid-42');
    t.deepEqual(restored.getPersistedSnapshot(), persisted.snapshot);
  });

  test(`${name}: loadAll returns every record with its snapshot, sorted by id`, async (t) => {
    const store = await makeStore(t);
    for (const id of ['charlie', 'alpha', 'bravo']) await store.insert(makeRecord(id));
    await store.saveSnapshot('alpha', makeSnapshot(1));
    await store.saveSnapshot('charlie', makeSnapshot(3));
    const all = await store.loadAll();
    t.deepEqual(all, [
      { record: makeRecord('alpha'), snapshot: makeSnapshot(1) },
      { record: makeRecord('bravo') },
      { record: makeRecord('charlie'), snapshot: makeSnapshot(3) },
    ]);
    t.false('snapshot' in (all[1] ?? {}), 'a record without a snapshot has no snapshot key');
  });

  test(`${name}: loadPage reads one page in code-point order after an id, and says whether more follow`, async (t) => {
    const store = await makeStore(t);
    for (const id of ['b-1', 'a', 'b1', 'c', 'b']) await store.insert(makeRecord(id));
    await store.saveSnapshot('b1', makeSnapshot(2));
    const first = await store.loadPage(undefined, 2);
    t.deepEqual(first, { items: [{ record: makeRecord('a') }, { record: makeRecord('b') }], more: true });
    const second = await store.loadPage('b', 2);
    t.deepEqual(second, { items: [{ record: makeRecord('b-1') }, { record: makeRecord('b1'), snapshot: makeSnapshot(2) }], more: true });
    t.deepEqual(await store.loadPage('b1', 2), { items: [{ record: makeRecord('c') }], more: false });
    t.deepEqual(await store.loadPage('c', 2), { items: [], more: false });
    // After an id that is gone (deleted since the page before): the ids after it.
    t.deepEqual((await store.loadPage('aa', 1)).items.map((item) => item.record.id), ['b']);
  });

  test(`${name}: reads see writes issued before them`, async (t) => {
    const store = await makeStore(t);
    await store.insert(makeRecord('rw'));
    const writes = [store.update(makeRecord('rw', { generation: 7 })), store.saveSnapshot('rw', makeSnapshot(7))];
    t.is((await store.get('rw'))?.generation, 7);
    t.deepEqual(await store.loadSnapshot('rw'), makeSnapshot(7));
    t.deepEqual(await store.loadAll(), [{ record: makeRecord('rw', { generation: 7 }), snapshot: makeSnapshot(7) }]);
    const deleting = store.delete('rw');
    t.is(await store.get('rw'), undefined);
    t.is(await store.loadSnapshot('rw'), undefined);
    await Promise.all([...writes, deleting]);
  });

  test(`${name}: concurrent writes to one id end with the last one`, async (t) => {
    const store = await makeStore(t);
    await store.insert(makeRecord('busy'));
    const writes: Promise<void>[] = [];
    for (let n = 1; n <= 50; n++) {
      writes.push(store.update(makeRecord('busy', { generation: n })));
      writes.push(store.saveSnapshot('busy', makeSnapshot(n)));
    }
    await Promise.all(writes);
    t.is((await store.get('busy'))?.generation, 50);
    t.deepEqual(await store.loadSnapshot('busy'), makeSnapshot(50));
    t.deepEqual(await store.loadAll(), [{ record: makeRecord('busy', { generation: 50 }), snapshot: makeSnapshot(50) }]);

    // Delete and re-create in flight: the last call decides.
    const churn = [
      store.update(makeRecord('busy', { generation: 51 })),
      store.saveSnapshot('busy', makeSnapshot(51)),
      store.delete('busy'),
      store.saveSnapshot('busy', makeSnapshot(52)),
      store.insert(makeRecord('busy', { generation: 1, description: 'reborn' })),
    ];
    await Promise.all(churn);
    t.is((await store.get('busy'))?.description, 'reborn');
    t.is(await store.loadSnapshot('busy'), undefined);
  });

  test(`${name}: recent changes are numbered, ordered and filtered`, async (t) => {
    const store = await makeStore(t, { changeLogLimit: 100 });
    const appended: StatusChange[] = [];
    for (let n = 0; n < 10; n++) appended.push(await store.appendChange(makeChange(n % 2 === 0 ? 'even' : 'odd', n)));
    t.deepEqual(
      appended.map((change) => change.sequence),
      [...appended.map((change) => change.sequence)].sort((a, b) => a - b),
    );
    t.true(appended.every((change, n) => n === 0 || change.sequence > (appended[n - 1]?.sequence ?? Infinity)));
    t.deepEqual(appended[3], { ...makeChange('odd', 3), sequence: appended[3]?.sequence });

    t.deepEqual(await store.recentChanges({ limit: 100 }), appended);
    t.deepEqual(await store.recentChanges({ limit: 3 }), appended.slice(-3), 'the newest, oldest first');
    t.deepEqual(await store.recentChanges({ limit: 0 }), []);
    t.deepEqual(
      await store.recentChanges({ limit: 100, instanceId: 'odd' }),
      appended.filter((change) => change.instanceId === 'odd'),
    );
    const after = appended[6]?.sequence ?? 0;
    t.deepEqual(await store.recentChanges({ limit: 100, afterSequence: after }), appended.slice(7));
    t.deepEqual(
      await store.recentChanges({ limit: 1, afterSequence: after, instanceId: 'even' }),
      [appended[8]],
    );
    t.deepEqual(await store.recentChanges({ limit: 100, instanceId: 'nobody' }), []);
  });

  test(`${name}: recent changes are bounded to the newest entries`, async (t) => {
    const store = await makeStore(t, { changeLogLimit: 5 });
    const appended = await Promise.all(Array.from({ length: 23 }, (_, n) => store.appendChange(makeChange('bounded', n))));
    const sequences = appended.map((change) => change.sequence);
    t.deepEqual(new Set(sequences).size, 23, 'concurrent appends get distinct numbers');
    t.deepEqual(await store.recentChanges({ limit: 100 }), appended.slice(-5));
    t.deepEqual(await store.recentChanges({ limit: 2 }), appended.slice(-2));
  });

  test(`${name}: readChanges follows the log by sequence and tells how far back it reaches`, async (t) => {
    const store = await makeStore(t, { changeLogLimit: 5 });
    t.deepEqual(await store.readChanges(0, 10), { changes: [], oldest: undefined, newest: 0 });
    let signals = 0;
    const unwatch = store.watchChanges(() => (signals += 1));
    const appended: StatusChange[] = [];
    for (let n = 0; n < 4; n++) appended.push(await store.appendChange(makeChange('read', n)));
    // At least once each: a store that several processes share also wakes watchers when it sees appends in the log.
    t.true(signals >= 4, `each stored append is signalled (${signals} signals)`);
    unwatch();
    const afterUnwatch = signals;
    const first = appended[0]!.sequence;
    t.deepEqual(await store.readChanges(first - 1, 2), { changes: appended.slice(0, 2), oldest: first, newest: appended[3]!.sequence }, 'the oldest after the position');
    t.deepEqual((await store.readChanges(appended[1]!.sequence, 10)).changes, appended.slice(2));
    t.deepEqual((await store.readChanges(appended[3]!.sequence, 10)).changes, [], 'a reader that kept up reads nothing');
    t.deepEqual((await store.readChanges(Number.MAX_SAFE_INTEGER, 0)).newest, appended[3]!.sequence);

    for (let n = 4; n < 40; n++) appended.push(await store.appendChange(makeChange('read', n)));
    t.is(signals, afterUnwatch, 'no signal after unwatch');
    const read = await store.readChanges(first, 100);
    t.true(read.oldest !== undefined && read.oldest > first + 1, `the log no longer keeps what followed ${first} (oldest ${read.oldest})`);
    t.is(read.newest, appended.at(-1)!.sequence);
    t.deepEqual(read.changes, appended.filter((change) => change.sequence >= read.oldest!), 'what it keeps, oldest first');
    t.true(read.changes.length >= 5);
  });

  test(`${name}: close is idempotent`, async (t) => {
    const store = await makeStore(t);
    await store.insert(makeRecord('closing'));
    await Promise.all([store.close(), store.close()]);
    await t.notThrowsAsync(store.close());
  });
}
