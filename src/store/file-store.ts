/**
 * The embedded-mode store: plain files under `<dataDir>/state/`.
 *
 * ```
 * <dataDir>/state/
 *   format.json          {"format":"draas-file-store","version":1}
 *   lock                 pid of the process that has the store open
 *   records/<id>.json    one InstanceRecord per instance
 *   snapshots/<id>.json  one PersistedInstanceSnapshot per instance
 *   changes.jsonl        the recent-changes log (see change-log.ts)
 * ```
 *
 * Guarantees:
 * - every file is replaced atomically (temporary file + rename, see
 *   atomic-file.ts): after a crash each file holds one complete write;
 * - with `durable` (the default) a write resolves only once it is on disk
 *   (file and directory fsynced), so it survives a power loss too; without,
 *   it survives a crash of the process but maybe not of the machine;
 * - writes to one id land in call order (the last one wins); writes to
 *   different ids run concurrently;
 * - reads see every write issued before them: records are served from
 *   memory (all of them are read at open), snapshots from disk after the
 *   id's pending writes;
 * - a file that does not parse or is not ours is skipped with a warning,
 *   never fatal; temporary files are removed at open, never read;
 * - one process at a time: `open` takes the lock file and fails while a live
 *   process holds it (a stale lock of a dead process is taken over).
 *
 * The open and `loadAll` read files synchronously (several times faster than
 * async reads for thousands of small files): they are start-up work.
 */
import * as fs from 'node:fs';
import { join, resolve } from 'node:path';
import { BadRequestError } from '../errors.js';
import {
  DirectorySync,
  directoryMode,
  readText,
  removeFileDurably,
  syncDirectoryNow,
  tmpSuffix,
  writeFileAtomic,
} from './atomic-file.js';
import { FileChangeLog } from './change-log.js';
import { KeyedFileQueue, type FileStep } from './file-queue.js';
import {
  snapshotJson,
  instanceRecordProblem,
  isPlainObject,
  parseStoredValue,
  persistedSnapshotProblem,
  type ChangeLogRead,
  type InstanceRecord,
  type InstanceStore,
  type PersistedInstanceSnapshot,
  type RecentChangesQuery,
  type StatusChange,
  type StoredInstance,
  type StoredPage,
  type WriteOptions,
  pageOfIds,
} from './instance-store.js';

export interface FileInstanceStoreOptions {
  /** fsync files and directories before a write resolves. Default true. */
  durable?: boolean;
  /** Entries the recent-changes log keeps. Default 1,000. */
  changeLogLimit?: number;
  /** Where warnings go (skipped files, stale locks). Default: console.warn. */
  log?: (message: string) => void;
}

export const fileStoreFormat = { format: 'draas-file-store', version: 1 } as const;

/** Another live process (or another store in this process) has the directory open. */
export class StoreLockedError extends Error {
  constructor(
    message: string,
    readonly lockPath: string,
    readonly holderPid: number | undefined,
  ) {
    super(message);
    this.name = 'StoreLockedError';
  }
}

const instanceIdPattern = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/** A DNS-1123 label of at most 40 characters: the only names this store turns into file names. */
export function isStorableInstanceId(id: unknown): id is string {
  return typeof id === 'string' && id.length <= 40 && instanceIdPattern.test(id);
}

function requireStorableId(id: unknown): string {
  if (!isStorableInstanceId(id)) {
    throw new BadRequestError(
      `${JSON.stringify(id)} is not a valid instance id (a DNS-1123 label of at most 40 characters)`,
      { instanceId: String(id) },
    );
  }
  return id;
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

// ---- the lock ----

/** Lock files held by this process: a second open in the same process fails too. */
const heldLocks = new Set<string>();

function processIsAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function acquireLock(lockPath: string, warn: (message: string) => void): void {
  if (heldLocks.has(lockPath)) {
    throw new StoreLockedError(`${lockPath}: the store is already open in this process; close it first`, lockPath, process.pid);
  }
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const fd = fs.openSync(lockPath, 'wx', 0o600);
      try {
        fs.writeSync(fd, `${process.pid}\n`);
      } finally {
        fs.closeSync(fd);
      }
      heldLocks.add(lockPath);
      return;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    let holder: number | undefined;
    try {
      const pid = Number.parseInt(fs.readFileSync(lockPath, 'utf8'), 10);
      holder = Number.isInteger(pid) && pid > 0 ? pid : undefined;
    } catch {
      holder = undefined;
    }
    if (holder !== undefined && holder !== process.pid && processIsAlive(holder)) {
      throw new StoreLockedError(
        `${lockPath}: the store is in use by process ${holder}; stop it first (or delete the lock file if that process is not a DRaaS)`,
        lockPath,
        holder,
      );
    }
    warn(`${lockPath}: taking over the lock left by process ${holder ?? '(unknown)'}, which is gone`);
    fs.rmSync(lockPath, { force: true });
  }
  throw new StoreLockedError(`${lockPath}: could not take the lock`, lockPath, undefined);
}

