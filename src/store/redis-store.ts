/**
 * The cluster-mode store: instance records, snapshots and the recent-changes
 * log in Redis, under a configurable key prefix (default `draas:`).
 *
 * ```
 * <prefix>store:records      hash   id → InstanceRecord JSON
 * <prefix>store:snapshots    hash   id → PersistedInstanceSnapshot JSON
 * <prefix>store:changes      stream entries {seq, change: StatusChange JSON without sequence},
 *                                   capped with XADD MAXLEN ~ changeLogLimit
 * <prefix>store:change-seq   string the last sequence handed out (INCR)
 * ```
 * (key builders: src/redis/keys.ts)
 *
 * Guarantees:
 * - `readChanges` reads the stream from its newest entry back to the
 *   reader's position in one script; it keeps every entry the capped stream
 *   still holds (at least the newest `changeLogLimit`);
 * - every method is one Redis round trip that is atomic on the server:
 *   `insert` is HSETNX (plus clearing a stray snapshot) in one script,
 *   `delete` removes record and snapshot in one script, `saveSnapshot` writes
 *   only while the record exists (one script: a save after a delete cannot
 *   resurrect the snapshot), `appendChange` takes the sequence (INCR) and
 *   appends the entry in one script, so the stream is in sequence order and
 *   sequences keep increasing across restarts of DRaaS and of Redis;
 * - writes to one id land in call order, and a read sees every write issued
 *   before it: all commands go over one connection, each method sends its
 *   command synchronously when called, and Redis runs them in that order.
 *   Scripts are always sent as EVAL (never EVALSHA with a NOSCRIPT retry,
 *   which would send the retry after later commands);
 * - every write is fenced when the caller passes `{ fence }`: the script
 *   first compares the token with the lease's (`store:lease:<name>`, kept
 *   by redis-leases.ts) and refuses a stale one with `StaleOwnerError`;
 * - durability is Redis's: with `appendonly yes` + `appendfsync always`
 *   everything acknowledged survives a Redis restart;
 * - a value that does not parse (or is not ours) is skipped with a log line,
 *   never fatal;
 * - while Redis is unreachable every write fails at once with
 *   `DraasError('unavailable')` (503, retryable): the connection has no
 *   offline queue. It reconnects on its own with capped backoff. Reads are
 *   repeated with jittered backoff for up to 1.5 s first (`retryRedis`), so a
 *   short restart or failover does not fail them; writes are not (a repeat
 *   could land after a later write, or twice).
 *
 * `watchChanges` also tells of appends made by other processes (replicas
 * sharing the store): one blocking XREAD of the change stream per store
 * while anyone watches (redis-change-follower.ts).
 *
 * `loadAll` reads both hashes with HGETALL in one MULTI (one consistent view);
 * that is start-up work, fine for tens of thousands of instances.
 */
import type { Redis } from 'ioredis';
import { errorMessage, StaleOwnerError } from '../errors.js';
import {
  blockingConnection,
  commandConnection,
  connectWithin,
  isReplyError,
  quitConnection,
  redactUrl,
  toTransportError,
  type ConnectionSettings,
} from '../redis/connection.js';
import {
  snapshotJson,
  instanceRecordProblem,
  isPlainObject,
  parseStoredValue,
  persistedSnapshotProblem,
  selectRecentChanges,
  ChangeSignal,
  type ChangeLogRead,
  type InstanceRecord,
  type InstanceStore,
  type PersistedInstanceSnapshot,
  type RecentChangesQuery,
  type StatusChange,
  type StoredInstance,
  type StoredPage,
  pageOfIds,
  type WriteOptions,
} from './instance-store.js';
import { DEFAULT_STORE_PREFIX, RedisStoreKeys } from '../redis/keys.js';
import { ChangeLogFollower } from './redis-change-follower.js';
import { retryRedis } from '../redis/transient.js';
import { evalScript } from '../redis/scripts.js';

/** How a fenced script refuses a stale writer (the start of its error reply). */
const STALE_FENCE = 'DRAAS_STALE_FENCE';

export interface RedisInstanceStoreOptions {
  /** `redis://[user:password@]host:port[/db]` */
  url: string;
  /** Prefix of every key (default `draas:`, shared with the transport). */
  prefix?: string;
  /** Entries the recent-changes log keeps. Default 1,000. */
  changeLogLimit?: number;
  /** Bound on connecting at open (default 5,000 ms). */
  connectTimeoutMs?: number;
  /** Where warnings go (skipped values, connection trouble). Default: console.warn. */
  log?: (message: string) => void;
}

