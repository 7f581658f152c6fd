/**
 * The recent-changes log on disk: `changes.jsonl`, one JSON entry per line,
 * appended in sequence order. Sequence numbers continue across restarts (the
 * last one is read at open). Bounded: once the file holds more than
 * 2 × `limit` lines it is rewritten atomically with the newest `limit`. The
 * newest `limit` entries are also kept in memory for queries.
 *
 * Appends are group-committed: lines queued while a write (and its fsync) is
 * in flight go out together in the next one. An entry becomes visible to
 * queries (and is signalled to `watch` listeners) only once it is in the
 * file: a reader never sees an entry that a failed write then takes back,
 * and a failed append leaves nothing behind (its sequence number stays
 * unused), so retrying it records the change once.
 */
import { existsSync } from 'node:fs';
import type { ChangeLogRead, RecentChangesQuery, StatusChange } from './instance-store.js';
import { ChangeSignal, readChangesAfter, selectRecentChanges } from './instance-store.js';
import {
  closeFile,
  openFile,
  readText,
  syncFile,
  writeAll,
  writeFileAtomic,
  type DirectorySync,
} from './atomic-file.js';

export interface FileChangeLogOptions {
  limit: number;
  durable: boolean;
  /** The directory holding the file, for durable renames. */
  directorySync: DirectorySync;
  warn: (message: string) => void;
}

interface PendingLine {
  line: string;
  entry: StatusChange;
  resolve: (entry: StatusChange) => void;
  reject: (error: unknown) => void;
}

function entryProblem(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'not an object';
  const entry = value as Record<string, unknown>;
  if (!Number.isSafeInteger(entry.sequence) || (entry.sequence as number) < 1) return '"sequence" is not a positive integer';
  for (const key of ['instanceId', 'to', 'cause', 'desired', 'observed', 'at'] as const) {
    if (typeof entry[key] !== 'string') return `"${key}" is not a string`;
  }
  if (entry.from !== null && typeof entry.from !== 'string') return '"from" is neither a string nor null';
  if (typeof entry.generation !== 'number') return '"generation" is not a number';
  return undefined;
}

export class FileChangeLog {
  /** Written entries, oldest first. */
  private entries: StatusChange[];
  private sequence: number;
  private linesInFile: number;
  /** The newest sequence known to be in the file. */
  private writtenSequence: number;
  private pending: PendingLine[] = [];
  private flushing: Promise<void> | undefined;
  private needsCompaction = false;
  private closing: Promise<void> | undefined;
  private readonly written = new ChangeSignal();

  private constructor(
    readonly path: string,
    private fd: number,
    private readonly options: FileChangeLogOptions,
    entries: StatusChange[],
    linesInFile: number,
  ) {
    this.entries = entries;
    this.sequence = entries.at(-1)?.sequence ?? 0;
    this.writtenSequence = this.sequence;
    this.linesInFile = linesInFile;
  }

  static async open(path: string, options: FileChangeLogOptions): Promise<FileChangeLog> {
    const text = existsSync(path) ? await readText(path) : '';
    const valid: StatusChange[] = [];
    const problems: string[] = [];
    const lines = text.split('\n');
    lines.forEach((line, index) => {
      if (line.trim() === '') return;
      let problem: string | undefined;
      try {
        const value: unknown = JSON.parse(line);
        problem = entryProblem(value);
        if (problem === undefined) {
          const entry = value as StatusChange;
          const previous = valid.at(-1)?.sequence ?? 0;
          if (entry.sequence <= previous) problem = `sequence ${entry.sequence} does not follow ${previous}`;
          else valid.push(entry);
        }
      } catch (error) {
        problem = error instanceof Error ? error.message : String(error);
      }
      if (problem !== undefined) problems.push(`line ${index + 1}: ${problem}`);
    });
    if (problems.length > 0) {
      options.warn(`${path}: skipped ${problems.length} unreadable line(s) (${problems.slice(0, 3).join('; ')})`);
    }
    const kept = valid.slice(-options.limit);
    const unterminated = text.length > 0 && !text.endsWith('\n');
    let linesInFile = valid.length;
    if (problems.length > 0 || unterminated || valid.length > 2 * options.limit) {
      // A damaged tail would swallow the next append: start from a clean file.
      await writeFileAtomic(path, kept.map((entry) => `${JSON.stringify(entry)}\n`).join(''), {
        durable: options.durable,
        directorySync: options.directorySync,
      });
      linesInFile = kept.length;
    }
    const fd = await openFile(path, 'a');
    return new FileChangeLog(path, fd, options, kept, linesInFile);
  }

