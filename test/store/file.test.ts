import type { ExecutionContext } from 'ava';
import test from 'ava';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BadRequestError } from '../../src/errors.js';
import { FileInstanceStore, StoreLockedError, type FileInstanceStoreOptions } from '../../src/store/file-store.js';
import type { InstanceRecord, StatusChange } from '../../src/store/instance-store.js';
import { instanceStoreContract } from './contract.js';
import { makeChange, makeRecord, makeSnapshot, runningInstanceSnapshot } from './fixtures.js';

const here = dirname(fileURLToPath(import.meta.url));

function tempDataDir(t: ExecutionContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'draas-store-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Opens a store whose warnings are collected; closes it at teardown. */
async function openStore(t: ExecutionContext, dataDir: string, options: FileInstanceStoreOptions = {}) {
  const warnings: string[] = [];
  const store = await FileInstanceStore.open(dataDir, { log: (message) => warnings.push(message), ...options });
  t.teardown(() => store.close());
  return { store, warnings };
}

for (const durable of [true, false]) {
  instanceStoreContract(`file (durable: ${durable})`, async (t, options = {}) => {
    const { store } = await openStore(t, tempDataDir(t), { durable, ...options });
    return store;
  });
}

const state = (dataDir: string, ...path: string[]) => join(dataDir, 'state', ...path);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

test('file: the layout on disk', async (t) => {
  const dataDir = tempDataDir(t);
  const { store } = await openStore(t, dataDir);
  await store.insert(makeRecord('laid-out'));
  await store.saveSnapshot('laid-out', makeSnapshot(1));
  await store.appendChange(makeChange('laid-out', 0));
  t.deepEqual(readdirSync(state(dataDir)).sort(), ['changes.jsonl', 'format.json', 'lock', 'records', 'snapshots']);
  t.deepEqual(JSON.parse(readFileSync(state(dataDir, 'format.json'), 'utf8')), { format: 'draas-file-store', version: 1 });
  t.is(readFileSync(state(dataDir, 'lock'), 'utf8').trim(), String(process.pid));
  t.deepEqual(JSON.parse(readFileSync(state(dataDir, 'records', 'laid-out.json'), 'utf8')), makeRecord('laid-out'));
  t.deepEqual(JSON.parse(readFileSync(state(dataDir, 'snapshots', 'laid-out.json'), 'utf8')), makeSnapshot(1));
  const lines = readFileSync(state(dataDir, 'changes.jsonl'), 'utf8').trimEnd().split('\n');
  t.deepEqual(lines.map((line) => JSON.parse(line) as unknown), [{ ...makeChange('laid-out', 0), sequence: 1 }]);
  t.is(statSync(state(dataDir, 'records', 'laid-out.json')).mode & 0o777, 0o600, 'records hold secrets: owner only');
  await store.close();
  t.false(existsSync(state(dataDir, 'lock')), 'close releases the lock');
});

test('file: everything survives close and reopen; sequences continue', async (t) => {
  const dataDir = tempDataDir(t);
  const first = await openStore(t, dataDir);
  const persisted = await runningInstanceSnapshot('kept');
  await first.store.insert(makeRecord('kept'));
  await first.store.insert(makeRecord('plain'));
  await first.store.insert(makeRecord('gone'));
  await first.store.saveSnapshot('kept', persisted);
  await first.store.saveSnapshot('gone', makeSnapshot(1));
  void first.store.update(makeRecord('kept', { generation: 3 }));
  void first.store.delete('gone');
  const changes: StatusChange[] = [];
  for (let n = 0; n < 5; n++) changes.push(await first.store.appendChange(makeChange('kept', n)));
  await first.store.close();

  const second = await openStore(t, dataDir);
  t.deepEqual(second.warnings, []);
  t.deepEqual(await second.store.loadAll(), [
    { record: makeRecord('kept', { generation: 3 }), snapshot: JSON.parse(JSON.stringify(persisted)) },
    { record: makeRecord('plain') },
  ]);
  t.is(await second.store.get('gone'), undefined);
  t.false(existsSync(state(dataDir, 'snapshots', 'gone.json')));
  t.deepEqual(await second.store.recentChanges({ limit: 100 }), changes);
  const next = await second.store.appendChange(makeChange('kept', 5));
  t.is(next.sequence, (changes.at(-1)?.sequence ?? 0) + 1);
  t.false(await second.store.insert(makeRecord('plain')), 'the reopened store knows the taken ids');
});

test('file: the change log file stays bounded and keeps numbering', async (t) => {
  const dataDir = tempDataDir(t);
  const first = await openStore(t, dataDir, { changeLogLimit: 5 });
  let last: StatusChange | undefined;
  for (let n = 0; n < 37; n++) last = await first.store.appendChange(makeChange('log', n));
  const lines = () => readFileSync(state(dataDir, 'changes.jsonl'), 'utf8').trimEnd().split('\n');
  t.true(lines().length <= 10, `at most 2 × limit lines on disk, found ${lines().length}`);
  await first.store.close();

  const second = await openStore(t, dataDir, { changeLogLimit: 5 });
  const recent = await second.store.recentChanges({ limit: 100 });
  t.deepEqual(
    recent.map((change) => change.sequence),
    [33, 34, 35, 36, 37],
  );
  t.is(last?.sequence, 37);
  t.is((await second.store.appendChange(makeChange('log', 37))).sequence, 38);
});

test('file: a damaged change log loses only its damaged lines', async (t) => {
  const dataDir = tempDataDir(t);
  const first = await openStore(t, dataDir);
  for (let n = 0; n < 4; n++) await first.store.appendChange(makeChange('damaged', n));
  await first.store.close();
  const path = state(dataDir, 'changes.jsonl');
  const lines = readFileSync(path, 'utf8').trimEnd().split('\n');
  // A line of garbage in the middle and a torn last line.
  writeFileSync(path, [lines[0], 'not json', lines[1], lines[2], (lines[3] ?? '').slice(0, 20)].join('\n'));

  const second = await openStore(t, dataDir);
  t.is(second.warnings.length, 1);
  t.regex(second.warnings[0] ?? '', /changes\.jsonl: skipped 2 unreadable line\(s\)/);
  t.deepEqual(
    (await second.store.recentChanges({ limit: 100 })).map((change) => change.sequence),
    [1, 2, 3],
  );
  t.is((await second.store.appendChange(makeChange('damaged', 9))).sequence, 4);
  await second.store.close();
  const after = readFileSync(path, 'utf8');
  t.true(after.endsWith('\n'));
  t.deepEqual(
    after.trimEnd().split('\n').map((line) => (JSON.parse(line) as StatusChange).sequence),
    [1, 2, 3, 4],
  );
});

test('file: foreign and corrupt files are skipped with a warning', async (t) => {
  const dataDir = tempDataDir(t);
  const first = await openStore(t, dataDir);
  await first.store.insert(makeRecord('good'));
  await first.store.insert(makeRecord('bad-snapshot'));
  await first.store.saveSnapshot('bad-snapshot', makeSnapshot(1));
  await first.store.close();

  writeFileSync(state(dataDir, 'records', 'README.txt'), 'hello');
  writeFileSync(state(dataDir, 'records', 'Upper.json'), JSON.stringify(makeRecord('Upper')));
  writeFileSync(state(dataDir, 'records', 'truncated.json'), JSON.stringify(makeRecord('truncated')).slice(0, 40));
  writeFileSync(state(dataDir, 'records', 'mismatch.json'), JSON.stringify(makeRecord('other')));
  writeFileSync(state(dataDir, 'records', 'shapeless.json'), JSON.stringify({ id: 'shapeless' }));
  mkdirSync(state(dataDir, 'records', 'sub.json'));
  writeFileSync(state(dataDir, 'snapshots', 'bad-snapshot.json'), '{"machineVersion":1,');
  writeFileSync(state(dataDir, 'snapshots', 'orphan.json'), JSON.stringify(makeSnapshot(1)));

  const second = await openStore(t, dataDir);
  const all = await second.store.loadAll();
  t.deepEqual(all, [{ record: makeRecord('bad-snapshot') }, { record: makeRecord('good') }]);
  t.is(await second.store.loadSnapshot('bad-snapshot'), undefined);
  t.is(await second.store.loadSnapshot('orphan'), undefined);
  const expected = [
    /README\.txt: ignored, not a record file/,
    /Upper\.json: ignored, not a record file/,
    /truncated\.json: skipped, not JSON/,
    /mismatch\.json: skipped, not an instance record: its id "other" does not match/,
    /shapeless\.json: skipped, not an instance record/,
    /sub\.json: ignored/,
    /1 snapshot\(s\) without a record are ignored/,
    /snapshots\/bad-snapshot\.json: skipped, not JSON/,
  ];
  for (const pattern of expected) t.true(second.warnings.some((warning) => pattern.test(warning)), `a warning matching ${pattern}`);
  t.log(second.warnings.join('\n'));

  // A foreign file is left alone; a record written under a skipped name replaces it.
  t.true(existsSync(state(dataDir, 'records', 'README.txt')));
  t.true(await second.store.insert(makeRecord('truncated')));
  t.deepEqual(JSON.parse(readFileSync(state(dataDir, 'records', 'truncated.json'), 'utf8')), makeRecord('truncated'));
  t.true(await second.store.insert(makeRecord('orphan')));
  t.is(await second.store.loadSnapshot('orphan'), undefined, 'an orphaned snapshot does not attach to a new record');
});

test('file: temporary files are never read as data and are removed at open', async (t) => {
  const dataDir = tempDataDir(t);
  const first = await openStore(t, dataDir);
  await first.store.insert(makeRecord('real'));
  await first.store.saveSnapshot('real', makeSnapshot(1));
  await first.store.close();
  const planted = [
    state(dataDir, 'records', 'ghost.json.0123456789ab.tmp'),
    state(dataDir, 'records', 'real.json.0123456789ab.tmp'),
    state(dataDir, 'snapshots', 'real.json.0123456789ab.tmp'),
    state(dataDir, 'changes.jsonl.0123456789ab.tmp'),
  ];
  writeFileSync(planted[0] ?? '', JSON.stringify(makeRecord('ghost')));
  writeFileSync(planted[1] ?? '', JSON.stringify(makeRecord('real', { generation: 99 })));
  writeFileSync(planted[2] ?? '', JSON.stringify(makeSnapshot(99)));
  writeFileSync(planted[3] ?? '', `${JSON.stringify({ ...makeChange('ghost', 1), sequence: 500 })}\n`);

  const second = await openStore(t, dataDir);
  t.deepEqual(await second.store.loadAll(), [{ record: makeRecord('real'), snapshot: makeSnapshot(1) }]);
  t.is(await second.store.get('ghost'), undefined);
  t.deepEqual(await second.store.recentChanges({ limit: 10 }), []);
  for (const path of planted) t.false(existsSync(path), `${path} removed`);
  t.true(second.warnings.some((warning) => /removed 2 temporary file/.test(warning)));
});

test('file: ids that are not DNS-1123 labels are refused', async (t) => {
  const dataDir = tempDataDir(t);
  const { store } = await openStore(t, dataDir);
  for (const id of ['../escape', 'UPPER', 'a/b', '', '-dash', 'x'.repeat(41), 'dot.json']) {
    const record = makeRecord('placeholder', { id });
    await t.throwsAsync(store.insert(record), { instanceOf: BadRequestError }, JSON.stringify(id));
    await t.throwsAsync(store.update(record), { instanceOf: BadRequestError });
    t.is(await store.get(id), undefined);
    t.is(await store.loadSnapshot(id), undefined);
    await t.notThrowsAsync(store.saveSnapshot(id, makeSnapshot(1)));
    await t.notThrowsAsync(store.delete(id));
  }
  t.deepEqual(readdirSync(state(dataDir, 'records')), []);
  t.deepEqual(readdirSync(state(dataDir, 'snapshots')), []);
  t.false(existsSync(join(dataDir, 'escape.json')));
});

test('file: one process at a time', async (t) => {
  const dataDir = tempDataDir(t);
  const first = await openStore(t, dataDir);
  await t.throwsAsync(FileInstanceStore.open(dataDir, { log: () => undefined }), {
    instanceOf: StoreLockedError,
    message: /already open in this process/,
  });
  await first.store.close();
  const second = await openStore(t, dataDir);
  await second.store.close();

  // A lock left by a process that is gone is taken over.
  const gone = spawnSync(process.execPath, ['-e', '']);
  t.is(gone.status, 0);
  writeFileSync(state(dataDir, 'lock'), `${gone.pid}\n`);
  const third = await openStore(t, dataDir);
  t.true(third.warnings.some((warning) => warning.includes(`left by process ${gone.pid}`)));
  await third.store.close();

  // A lock held by a live process is not.
  writeFileSync(state(dataDir, 'lock'), `${process.ppid}\n`);
  await t.throwsAsync(FileInstanceStore.open(dataDir, { log: () => undefined }), {
    instanceOf: StoreLockedError,
    message: new RegExp(`in use by process ${process.ppid}`),
  });
});

test('file: a store written by a newer format is refused', async (t) => {
  const dataDir = tempDataDir(t);
  mkdirSync(state(dataDir), { recursive: true });
  writeFileSync(state(dataDir, 'format.json'), JSON.stringify({ format: 'draas-file-store', version: 2 }));
  await t.throwsAsync(FileInstanceStore.open(dataDir, { log: () => undefined }), { message: /newer DRaaS \(store format 2/ });
  t.false(existsSync(state(dataDir, 'lock')), 'a failed open releases the lock');
});

test('file: no writes after close', async (t) => {
  const dataDir = tempDataDir(t);
  const { store } = await openStore(t, dataDir);
  const pending = store.insert(makeRecord('last'));
  await store.close();
  t.true(await pending, 'close waits for the pending write');
  await t.throwsAsync(store.update(makeRecord('last')), { message: /closed/ });
  await t.throwsAsync(store.appendChange(makeChange('last', 1)), { message: /closed/ });
  t.truthy(await store.get('last'));
});

test('file: a failed write leaves memory matching the disk', async (t) => {
  const dataDir = tempDataDir(t);
  const { store } = await openStore(t, dataDir);
  await store.insert(makeRecord('fragile'));
  await store.saveSnapshot('fragile', makeSnapshot(1));
  // Swap the snapshots directory for a plain file: every snapshot write fails.
  const snapshots = state(dataDir, 'snapshots');
  rmSync(snapshots, { recursive: true });
  writeFileSync(snapshots, 'not a directory');
  await t.throwsAsync(store.saveSnapshot('fragile', makeSnapshot(2)), { code: 'ENOTDIR' });
  t.is(await store.loadSnapshot('fragile'), undefined, 'memory follows the disk, where no snapshot is left');
  await store.delete('fragile');
  t.is(await store.get('fragile'), undefined);
  t.false(existsSync(state(dataDir, 'records', 'fragile.json')));

  rmSync(snapshots);
  mkdirSync(snapshots);
  t.true(await store.insert(makeRecord('fragile', { generation: 2 })));
  await store.saveSnapshot('fragile', makeSnapshot(3));
  t.deepEqual(await store.loadSnapshot('fragile'), makeSnapshot(3));

  // A record write that fails: memory is re-read from the disk (here: nothing readable).
  const records = state(dataDir, 'records');
  rmSync(records, { recursive: true });
  writeFileSync(records, 'not a directory');
  await t.throwsAsync(store.update(makeRecord('fragile', { generation: 3 })), { code: 'ENOTDIR' });
  t.is(await store.get('fragile'), undefined);
  rmSync(records);
  mkdirSync(records);
  await store.update(makeRecord('fragile', { generation: 4 }));
  t.is((await store.get('fragile'))?.generation, 4);
});

/** Every record, snapshot and change file of the store parses and is whole. */
function assertWholeFiles(t: ExecutionContext, dataDir: string): { tmp: number; records: number; snapshots: number } {
  let tmp = 0;
  let records = 0;
  let snapshots = 0;
  for (const name of readdirSync(state(dataDir, 'records'))) {
    if (name.endsWith('.tmp')) {
      tmp++;
      continue;
    }
    const record = JSON.parse(readFileSync(state(dataDir, 'records', name), 'utf8')) as InstanceRecord;
    t.is(record.description.length, record.configuration.size as number, `${name} is one complete write`);
    records++;
  }
  for (const name of readdirSync(state(dataDir, 'snapshots'))) {
    if (name.endsWith('.tmp')) {
      tmp++;
      continue;
    }
    const persisted = JSON.parse(readFileSync(state(dataDir, 'snapshots', name), 'utf8')) as { snapshot: { pad: string; size: number } };
    t.is(persisted.snapshot.pad.length, persisted.snapshot.size, `${name} is one complete write`);
    snapshots++;
  }
  const log = readFileSync(state(dataDir, 'changes.jsonl'), 'utf8');
  for (const line of log.split('\n').slice(0, -1)) t.notThrows(() => JSON.parse(line), 'every complete log line parses');
  return { tmp, records, snapshots };
}

for (const durable of [true, false]) {
  test(`file: a writer killed mid-write leaves only whole files (durable: ${durable})`, async (t) => {
    const dataDir = tempDataDir(t);
    const kills = 3;
    let maxSequence = 0;
    for (let round = 0; round < kills; round++) {
      const child = spawn(process.execPath, ['--import=tsx', join(here, 'crash-writer.ts'), dataDir, durable ? '1' : '0'], {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let rounds = 0;
      let stderr = '';
      child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
        rounds += chunk.split('\n').filter(Boolean).length;
      });
      child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
        stderr += chunk;
      });
      const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_code, signal) => resolve(signal)));
      const start = Date.now();
      while (rounds < 5 && Date.now() - start < 20_000 && child.exitCode === null) await sleep(10);
      t.true(rounds >= 5, `the writer made progress (stderr: ${stderr})`);
      // Kill at a point that is not aligned with the writer's rounds.
      await sleep(Math.floor(Math.random() * 40));
      child.kill('SIGKILL');
      t.is(await exited, 'SIGKILL');

      const found = assertWholeFiles(t, dataDir);
      t.is(found.records, 4);
      t.log(`round ${round}: ${rounds} write rounds before the kill, ${found.tmp} temporary file(s) left`);

      const { store, warnings } = await openStore(t, dataDir, { changeLogLimit: 20 });
      const all = await store.loadAll();
      t.is(all.length, 4);
      for (const { record, snapshot } of all) {
        t.is(record.description.length, record.configuration.size as number);
        t.truthy(snapshot);
      }
      const changes = await store.recentChanges({ limit: 100 });
      t.true(changes.length > 0);
      const last = changes.at(-1)?.sequence ?? 0;
      t.true(last >= maxSequence, 'the sequence never goes back');
      maxSequence = last;
      t.false(warnings.some((warning) => /skipped|ignored/.test(warning)), warnings.join('\n'));
      await store.close();
      t.deepEqual(
        [...readdirSync(state(dataDir, 'records')), ...readdirSync(state(dataDir, 'snapshots'))].filter((name) => name.endsWith('.tmp')),
        [],
      );
    }
  });
}

