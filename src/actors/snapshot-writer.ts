/**
 * Saves instance snapshots without falling behind: at most one write per
 * instance in flight; while it runs, newer snapshots replace each other and
 * only the newest is written next (the store keeps the last one anyway).
 * Snapshots are produced lazily, when written: a burst of transitions in one
 * tick costs one serialization, not one per transition.
 *
 * A failed write (the store unreachable for a while) is retried with capped
 * backoff until it lands, a newer snapshot replaces it, the instance is
 * dropped, or the writer closes — so an outage of the store does not leave a
 * stale snapshot behind for the next restart to trust. Errors the store marks
 * as final (a stale fencing token) are not retried.
 */
import { errorMessage } from '../errors.js';
import type { InstanceStore, PersistedInstanceSnapshot, WriteFence } from '../store/instance-store.js';
import { within } from '../time-bounds.js';

export interface SnapshotWriterOptions {
  /** First retry delay after a failed write (default 200 ms), doubling up to `maxRetryMs` (default 5 s). */
  retryMs?: number;
  maxRetryMs?: number;
  /** Whether a failed write is worth retrying (default: always). */
  retryable?: (error: unknown) => boolean;
  /** The fence each write carries, asked for at write time (default: none). */
  fenceOf?: (instanceId: string) => WriteFence | undefined;
  /** How long close() waits for the last writes (default 2 s); what has not landed by then is reported and given up. */
  closeTimeoutMs?: number;
}

/** What a snapshot given up at shutdown means: said in the log line. */
const givenUp = 'given up at shutdown: whoever owns the instance next rehydrates it from its last saved snapshot';

export class SnapshotWriter {
  private readonly waiting = new Map<string, () => PersistedInstanceSnapshot>();
  private readonly writing = new Map<string, Promise<void>>();
  /** The snapshot being written per instance, until its write settles. */
  private readonly inFlight = new Map<string, PersistedInstanceSnapshot>();
  private readonly retryMs: number;
  private readonly maxRetryMs: number;
  private readonly retryable: (error: unknown) => boolean;
  private readonly fenceOf: (instanceId: string) => WriteFence | undefined;
  private readonly retryTimers = new Set<{ timer: NodeJS.Timeout; wake: () => void }>();
  private closed = false;
  private readonly closeTimeoutMs: number;

  constructor(
    private readonly store: InstanceStore,
    private readonly onError: (instanceId: string, error: unknown) => void,
    options: SnapshotWriterOptions = {},
  ) {
    this.retryMs = options.retryMs ?? 200;
    this.maxRetryMs = options.maxRetryMs ?? 5_000;
    this.retryable = options.retryable ?? (() => true);
    this.fenceOf = options.fenceOf ?? (() => undefined);
    this.closeTimeoutMs = options.closeTimeoutMs ?? 2_000;
  }

  save(instanceId: string, produce: () => PersistedInstanceSnapshot): void {
    if (this.closed) return;
    this.waiting.set(instanceId, produce);
    if (!this.writing.has(instanceId)) this.writing.set(instanceId, this.drain(instanceId));
  }

  /** Forgets what is waiting for an instance (deleted, or no longer ours). */
  drop(instanceId: string): void {
    this.waiting.delete(instanceId);
  }

  /**
   * The newest snapshot of the instance not known to be written (waiting, or
   * being written), produced now; undefined when everything saved has landed.
   * For a replica that stops acting for the instance and must keep its state.
   */
  unwritten(instanceId: string): PersistedInstanceSnapshot | undefined {
    const waiting = this.waiting.get(instanceId);
    if (!waiting) return this.inFlight.get(instanceId);
    const snapshot = waiting();
    this.waiting.set(instanceId, () => snapshot);
    return snapshot;
  }

  private async drain(instanceId: string): Promise<void> {
    await null; // let the rest of this tick's transitions land first
    let failures = 0;
    for (let next = this.waiting.get(instanceId); next; next = this.waiting.get(instanceId)) {
      this.waiting.delete(instanceId);
      let snapshot: PersistedInstanceSnapshot | undefined;
      try {
        snapshot = next();
        this.inFlight.set(instanceId, snapshot);
        const fence = this.fenceOf(instanceId);
        await this.store.saveSnapshot(instanceId, snapshot, fence ? { fence } : {});
        failures = 0;
      } catch (error) {
        // Logged on the first failure of a run only: an outage is one line, not one per retry.
        if (this.closed) this.onError(instanceId, new Error(`${errorMessage(error)}; ${givenUp}`));
        else if (failures === 0) this.onError(instanceId, error);
        failures += 1;
        if (this.closed || !this.retryable(error) || snapshot === undefined) continue;
        // The value itself is retried: the producer may describe a different state by then.
        const failed = snapshot;
        if (!this.waiting.has(instanceId)) this.waiting.set(instanceId, () => failed);
        await this.pause(Math.min(this.retryMs * 2 ** (failures - 1), this.maxRetryMs));
      } finally {
        this.inFlight.delete(instanceId);
      }
    }
    this.writing.delete(instanceId);
  }

  private pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const entry = {
        timer: setTimeout(() => {
          this.retryTimers.delete(entry);
          resolve();
        }, ms),
        wake: resolve,
      };
      this.retryTimers.add(entry);
    });
  }

  /** Resolves when every scheduled snapshot has been written (or, after close, given up). */
  async flush(): Promise<void> {
    while (this.writing.size > 0) await Promise.all(this.writing.values());
  }

  /**
   * Writes what is waiting once more, without retrying failures, and stops.
   * Waits at most `closeTimeoutMs`: a write the store does not answer by then
   * is reported (with what it means) and abandoned.
   */
  async close(): Promise<void> {
    this.closed = true;
    for (const entry of this.retryTimers) {
      clearTimeout(entry.timer);
      entry.wake();
    }
    this.retryTimers.clear();
    const flushed = await within(this.flush(), this.closeTimeoutMs);
    if (flushed.settled) return;
    for (const instanceId of new Set([...this.writing.keys(), ...this.waiting.keys()])) {
      this.onError(instanceId, new Error(`the store did not answer within ${this.closeTimeoutMs} ms; ${givenUp}`));
    }
    this.waiting.clear();
  }
}