  /** Numbers the change and resolves once it is in the file (and visible to `recent` and `read`). */
  append(change: Omit<StatusChange, 'sequence'>): Promise<StatusChange> {
    if (this.closing) return Promise.reject(new Error(`${this.path}: the change log is closed`));
    const entry: StatusChange = { ...change, sequence: ++this.sequence };
    const line = `${JSON.stringify(entry)}\n`;
    const promise = new Promise<StatusChange>((resolve, reject) => this.pending.push({ line, entry, resolve, reject }));
    this.scheduleFlush();
    return promise;
  }

  private scheduleFlush(): void {
    if (this.flushing) return;
    const run: Promise<void> = this.flush().finally(() => {
      if (this.flushing === run) this.flushing = undefined;
      // Lines queued between the loop's last check and now.
      if (this.pending.length > 0) this.scheduleFlush();
    });
    this.flushing = run;
  }

  recent(query: RecentChangesQuery): StatusChange[] {
    return selectRecentChanges(this.entries, this.options.limit, query);
  }

  read(afterSequence: number, limit: number): ChangeLogRead {
    return readChangesAfter(this.entries, this.options.limit, afterSequence, limit, this.writtenSequence);
  }

  /** Calls `listener` after each write of new entries. Returns the unsubscribe. */
  watch(listener: () => void): () => void {
    return this.written.watch(listener);
  }

  /** The last sequence number handed out. */
  get lastSequence(): number {
    return this.sequence;
  }

  private async flush(): Promise<void> {
    while (this.pending.length > 0) {
      const batch = this.pending.splice(0);
      try {
        if (this.needsCompaction) await this.compact();
        await writeAll(this.fd, Buffer.from(batch.map((pending) => pending.line).join(''), 'utf8'));
        if (this.options.durable) await syncFile(this.fd);
        this.linesInFile += batch.length;
        this.writtenSequence = batch.at(-1)?.entry.sequence ?? this.writtenSequence;
        for (const pending of batch) this.entries.push(pending.entry);
        // Trim in batches: amortized O(1) per append.
        if (this.entries.length >= 2 * this.options.limit) this.entries.splice(0, this.entries.length - this.options.limit);
        for (const pending of batch) pending.resolve(pending.entry);
        this.written.notify();
      } catch (error) {
        // The file may end in a partial line now: rewrite it before the next append.
        this.needsCompaction = true;
        for (const pending of batch) pending.reject(error);
        continue;
      }
      if (this.linesInFile > 2 * this.options.limit) {
        try {
          await this.compact();
        } catch (error) {
          this.needsCompaction = true;
          this.options.warn(`${this.path}: could not rewrite the log: ${error instanceof Error ? error.message : String(error)}`);
        }
      }
    }
  }

  /** Rewrites the file with the newest `limit` entries that were written, and reopens it for appending. */
  private async compact(): Promise<void> {
    const kept = this.entries.slice(-this.options.limit);
    await writeFileAtomic(this.path, kept.map((entry) => `${JSON.stringify(entry)}\n`).join(''), {
      durable: this.options.durable,
      directorySync: this.options.directorySync,
    });
    const previous = this.fd;
    this.fd = await openFile(this.path, 'a');
    await closeFile(previous).catch(() => undefined);
    this.linesInFile = kept.length;
    this.needsCompaction = false;
  }

  /** Waits for queued appends, then closes the file. Idempotent. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      while (this.flushing) await this.flushing;
      await closeFile(this.fd);
    })();
    return this.closing;
  }
}