function releaseLock(lockPath: string): void {
  heldLocks.delete(lockPath);
  fs.rmSync(lockPath, { force: true });
}

// ---- the store ----

interface Layout {
  state: string;
  records: string;
  snapshots: string;
  lock: string;
  format: string;
  changes: string;
}

function layoutOf(dataDir: string): Layout {
  const state = join(resolve(dataDir), 'state');
  return {
    state,
    records: join(state, 'records'),
    snapshots: join(state, 'snapshots'),
    lock: join(state, 'lock'),
    format: join(state, 'format.json'),
    changes: join(state, 'changes.jsonl'),
  };
}

/** The instance id a file name in records/ or snapshots/ stands for, or undefined for a foreign file. */
function idOfFile(name: string): string | undefined {
  if (!name.endsWith('.json')) return undefined;
  const id = name.slice(0, -'.json'.length);
  return isStorableInstanceId(id) ? id : undefined;
}

export class FileInstanceStore implements InstanceStore {
  /** `<dataDir>/state`. */
  readonly directory: string;
  private readonly layout: Layout;
  private readonly durable: boolean;
  private readonly warn: (message: string) => void;
  private readonly records: Map<string, InstanceRecord>;
  /** Ids whose snapshot file exists or is being written. */
  private readonly snapshotIds: Set<string>;
  private readonly queue: KeyedFileQueue;
  private readonly recordsSync: DirectorySync;
  private readonly snapshotsSync: DirectorySync;
  private closing: Promise<void> | undefined;

  private constructor(
    layout: Layout,
    options: { durable: boolean; warn: (message: string) => void },
    loaded: { records: Map<string, InstanceRecord>; snapshotIds: Set<string> },
    private readonly changeLog: FileChangeLog,
  ) {
    this.layout = layout;
    this.directory = layout.state;
    this.durable = options.durable;
    this.warn = options.warn;
    this.records = loaded.records;
    this.snapshotIds = loaded.snapshotIds;
    this.recordsSync = new DirectorySync(layout.records);
    this.snapshotsSync = new DirectorySync(layout.snapshots);
    this.queue = new KeyedFileQueue((step) => this.perform(step));
  }

  /** Opens (creating when absent) the store under `<dataDir>/state/` and reads every record. */
  static async open(dataDir: string, options: FileInstanceStoreOptions = {}): Promise<FileInstanceStore> {
    const durable = options.durable ?? true;
    const changeLogLimit = options.changeLogLimit ?? 1_000;
    if (!Number.isInteger(changeLogLimit) || changeLogLimit < 1) throw new RangeError('changeLogLimit must be a positive integer');
    const warn = options.log ?? ((message: string) => console.warn(`draas store: ${message}`));
    const layout = layoutOf(dataDir);
    for (const directory of [layout.state, layout.records, layout.snapshots]) {
      fs.mkdirSync(directory, { recursive: true, mode: directoryMode });
    }
    acquireLock(layout.lock, warn);
    try {
      await checkFormat(layout, durable);
      for (const directory of [layout.state, layout.records, layout.snapshots]) removeTemporaryFiles(directory, warn);
      if (durable) {
        // The directories themselves (and the lock) must outlive a power loss.
        for (const directory of [layout.records, layout.snapshots, layout.state, join(layout.state, '..')]) {
          await syncDirectoryNow(directory);
        }
      }
      const records = readRecords(layout.records, warn);
      const snapshotIds = listSnapshots(layout.snapshots, records, warn);
      const changeLog = await FileChangeLog.open(layout.changes, {
        limit: changeLogLimit,
        durable,
        directorySync: new DirectorySync(layout.state),
        warn,
      });
      return new FileInstanceStore(layout, { durable, warn }, { records, snapshotIds }, changeLog);
    } catch (error) {
      releaseLock(layout.lock);
      throw error;
    }
  }

  private recordPath(id: string): string {
    return join(this.layout.records, `${id}.json`);
  }

  private snapshotPath(id: string): string {
    return join(this.layout.snapshots, `${id}.json`);
  }

