/**
 * The audit log: one entry per request to a mutation (an operation the
 * catalog marks `mutation`), allowed or refused — who, what, when, result.
 * Never a token or a request body. Two implementations: an append-only JSONL
 * file in the data dir (embedded) and a capped Redis stream (cluster).
 *
 * Reading: `read({ limit, after })` gives the entries after the cursor `after`
 * (oldest first), or without one the newest `limit`; `next` is the cursor to
 * pass to read on from there.
 */
import * as fs from 'node:fs/promises';
import path from 'node:path';
import type { Redis } from 'ioredis';
import { z } from 'zod';
import { BadRequestError } from '../errors.js';
import type { OperationId, Role } from '../http/operations.js';
import { commandConnection, connectWithin, quitConnection, toTransportError, type ConnectionSettings } from '../redis/connection.js';
import { DEFAULT_PREFIX, RedisAuthKeys } from '../redis/keys.js';
import { directoryMode, fileMode } from '../store/atomic-file.js';

/** Who made a request: a token (by name), an OIDC subject (with its issuer), or nobody known (a refused request). */
export type AuditActor =
  | { kind: 'token'; name: string }
  | { kind: 'oidc'; subject: string; issuer: string }
  | { kind: 'anonymous' };

export interface AuditEntry {
  /** ISO 8601, when the request arrived. */
  time: string;
  actor: AuditActor;
  /** The role the request was made with; absent when it was not authenticated. */
  role?: Role;
  operation: OperationId;
  method: string;
  path: string;
  instanceId?: string;
  /** The client's `X-Request-Id`, when it sent one. */
  requestId?: string;
  /** The connection's peer (behind a proxy: the proxy). */
  remoteAddress?: string;
  /** The response status. */
  status: number;
  /** The problem's code for a refused or failed request (`forbidden`, `invalid-config`, …). */
  problem?: string;
  durationMs: number;
}

export type StoredAuditEntry = AuditEntry & { id: string };

export interface AuditPage {
  entries: StoredAuditEntry[];
  /** Pass as `after` to read the entries that follow; absent when the log is empty. */
  next?: string;
}

export interface AuditLog {
  append(entry: AuditEntry): Promise<void>;
  read(options: { limit: number; after?: string }): Promise<AuditPage>;
  close(): Promise<void>;
}

export const DEFAULT_AUDIT_LIMIT = 100;

/**
 * `<dataDir>/audit/audit.jsonl`, owner-only. An entry's id is its line
 * number. Appends are serialised in the process; the file only grows
 * (rotate it with the server stopped, or copy and truncate it).
 */
export class FileAuditLog implements AuditLog {
  readonly file: string;
  private tail: Promise<void> = Promise.resolve();
  /** Lines waiting for their write: appended while the previous write runs, written with one call. */
  private batch: { lines: string[]; written: Promise<void> } | undefined;
  private directoryMade = false;

  constructor(dataDir: string) {
    this.file = path.join(dataDir, 'audit', 'audit.jsonl');
  }

  /** Resolves once the entry is in the file. Entries that arrive during a write go together in the next one (one open and write for many requests). */
  append(entry: AuditEntry): Promise<void> {
    if (this.batch === undefined) {
      const lines: string[] = [];
      const written = this.tail.then(() => {
        this.batch = undefined; // later entries start the next batch, written after this one
        return this.write(lines.join(''));
      });
      this.batch = { lines, written };
      this.tail = written.catch(() => undefined);
    }
    this.batch.lines.push(`${JSON.stringify(entry)}\n`);
    return this.batch.written;
  }

  private async write(text: string): Promise<void> {
    if (!this.directoryMade) {
      await fs.mkdir(path.dirname(this.file), { recursive: true, mode: directoryMode });
      this.directoryMade = true;
    }
    try {
      await fs.appendFile(this.file, text, { mode: fileMode });
    } catch (error) {
      // Its folder was removed while we ran (a cleanup, a rotation done by hand): made again, the entries still land.
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      await fs.mkdir(path.dirname(this.file), { recursive: true, mode: directoryMode });
      await fs.appendFile(this.file, text, { mode: fileMode });
    }
  }