/**
 * Every write script starts with the fencing check: KEYS[1] is the lease that
 * guards the instance, ARGV[1] the writer's token ('' for an unfenced write).
 * A token that is not the lease's current one (the lease expired, or another
 * replica took it since) fails the whole script before it writes anything.
 */
const fencePrelude = `
if ARGV[1] ~= '' and redis.call('HGET', KEYS[1], 'token') ~= ARGV[1] then
  return redis.error_reply('${STALE_FENCE} ' .. KEYS[1])
end
`;

/** KEYS: lease, records, snapshots. ARGV: token, id, record JSON. Returns 1 when inserted, 0 when the id is taken. */
const insertScript = `${fencePrelude}
if redis.call('HSETNX', KEYS[2], ARGV[2], ARGV[3]) == 1 then
  redis.call('HDEL', KEYS[3], ARGV[2])
  return 1
end
return 0`;

/** KEYS: lease, records. ARGV: token, id, record JSON. */
const updateScript = `${fencePrelude}
redis.call('HSET', KEYS[2], ARGV[2], ARGV[3])
return 1`;

/** KEYS: lease, records, snapshots. ARGV: token, id. */
const deleteScript = `${fencePrelude}
redis.call('HDEL', KEYS[2], ARGV[2])
redis.call('HDEL', KEYS[3], ARGV[2])
return 1`;

/** KEYS: lease, records, snapshots. ARGV: token, id, snapshot JSON. Writes only while the record exists. */
const saveSnapshotScript = `${fencePrelude}
if redis.call('HEXISTS', KEYS[2], ARGV[2]) == 1 then
  redis.call('HSET', KEYS[3], ARGV[2], ARGV[3])
  return 1
end
return 0`;

/** KEYS: records, snapshots. ARGV: id. The snapshot, only while the record exists. */
const loadSnapshotScript = `
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then
  return redis.call('HGET', KEYS[2], ARGV[1])
end
return false`;

/**
 * KEYS: lease, change-seq, changes, records, snapshots. ARGV: token, limit,
 * change JSON, and — when a snapshot comes along — id, snapshot JSON (saved
 * only while the record exists, as saveSnapshotScript does). Returns the new
 * sequence.
 */
const appendChangeScript = `${fencePrelude}
local seq = redis.call('INCR', KEYS[2])
redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[2], '*', 'seq', seq, 'change', ARGV[3])
if ARGV[4] and redis.call('HEXISTS', KEYS[4], ARGV[4]) == 1 then
  redis.call('HSET', KEYS[5], ARGV[4], ARGV[5])
end
return seq`;

/**
 * KEYS: changes, change-seq. ARGV: after, limit. Returns {newest, oldest
 * (-1: none), entries}: the oldest \`limit\` entries whose seq is above
 * \`after\`, oldest first. Entries are in seq order (one script numbers and
 * adds each), so the scan walks back from the newest and stops at \`after\`:
 * a reader that keeps up reads one page.
 */
const readChangesScript = `
local after = tonumber(ARGV[1])
local limit = tonumber(ARGV[2])
local newest = tonumber(redis.call('GET', KEYS[2]) or '0')
local function seqOf(entry)
  local fields = entry[2]
  for i = 1, #fields, 2 do
    if fields[i] == 'seq' then return tonumber(fields[i + 1]) end
  end
  return nil
end
local first = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', 1)
local oldest = -1
if #first > 0 then oldest = seqOf(first[1]) or -1 end
local newer = {}
if after < newest and limit > 0 then
  local cursor = '+'
  local done = false
  while not done do
    local page = redis.call('XREVRANGE', KEYS[1], cursor, '-', 'COUNT', 200)
    for i = 1, #page do
      local seq = seqOf(page[i])
      if seq ~= nil and seq <= after then
        done = true
        break
      end
      if seq ~= nil then newer[#newer + 1] = page[i] end
    end
    if #page < 200 then done = true end
    if not done then cursor = '(' .. page[#page][1] end
  end
end
local entries = {}
for i = #newer, math.max(1, #newer - limit + 1), -1 do entries[#entries + 1] = newer[i] end
return {newest, oldest, entries}`;


type MultiResult = [error: Error | null, result: unknown][] | null;