  private perform(step: FileStep): Promise<void> {
    const directorySync = step.path.startsWith(this.layout.records) ? this.recordsSync : this.snapshotsSync;
    const options = { durable: this.durable, directorySync };
    return step.content === null ? removeFileDurably(step.path, options) : writeFileAtomic(step.path, step.content, options);
  }

  private assertOpen(): void {
    if (this.closing) throw new Error(`${this.directory}: the store is closed`);
  }

  /**
   * Queues the steps; when they fail and nothing newer is queued for the id,
   * re-reads the id's files so that memory matches the disk again.
   */
  private async write(id: string, steps: FileStep[]): Promise<void> {
    try {
      await this.queue.enqueue(id, steps);
    } catch (error) {
      if (!this.queue.busy(id)) this.reloadFromDisk(id);
      throw error;
    }
  }

  private reloadFromDisk(id: string): void {
    const record = readRecordFile(this.recordPath(id), id, this.warn);
    if (record) this.records.set(id, record);
    else this.records.delete(id);
    if (fs.existsSync(this.snapshotPath(id))) this.snapshotIds.add(id);
    else this.snapshotIds.delete(id);
  }

  /** Writes the record (after clearing a snapshot left over from an earlier instance of the same id). */
  private putRecord(record: InstanceRecord): Promise<void> {
    const id = record.id;
    const json = `${JSON.stringify(record)}\n`;
    // Served from memory exactly as a reopen would read it back.
    const stored = JSON.parse(json) as InstanceRecord;
    const steps: FileStep[] = [];
    if (!this.records.has(id) && this.snapshotIds.delete(id)) steps.push({ path: this.snapshotPath(id), content: null });
    steps.push({ path: this.recordPath(id), content: json });
    this.records.set(id, stored);
    return this.write(id, steps);
  }

  async get(id: string): Promise<InstanceRecord | undefined> {
    return this.records.get(id);
  }

  async list(): Promise<InstanceRecord[]> {
    return [...this.records.values()];
  }

  async insert(record: InstanceRecord): Promise<boolean> {
    this.assertOpen();
    if (this.records.has(requireStorableId(record.id))) return false;
    await this.putRecord(record);
    return true;
  }

  async update(record: InstanceRecord): Promise<void> {
    this.assertOpen();
    requireStorableId(record.id);
    await this.putRecord(record);
  }

  async delete(id: string): Promise<void> {
    this.assertOpen();
    if (!isStorableInstanceId(id)) return;
    const hadRecord = this.records.delete(id);
    const hadSnapshot = this.snapshotIds.delete(id);
    // The record goes first: a crash in between leaves an orphaned snapshot (ignored), never a record that lost its state.
    const steps: FileStep[] = [];
    if (hadRecord) steps.push({ path: this.recordPath(id), content: null });
    if (hadSnapshot) steps.push({ path: this.snapshotPath(id), content: null });
    if (steps.length > 0) await this.write(id, steps);
  }

  async saveSnapshot(id: string, snapshot: PersistedInstanceSnapshot): Promise<void> {
    this.assertOpen();
    const json = `${snapshotJson(snapshot)}\n`;
    if (!this.records.has(id)) return;
    this.snapshotIds.add(id);
    await this.write(id, [{ path: this.snapshotPath(id), content: json }]);
  }

  async loadSnapshot(id: string): Promise<PersistedInstanceSnapshot | undefined> {
    if (!this.records.has(id)) return undefined;
    await this.queue.settled(id);
    if (!this.records.has(id) || !this.snapshotIds.has(id)) return undefined;
    const path = this.snapshotPath(id);
    let text: string;
    try {
      text = await readText(path);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
    return parseSnapshot(text, path, this.warn);
  }

  async loadAll(): Promise<StoredInstance[]> {
    await this.queue.flushed();
    return this.loadIds([...this.records.keys()].sort());
  }

  async loadPage(after: string | undefined, limit: number): Promise<StoredPage> {
    await this.queue.flushed();
    const page = pageOfIds(this.records.keys(), after, limit);
    return { items: this.loadIds(page.ids), more: page.more };
  }

  private loadIds(ids: string[]): StoredInstance[] {
    const loaded: StoredInstance[] = [];
    for (const id of ids) {
      const record = this.records.get(id);
      if (!record) continue;
      let snapshot: PersistedInstanceSnapshot | undefined;
      if (this.snapshotIds.has(id)) {
        const path = this.snapshotPath(id);
        try {
          snapshot = parseSnapshot(fs.readFileSync(path, 'utf8'), path, this.warn);
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code !== 'ENOENT') this.warn(`${path}: skipped: ${messageOf(error)}`);
        }
      }
      loaded.push(snapshot ? { record, snapshot } : { record });
    }
    return loaded;
  }

