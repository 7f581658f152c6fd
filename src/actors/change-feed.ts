/**
 * Follows the store's change log by sequence and hands every entry to every
 * subscriber, in sequence order, exactly once.
 *
 * The log is the only source: a subscriber gets what was stored, never what
 * was merely published, so a change is delivered if and only if it is in the
 * log. One read loop serves all subscribers (a hundred SSE clients cost one
 * reader); each subscriber has its own position, and the loop reads from the
 * lowest, so one that resumes from an older position (`after`) catches up
 * from the log while the others skip what they already had.
 *
 * The loop reads when woken — an append the store tells of (`watchChanges`,
 * watched only while the loop runs, i.e. while anyone subscribes), or a hint
 * from elsewhere (`poke`) — and every `pollMs` in any case, for appends by
 * other replicas whose wake-up was lost. A failed
 * read (the store unreachable) is retried with capped backoff from the same
 * position, so an outage delays delivery and loses nothing.
 *
 * A subscriber whose position the log no longer keeps (it trimmed older
 * entries), or that the log never had (ahead of its newest; negative: an id
 * from elsewhere), gets a reset instead: it missed changes and must reload;
 * it then follows from the newest entry.
 */
import { errorMessage } from '../errors.js';
import type { ChangeLogRead, InstanceStore, StatusChange } from '../store/instance-store.js';
import type { Closeable } from '../transport/transport.js';
import { type LogOption, type Logger, toLogger } from '../observability/logger.js';

/** Why a subscriber cannot be given the changes after its position. */
export interface FeedReset {
  /** The position the subscriber had. */
  after: number;
  /** The oldest sequence the log keeps (undefined: none). */
  oldest: number | undefined;
  /** The newest sequence; the subscriber follows from here. */
  newest: number;
}

export interface FeedSubscriber {
  change(change: StatusChange): void;
  /** Without it, a reset is logged. */
  reset?(reset: FeedReset): void;
  /** Told once, before any change, the position delivery starts after (the newest sequence when no `after` was given). */
  start?(after: number): void;
}

export interface ChangeFeedOptions {
  /** Read at least this often while anyone subscribes (default 1 000 ms). */
  pollMs?: number;
  /** Entries per read (default 500). */
  batch?: number;
  /** First retry delay after a failed read (default 200 ms), doubling up to `maxRetryMs` (default 5 s). */
  retryMs?: number;
  maxRetryMs?: number;
  log?: LogOption;
}

interface Cursor {
  subscriber: FeedSubscriber;
  /** The last sequence this subscriber was given (or started after). */
  last: number;
}

/** Whether a reader at `last` missed entries the log no longer has, or is at a position the log never had. */
function isBehind(last: number, read: ChangeLogRead): boolean {
  if (last < 0 || last > read.newest) return true;
  return read.oldest === undefined ? last < read.newest : last < read.oldest - 1;
}

export class ChangeFeed {
  private readonly cursors = new Set<Cursor>();
  private readonly pollMs: number;
  private readonly batch: number;
  private readonly retryMs: number;
  private readonly maxRetryMs: number;
  private readonly log: Logger;
  private running: Promise<void> | undefined;
  /** Set by a wake-up; a wait that starts after it returns at once. */
  private woken = false;
  private wakeWaiter: (() => void) | undefined;
  /** The newest sequence of the loop's last read, while the loop runs. */
  private newest: number | undefined;
  private closed = false;

  constructor(
    private readonly store: Pick<InstanceStore, 'readChanges' | 'watchChanges'>,
    options: ChangeFeedOptions = {},
  ) {
    this.pollMs = options.pollMs ?? 1_000;
    this.batch = options.batch ?? 500;
    this.retryMs = options.retryMs ?? 200;
    this.maxRetryMs = options.maxRetryMs ?? 5_000;
    this.log = toLogger(options.log);
  }

  /** Something may have been appended: read now. */
  poke(): void {
    this.woken = true;
    this.wakeWaiter?.();
  }

  /**
   * Adds a subscriber, given the changes after `after` (default: from the
   * newest now; reading it may fail, e.g. 503 while the store is unreachable).
   */
  async subscribe(subscriber: FeedSubscriber, after?: number): Promise<Closeable> {
    if (this.closed) throw new Error('the change feed is closed');
    const start = after ?? (this.running && this.newest !== undefined ? this.newest : (await this.store.readChanges(Number.MAX_SAFE_INTEGER, 0)).newest);
    subscriber.start?.(start);
    const cursor: Cursor = { subscriber, last: start };
    this.cursors.add(cursor);
    this.running ??= this.run();
    this.poke();
    return {
      close: async () => {
        this.cursors.delete(cursor);
      },
    };
  }

  private async run(): Promise<void> {
    const unwatch = this.store.watchChanges(() => this.poke());
    try {
      await this.follow();
    } finally {
      unwatch();
    }
  }

  private async follow(): Promise<void> {
    let failures = 0;
    while (!this.closed && this.cursors.size > 0) {
      this.woken = false;
      const readers = [...this.cursors];
      const from = Math.max(0, Math.min(...readers.map((cursor) => cursor.last)));
      let read: ChangeLogRead;
      try {
        read = await this.store.readChanges(from, this.batch);
      } catch (error) {
        if (failures === 0) this.log.warn(`change feed: cannot read the change log (${errorMessage(error)}); retrying`);
        failures += 1;
        await this.wait(Math.min(this.retryMs * 2 ** (failures - 1), this.maxRetryMs), false);
        continue;
      }
      if (failures > 0) this.log.info('change feed: reading the change log again');
      failures = 0;
      this.newest = read.newest;
      this.deliver(readers, read);
      if (read.changes.length >= this.batch) continue;
      await this.wait(this.pollMs, true);
    }
    this.newest = undefined;
    this.running = undefined;
  }

  private deliver(readers: Cursor[], read: ChangeLogRead): void {
    for (const cursor of readers) {
      if (!this.cursors.has(cursor) || !isBehind(cursor.last, read)) continue;
      const reset: FeedReset = { after: cursor.last, oldest: read.oldest, newest: read.newest };
      cursor.last = read.newest;
      if (cursor.subscriber.reset) this.call(() => cursor.subscriber.reset?.(reset));
      else this.log.warn(`change feed: a subscriber at ${reset.after} missed changes the log no longer keeps (oldest ${reset.oldest ?? 'none'}); it goes on from ${reset.newest}`);
    }
    for (const change of read.changes) {
      for (const cursor of readers) {
        // A subscriber that left meanwhile gets nothing more.
        if (change.sequence <= cursor.last || !this.cursors.has(cursor)) continue;
        cursor.last = change.sequence;
        this.call(() => cursor.subscriber.change(change));
      }
    }
  }

  private call(deliver: () => void): void {
    try {
      deliver();
    } catch (error) {
      this.log.error(`change feed: a subscriber failed: ${errorMessage(error)}`);
    }
  }

  /** Waits `ms`, or until woken (when `wakeable`; a failed read waits out its backoff). */
  private wait(ms: number, wakeable: boolean): Promise<void> {
    if (this.closed || (wakeable && this.woken)) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.wakeWaiter = undefined;
        resolve();
      };
      const timer = setTimeout(done, ms);
      timer.unref();
      this.wakeWaiter = wakeable ? done : () => (this.closed ? done() : undefined);
    });
  }

  /** Stops reading; subscribers get nothing more. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.cursors.clear();
    this.wakeWaiter?.();
    await this.running;
  }
}
