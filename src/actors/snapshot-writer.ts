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

/** Who may carry snapshots along with its own writes. */
export interface SnapshotCarrier {
  /** Whether a write for the instance is coming that will take its waiting snapshot. */
  carries(instanceId: string): boolean;
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
  private carrier: SnapshotCarrier | undefined;

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
    this.kick(instanceId);
  }

  carriedBy(carrier: SnapshotCarrier): void {
    this.carrier = carrier;
  }

  /** Starts writing the instance's waiting snapshot, unless a write of it runs (here or the carrier's) or the carrier will take it. */
  kick(instanceId: string): void {
    if (this.writing.has(instanceId) || this.inFlight.has(instanceId) || !this.waiting.has(instanceId) || this.parked(instanceId)) return;
    this.writing.set(instanceId, this.drain(instanceId));
  }

  private parked(instanceId: string): boolean {
    return !this.closed && this.carrier !== undefined && this.carrier.carries(instanceId);
  }

  /**
   * For the carrier: the newest waiting snapshot, produced now and in flight
   * from here on; undefined when none waits or this writer is writing one.
   * Answer with `landed` or `missed`.
   */
  take(instanceId: string): PersistedInstanceSnapshot | undefined {
    const next = this.waiting.get(instanceId);
    if (this.closed || !next || this.writing.has(instanceId) || this.inFlight.has(instanceId)) return undefined;
    this.waiting.delete(instanceId);
    const snapshot = next();
    this.inFlight.set(instanceId, snapshot);
    return snapshot;
  }

  /** A taken snapshot is stored (or its record is gone). */
  landed(instanceId: string): void {
    this.inFlight.delete(instanceId);
    this.kick(instanceId);
  }

  /** A taken snapshot did not land: it waits again (unless a newer one does) for the carrier's retry or this writer. */
  missed(instanceId: string, snapshot: PersistedInstanceSnapshot): void {
    this.inFlight.delete(instanceId);
    if (!this.closed && !this.waiting.has(instanceId)) this.waiting.set(instanceId, () => snapshot);
    this.kick(instanceId);
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
    for (let next = this.waiting.get(instanceId); next && !this.parked(instanceId); next = this.waiting.get(instanceId)) {
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
    // What was parked for the carrier is written here: the carrier writes no snapshot after this.
    for (const instanceId of [...this.waiting.keys()]) this.kick(instanceId);
    const flushed = await within(this.flush(), this.closeTimeoutMs);
    if (flushed.settled) return;
    for (const instanceId of new Set([...this.writing.keys(), ...this.waiting.keys()])) {
      this.onError(instanceId, new Error(`the store did not answer within ${this.closeTimeoutMs} ms; ${givenUp}`));
    }
    this.waiting.clear();
  }
}