  async appendChange(change: Omit<StatusChange, 'sequence'>, _options?: WriteOptions, snapshot?: PersistedInstanceSnapshot): Promise<StatusChange> {
    this.assertOpen();
    if (snapshot) await this.saveSnapshot(change.instanceId, snapshot);
    return this.changeLog.append(change);
  }

  async recentChanges(options: RecentChangesQuery): Promise<StatusChange[]> {
    return this.changeLog.recent(options);
  }

  async readChanges(afterSequence: number, limit: number): Promise<ChangeLogRead> {
    return this.changeLog.read(afterSequence, limit);
  }

  watchChanges(listener: () => void): () => void {
    return this.changeLog.watch(listener);
  }

  /** Waits for every pending write, closes the change log, releases the lock. Idempotent. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      try {
        await this.queue.idle();
        await this.changeLog.close();
      } finally {
        releaseLock(this.layout.lock);
      }
    })();
    return this.closing;
  }
}

// ---- reading at open ----

async function checkFormat(layout: Layout, durable: boolean): Promise<void> {
  if (fs.existsSync(layout.format)) {
    let found: unknown;
    try {
      found = JSON.parse(fs.readFileSync(layout.format, 'utf8'));
    } catch (error) {
      throw new Error(`${layout.format} is unreadable (${messageOf(error)}); is ${layout.state} a DRaaS data directory?`);
    }
    if (!isPlainObject(found) || found.format !== fileStoreFormat.format || typeof found.version !== 'number') {
      throw new Error(`${layout.format} does not describe a DRaaS file store; is ${layout.state} a DRaaS data directory?`);
    }
    if (found.version > fileStoreFormat.version) {
      throw new Error(
        `${layout.state} was written by a newer DRaaS (store format ${found.version}, this one reads ${fileStoreFormat.version})`,
      );
    }
    return;
  }
  await writeFileAtomic(layout.format, `${JSON.stringify(fileStoreFormat)}\n`, { durable });
}

/** Leftovers of writes interrupted by a crash: never data, safe to remove while we hold the lock. */
function removeTemporaryFiles(directory: string, warn: (message: string) => void): void {
  const leftovers = fs.readdirSync(directory).filter((name) => name.endsWith(tmpSuffix));
  for (const name of leftovers) fs.rmSync(join(directory, name), { force: true });
  if (leftovers.length > 0) warn(`${directory}: removed ${leftovers.length} temporary file(s) of interrupted writes`);
}

function readRecordFile(path: string, id: string, warn: (message: string) => void): InstanceRecord | undefined {
  let text: string;
  try {
    text = fs.readFileSync(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') warn(`${path}: skipped: ${messageOf(error)}`);
    return undefined;
  }
  return parseStoredValue<InstanceRecord>(text, path, 'an instance record', (value) => instanceRecordProblem(value, id), warn);
}

function readRecords(directory: string, warn: (message: string) => void): Map<string, InstanceRecord> {
  const records = new Map<string, InstanceRecord>();
  for (const entry of fs.readdirSync(directory, { withFileTypes: true })) {
    const id = entry.isFile() ? idOfFile(entry.name) : undefined;
    if (id === undefined) {
      warn(`${join(directory, entry.name)}: ignored, not a record file (<instance-id>.json)`);
      continue;
    }
    const record = readRecordFile(join(directory, entry.name), id, warn);
    if (record) records.set(id, record);
  }
  return records;
}

function listSnapshots(directory: string, records: Map<string, InstanceRecord>, warn: (message: string) => void): Set<string> {
  const ids = new Set<string>();
  let orphans = 0;
  for (const entry of fs.readdirSync(directory, { withFileTypes: true })) {
    const id = entry.isFile() ? idOfFile(entry.name) : undefined;
    if (id === undefined) {
      warn(`${join(directory, entry.name)}: ignored, not a snapshot file (<instance-id>.json)`);
      continue;
    }
    // Orphans (no record) stay listed so that inserting the id again clears them.
    ids.add(id);
    if (!records.has(id)) orphans++;
  }
  if (orphans > 0) warn(`${directory}: ${orphans} snapshot(s) without a record are ignored`);
  return ids;
}

function parseSnapshot(text: string, path: string, warn: (message: string) => void): PersistedInstanceSnapshot | undefined {
  return parseStoredValue<PersistedInstanceSnapshot>(text, path, 'a persisted snapshot', persistedSnapshotProblem, warn);
}