/** The replies of an EXEC; a failed command inside the transaction throws. */
function execReplies(results: MultiResult): unknown[] {
  if (results === null) throw new Error('redis transaction aborted');
  return results.map(([error, result]) => {
    if (error) throw error;
    return result;
  });
}

function asStringMap(value: unknown): Record<string, string> {
  return isPlainObject(value) ? (value as Record<string, string>) : {};
}

/** Logs a lost connection once per outage (ioredis reports every failed retry) and its return. */
function watchConnection(redis: Redis, url: string, log: (message: string) => void, closing: () => boolean): void {
  let down = false;
  const lost = (why: string) => {
    if (down || closing()) return;
    down = true;
    log(`redis store at ${redactUrl(url)}: connection lost (${why}); reconnecting`);
  };
  redis.on('error', (error: unknown) => lost(errorMessage(error)));
  redis.on('close', () => lost('closed'));
  redis.on('ready', () => {
    if (down) log(`redis store at ${redactUrl(url)}: connected again`);
    down = false;
  });
}

export class RedisInstanceStore implements InstanceStore {
  readonly keys: RedisStoreKeys;
  private readonly log: (message: string) => void;
  private closing: Promise<void> | undefined;
  private readonly appended = new ChangeSignal();
  private readonly follower: ChangeLogFollower;

  private constructor(
    private readonly redis: Redis,
    private readonly url: string,
    prefix: string,
    private readonly changeLogLimit: number,
    log: (message: string) => void,
    settings: ConnectionSettings,
  ) {
    this.keys = new RedisStoreKeys(prefix);
    this.log = log;
    watchConnection(redis, url, log, () => this.closing !== undefined);
    this.follower = new ChangeLogFollower({
      connect: () => blockingConnection(settings, `${prefix}store-follower:${process.pid}`, 'store'),
      stream: this.keys.changes(),
      retry: settings.reconnect,
      log,
    });
  }

  /** Connects (failing with a 503 `DraasError` when Redis is not ready within `connectTimeoutMs`). */
  static async open(options: RedisInstanceStoreOptions): Promise<RedisInstanceStore> {
    const changeLogLimit = options.changeLogLimit ?? 1_000;
    if (!Number.isInteger(changeLogLimit) || changeLogLimit < 1) throw new RangeError('changeLogLimit must be a positive integer');
    const log = options.log ?? ((message: string) => console.warn(`draas store: ${message}`));
    const prefix = options.prefix ?? DEFAULT_STORE_PREFIX;
    const settings: ConnectionSettings = {
      url: options.url,
      connectTimeoutMs: options.connectTimeoutMs ?? 5_000,
      reconnect: { initialMs: 200, maxMs: 5_000 },
    };
    const redis = commandConnection(settings, `${prefix}store:${process.pid}`, 'store');
    await connectWithin(redis, options.url, settings.connectTimeoutMs);
    return new RedisInstanceStore(redis, options.url, prefix, changeLogLimit, log, settings);
  }

  private assertOpen(): void {
    if (this.closing) throw new Error(`redis store ${this.keys.prefix}: the store is closed`);
  }

  /**
   * Sends the command(s) now (synchronously, which keeps the call order) and
   * maps connection failures to `DraasError('unavailable')`.
   */
  private async run<T>(what: string, send: () => Promise<T>): Promise<T> {
    this.assertOpen();
    try {
      return await send();
    } catch (error) {
      if (isReplyError(error) && error.message.startsWith(STALE_FENCE)) {
        throw new StaleOwnerError(`${what} refused: the writer's lease token is stale (${error.message.slice(STALE_FENCE.length + 1)})`);
      }
      throw toTransportError(error, this.url, what);
    }
  }

  /** A read: repeated on transient failures (a short outage) before it fails like `run`. */
  private read<T>(what: string, send: () => Promise<T>): Promise<T> {
    return this.run(what, () => retryRedis(send));
  }

  /** KEYS[1] and ARGV[1] of a fenced script. */
  private fence(options: WriteOptions | undefined): [leaseKey: string, token: string] {
    const fence = options?.fence;
    return fence ? [this.keys.lease(fence.lease), String(fence.token)] : [this.keys.lease('-'), ''];
  }

  private parseRecord(id: string, json: string): InstanceRecord | undefined {
    const where = `${this.keys.records()} ${JSON.stringify(id)}`;
    return parseStoredValue<InstanceRecord>(json, where, 'an instance record', (value) => instanceRecordProblem(value, id), this.log);
  }