  async read(options: { limit: number; after?: string }): Promise<AuditPage> {
    let after: number | undefined;
    if (options.after !== undefined) {
      if (!/^\d{1,15}$/.test(options.after)) throw new BadRequestError(`after must be the "next" of an earlier page (a line number here), got ${JSON.stringify(options.after)}`);
      after = Number(options.after);
    }
    await this.tail;
    let text = '';
    try {
      text = await fs.readFile(this.file, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
    const lines = text.split('\n');
    if (lines.at(-1) === '') lines.pop();
    const from = after !== undefined ? after : Math.max(0, lines.length - options.limit);
    const entries: StoredAuditEntry[] = [];
    for (let index = from; index < lines.length && entries.length < options.limit; index += 1) {
      const entry = parseEntry(lines[index]!);
      if (entry !== undefined) entries.push({ id: String(index + 1), ...entry });
    }
    const last = entries.at(-1)?.id ?? (from > 0 ? String(Math.min(from, lines.length)) : undefined);
    return { entries, ...(last !== undefined ? { next: last } : {}) };
  }

  async close(): Promise<void> {
    await this.tail;
  }
}

export interface RedisAuditLogOptions {
  url: string;
  prefix?: string;
  /** Approximate cap of the stream (default 100 000 entries). */
  maxLen?: number;
  connectTimeoutMs?: number;
}

/** The stream `<p>auth:audit`, capped at about `maxLen` entries; an entry's id is its stream id. */
export class RedisAuditLog implements AuditLog {
  private readonly key: string;

  private constructor(
    private readonly redis: Redis,
    private readonly url: string,
    prefix: string,
    private readonly maxLen: number,
  ) {
    this.key = new RedisAuthKeys(prefix).audit();
  }

  static async open(options: RedisAuditLogOptions): Promise<RedisAuditLog> {
    const prefix = options.prefix ?? DEFAULT_PREFIX;
    const settings: ConnectionSettings = { url: options.url, connectTimeoutMs: options.connectTimeoutMs ?? 5_000, reconnect: { initialMs: 200, maxMs: 5_000 } };
    const redis = commandConnection(settings, `${prefix}audit:${process.pid}`, 'audit');
    await connectWithin(redis, options.url, settings.connectTimeoutMs);
    return new RedisAuditLog(redis, options.url, prefix, options.maxLen ?? 100_000);
  }

  async append(entry: AuditEntry): Promise<void> {
    try {
      await this.redis.xadd(this.key, 'MAXLEN', '~', String(this.maxLen), '*', 'entry', JSON.stringify(entry));
    } catch (error) {
      throw toTransportError(error, this.url, 'append to the audit log');
    }
  }

  async read(options: { limit: number; after?: string }): Promise<AuditPage> {
    if (options.after !== undefined && !/^\d{1,20}-\d{1,20}$/.test(options.after)) {
      throw new BadRequestError(`after must be the "next" of an earlier page (a stream id such as 1700000000000-0), got ${JSON.stringify(options.after)}`);
    }
    let rows: [id: string, fields: string[]][];
    try {
      rows =
        options.after !== undefined
          ? await this.redis.xrange(this.key, `(${options.after}`, '+', 'COUNT', options.limit)
          : (await this.redis.xrevrange(this.key, '+', '-', 'COUNT', options.limit)).reverse();
    } catch (error) {
      throw toTransportError(error, this.url, 'read the audit log');
    }
    const entries: StoredAuditEntry[] = [];
    for (const [id, fields] of rows) {
      const at = fields.indexOf('entry');
      const entry = at >= 0 && at % 2 === 0 ? parseEntry(fields[at + 1] ?? '') : undefined;
      if (entry !== undefined) entries.push({ id, ...entry });
    }
    const last = rows.at(-1)?.[0] ?? options.after;
    return { entries, ...(last !== undefined ? { next: last } : {}) };
  }

  async close(): Promise<void> {
    await quitConnection(this.redis);
  }
}

/** What a stored entry must have to be shown; the rest is passed through as written. */
const storedEntrySchema = z.looseObject({ time: z.string(), operation: z.string(), status: z.number(), actor: z.looseObject({ kind: z.string() }) });

/** A stored line back as an entry; a line that is not one is skipped. */
function parseEntry(text: string): AuditEntry | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  return storedEntrySchema.safeParse(value).success ? (value as AuditEntry) : undefined;
}