// The two measurements run alone (serial tests run before the concurrent ones), so they do not slow each other.
test.serial('file: loadAll of 10,000 instances', async (t) => {
  const dataDir = tempDataDir(t);
  const count = 10_000;
  const template = await runningInstanceSnapshot('template');
  const first = await openStore(t, dataDir, { durable: false });
  const openFiles = () => readdirSync('/proc/self/fd').length;
  const baseline = openFiles();
  let mostOpen = baseline;
  const sampler = setInterval(() => {
    mostOpen = Math.max(mostOpen, openFiles());
  }, 5);
  let started = performance.now();
  const writes: Promise<unknown>[] = [];
  for (let n = 0; n < count; n++) {
    const id = `instance-${n}`;
    writes.push(first.store.insert(makeRecord(id)).then(() => first.store.saveSnapshot(id, { ...template, savedAt: new Date(n).toISOString() })));
  }
  await Promise.all(writes);
  const writeMs = performance.now() - started;
  clearInterval(sampler);
  t.true(mostOpen - baseline <= 100, `a burst of writes keeps few files open (${mostOpen - baseline} more than before)`);
  await first.store.close();

  started = performance.now();
  const second = await openStore(t, dataDir, { durable: false });
  const openMs = performance.now() - started;
  started = performance.now();
  const all = await second.store.loadAll();
  const loadMs = performance.now() - started;
  t.log(
    `${count} records + snapshots (${JSON.stringify(template).length} bytes each): written in ${writeMs.toFixed(0)} ms (durable: false); ` +
      `open (reads the records) ${openMs.toFixed(0)} ms + loadAll (reads the snapshots) ${loadMs.toFixed(0)} ms = ${(openMs + loadMs).toFixed(0)} ms`,
  );
  t.is(all.length, count);
  t.true(all.every((entry) => entry.snapshot !== undefined));
  t.deepEqual(second.warnings, []);
});