  private parseSnapshot(id: string, json: string): PersistedInstanceSnapshot | undefined {
    const where = `${this.keys.snapshots()} ${JSON.stringify(id)}`;
    return parseStoredValue<PersistedInstanceSnapshot>(json, where, 'a persisted snapshot', persistedSnapshotProblem, this.log);
  }

  async get(id: string): Promise<InstanceRecord | undefined> {
    const json = await this.read('get', () => this.redis.hget(this.keys.records(), id));
    return json === null ? undefined : this.parseRecord(id, json);
  }

  async list(): Promise<InstanceRecord[]> {
    const all = await this.read('list', () => this.redis.hgetall(this.keys.records()));
    const records: InstanceRecord[] = [];
    for (const id of Object.keys(all).sort()) {
      const record = this.parseRecord(id, all[id] ?? '');
      if (record) records.push(record);
    }
    return records;
  }

  async insert(record: InstanceRecord, options?: WriteOptions): Promise<boolean> {
    const json = JSON.stringify(record);
    const [lease, token] = this.fence(options);
    const inserted = await this.run('insert', () =>
      evalScript(this.redis, insertScript, 3, lease, this.keys.records(), this.keys.snapshots(), token, record.id, json),
    );
    return inserted === 1;
  }

  async update(record: InstanceRecord, options?: WriteOptions): Promise<void> {
    const json = JSON.stringify(record);
    const [lease, token] = this.fence(options);
    await this.run('update', () => evalScript(this.redis, updateScript, 2, lease, this.keys.records(), token, record.id, json));
  }

  async delete(id: string, options?: WriteOptions): Promise<void> {
    const [lease, token] = this.fence(options);
    await this.run('delete', () => evalScript(this.redis, deleteScript, 3, lease, this.keys.records(), this.keys.snapshots(), token, id));
  }

  async saveSnapshot(id: string, snapshot: PersistedInstanceSnapshot, options?: WriteOptions): Promise<void> {
    this.assertOpen();
    const json = snapshotJson(snapshot);
    const [lease, token] = this.fence(options);
    await this.run('saveSnapshot', () =>
      evalScript(this.redis, saveSnapshotScript, 3, lease, this.keys.records(), this.keys.snapshots(), token, id, json),
    );
  }

  async loadSnapshot(id: string): Promise<PersistedInstanceSnapshot | undefined> {
    const json = await this.read('loadSnapshot', () =>
      evalScript(this.redis, loadSnapshotScript, 2, this.keys.records(), this.keys.snapshots(), id),
    );
    return typeof json === 'string' ? this.parseSnapshot(id, json) : undefined;
  }

  /** Reads the ids (HKEYS), then only the page's records and snapshots (HMGET): a page of a large fleet does not read every record. */
  async loadPage(after: string | undefined, limit: number): Promise<StoredPage> {
    const ids = await this.run('loadPage', () => this.redis.hkeys(this.keys.records()));
    const page = pageOfIds(ids, after, limit);
    if (page.ids.length === 0) return { items: [], more: false };
    const results = await this.run('loadPage', () =>
      this.redis.multi().hmget(this.keys.records(), ...page.ids).hmget(this.keys.snapshots(), ...page.ids).exec(),
    );
    const [recordsReply, snapshotsReply] = execReplies(results) as [(string | null)[], (string | null)[]];
    const items: StoredInstance[] = [];
    page.ids.forEach((id, index) => {
      const recordText = recordsReply[index];
      const record = typeof recordText === 'string' ? this.parseRecord(id, recordText) : undefined;
      if (!record) return; // deleted between the two reads
      const snapshotText = snapshotsReply[index];
      const snapshot = typeof snapshotText === 'string' ? this.parseSnapshot(id, snapshotText) : undefined;
      items.push(snapshot ? { record, snapshot } : { record });
    });
    return { items, more: page.more };
  }

  async loadAll(): Promise<StoredInstance[]> {
    const results = await this.read('loadAll', () =>
      this.redis.multi().hgetall(this.keys.records()).hgetall(this.keys.snapshots()).exec(),
    );
    const [recordsReply, snapshotsReply] = execReplies(results);
    const records = asStringMap(recordsReply);
    const snapshots = asStringMap(snapshotsReply);
    const loaded: StoredInstance[] = [];
    for (const id of Object.keys(records).sort()) {
      const record = this.parseRecord(id, records[id] ?? '');
      if (!record) continue;
      const snapshotText = snapshots[id];
      const snapshot = snapshotText === undefined ? undefined : this.parseSnapshot(id, snapshotText);
      loaded.push(snapshot ? { record, snapshot } : { record });
    }
    const orphans = Object.keys(snapshots).filter((id) => !(id in records)).length;
    if (orphans > 0) this.log(`${this.keys.snapshots()}: ${orphans} snapshot(s) without a record are ignored`);
    return loaded;
  }

