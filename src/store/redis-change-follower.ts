/**
 * Tells a process's change-log watchers of entries appended by any process
 * sharing the Redis store — how a replica learns at once of another's
 * changes. While anyone watches, one blocking XREAD on the change stream
 * (its own connection) waits for new entries; nothing runs while nobody
 * watches. A wake-up only: watchers read the log themselves by sequence
 * (`readChanges`), so a wake-up that is lost (Redis away) costs latency until
 * their next poll, never an entry.
 */
import type { Redis } from 'ioredis';
import { BlockingLoop } from '../transport/redis-loop.js';
import type { ReconnectPolicy } from '../redis/connection.js';
import { ChangeSignal } from './instance-store.js';

export interface ChangeLogFollowerOptions {
  /** A new blocking connection (lazy; the follower connects and disconnects it). */
  connect: () => Redis;
  /** The change stream's key. */
  stream: string;
  /** How long one XREAD blocks (default 2 000 ms). */
  blockMs?: number;
  retry: ReconnectPolicy;
  log: (message: string) => void;
}

/** Entries read per wake-up: the ids move the position on; the entries themselves are not used. */
const READ_COUNT = 100;

export class ChangeLogFollower {
  private readonly signal = new ChangeSignal();
  private watchers = 0;
  private following: { loop: BlockingLoop; connection: Redis } | undefined;
  /** The newest entry id seen; `$` (entries from now on) until the first read returns one. */
  private position = '$';

  constructor(private readonly options: ChangeLogFollowerOptions) {}

  watch(listener: () => void): () => void {
    const unwatch = this.signal.watch(listener);
    this.watchers += 1;
    if (this.watchers === 1) this.start();
    let watching = true;
    return () => {
      if (!watching) return;
      watching = false;
      unwatch();
      this.watchers -= 1;
      if (this.watchers === 0) void this.stop();
    };
  }

  private start(): void {
    const connection = this.options.connect();
    const blockMs = this.options.blockMs ?? 2_000;
    const loop = new BlockingLoop(connection, {
      name: `change log follower (${this.options.stream})`,
      retry: this.options.retry,
      log: this.options.log,
      step: async () => {
        const reply = await connection.xread('COUNT', READ_COUNT, 'BLOCK', blockMs, 'STREAMS', this.options.stream, this.position);
        const entries = reply?.[0]?.[1];
        const newest = entries?.at(-1)?.[0];
        if (newest === undefined) return;
        this.position = newest;
        this.signal.notify();
      },
    });
    this.following = { loop, connection };
    this.position = '$';
    loop.start();
  }

  /** Stops following (the call in flight is cut off). Idempotent. */
  async stop(): Promise<void> {
    const following = this.following;
    this.following = undefined;
    await following?.loop.stop();
  }
}