test.serial('file: write throughput, durable and not', async (t) => {
  const results: string[] = [];
  for (const durable of [true, false]) {
    const { store } = await openStore(t, tempDataDir(t), { durable });
    const ids = Array.from({ length: 50 }, (_, n) => `through-${n}`);
    for (const id of ids) await store.insert(makeRecord(id));
    const persisted = await runningInstanceSnapshot('through');

    let started = performance.now();
    const sequential = durable ? 100 : 500;
    for (let n = 0; n < sequential; n++) await store.saveSnapshot('through-0', persisted);
    const sequentialRate = sequential / ((performance.now() - started) / 1_000);

    started = performance.now();
    const concurrentRounds = durable ? 5 : 20;
    for (let round = 0; round < concurrentRounds; round++) {
      await Promise.all(ids.map((id) => store.saveSnapshot(id, persisted)));
    }
    const concurrentRate = (concurrentRounds * ids.length) / ((performance.now() - started) / 1_000);

    started = performance.now();
    const appends = durable ? 100 : 1_000;
    for (let n = 0; n < appends; n++) await store.appendChange(makeChange('through-0', n));
    const appendRate = appends / ((performance.now() - started) / 1_000);
    results.push(
      `durable ${durable}: ${sequentialRate.toFixed(0)} snapshot writes/s one after another, ` +
        `${concurrentRate.toFixed(0)} writes/s across 50 ids at once, ${appendRate.toFixed(0)} change appends/s one after another`,
    );
  }
  t.log(results.join('\n'));
  t.pass();
});