  async appendChange(change: Omit<StatusChange, 'sequence'>, options?: WriteOptions, snapshot?: PersistedInstanceSnapshot): Promise<StatusChange> {
    this.assertOpen();
    const snapshotArgs = snapshot ? [change.instanceId, snapshotJson(snapshot)] : [];
    // A stray `sequence` of the caller's is dropped: the store numbers the entries.
    const json = JSON.stringify({ ...change, sequence: undefined });
    const [lease, token] = this.fence(options);
    const keys = [lease, this.keys.changeSequence(), this.keys.changes(), this.keys.records(), this.keys.snapshots()];
    const args = [token, String(this.changeLogLimit), json, ...snapshotArgs];
    const sequence = await this.run('appendChange', () => evalScript(this.redis, appendChangeScript, keys.length, ...keys, ...args));
    if (typeof sequence !== 'number') throw new Error(`redis store: unexpected sequence ${String(sequence)}`);
    this.appended.notify();
    return { ...(JSON.parse(json) as Omit<StatusChange, 'sequence'>), sequence };
  }

  async readChanges(afterSequence: number, limit: number): Promise<ChangeLogRead> {
    const reply = await this.read('readChanges', () =>
      evalScript(this.redis, readChangesScript, 2, this.keys.changes(), this.keys.changeSequence(), String(afterSequence), String(limit)),
    );
    if (!Array.isArray(reply) || reply.length !== 3 || typeof reply[0] !== 'number' || typeof reply[1] !== 'number' || !Array.isArray(reply[2])) {
      throw new Error(`redis store: unexpected readChanges reply`);
    }
    const changes: StatusChange[] = [];
    for (const entry of reply[2] as unknown[]) {
      if (!Array.isArray(entry) || typeof entry[0] !== 'string' || !Array.isArray(entry[1])) continue;
      const change = this.parseChange(entry[0], entry[1] as string[]);
      if (change) changes.push(change);
    }
    return { changes, oldest: reply[1] >= 0 ? reply[1] : undefined, newest: reply[0] };
  }

  /** Appends through this object wake the listener at once; those of other processes through one blocking read of the log per store. */
  watchChanges(listener: () => void): () => void {
    const unwatchLocal = this.appended.watch(listener);
    const unwatchShared = this.follower.watch(listener);
    return () => {
      unwatchLocal();
      unwatchShared();
    };
  }

  async recentChanges(options: RecentChangesQuery): Promise<StatusChange[]> {
    const entries = await this.read('recentChanges', () =>
      this.redis.xrevrange(this.keys.changes(), '+', '-', 'COUNT', this.changeLogLimit),
    );
    const log: StatusChange[] = [];
    for (const [entryId, fields] of entries.reverse()) {
      const change = this.parseChange(entryId, fields);
      if (change) log.push(change);
    }
    return selectRecentChanges(log, this.changeLogLimit, options);
  }

  private parseChange(entryId: string, fields: string[]): StatusChange | undefined {
    const values = new Map<string, string>();
    for (let n = 0; n + 1 < fields.length; n += 2) values.set(fields[n] ?? '', fields[n + 1] ?? '');
    const sequence = Number(values.get('seq'));
    try {
      const value: unknown = JSON.parse(values.get('change') ?? '');
      if (!Number.isSafeInteger(sequence) || !isPlainObject(value) || typeof value.instanceId !== 'string') {
        throw new Error('not a status change');
      }
      return { ...(value as Omit<StatusChange, 'sequence'>), sequence };
    } catch (error) {
      this.log(`${this.keys.changes()} ${entryId}: skipped: ${errorMessage(error)}`);
      return undefined;
    }
  }

  /** Lets the commands already sent finish (QUIT is answered after them) and closes the connection. Idempotent. */
  close(): Promise<void> {
    this.closing ??= Promise.all([this.follower.stop(), quitConnection(this.redis)]).then(() => undefined);
    return this.closing;
  }
}
