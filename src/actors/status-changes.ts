/**
 * Status changes: every transition of an instance actor becomes one entry of
 * the store's change log, and subscribers (the library's `subscribe`, the
 * SSE stream) are fed from that log, by sequence (change-feed.ts).
 *
 * Recording: each instance's changes are appended one at a time, in the
 * order they happened. An append that fails (the store unreachable) is
 * retried with capped backoff until it lands — the changes behind it wait,
 * so the order holds — and is never dropped for a transient error. A change
 * made under a lease this replica has lost since is held and written once the
 * fence allows it (held-writes.ts); it is dropped, with a log line, only when
 * another replica took the instance over meanwhile.
 *
 * Carrying snapshots: the append of an instance's change also writes the
 * instance's newest waiting snapshot (snapshot-writer.ts), in the same store
 * call — one write per transition. While changes of an instance wait here,
 * its snapshots wait for them; one that does not land goes back to the
 * snapshot writer.
 *
 * Other replicas learn of an append from the store itself (the Redis store's
 * `watchChanges` follows the log with one blocking read per replica), and
 * their feeds poll the log anyway.
 */
import { errorMessage, StaleOwnerError } from '../errors.js';
import type { InstanceStore, RecentChangesQuery, StatusChange, WriteFence } from '../store/instance-store.js';
import { newTraceContext, type EventEnvelope } from '../transport/envelope.js';
import { ChangeFeed, type FeedReset } from './change-feed.js';
import { fenceForHeldWrite, takenOver, type OwnTokens } from './held-writes.js';
import type { StatusTransition } from './instance-actor.js';
import type { Ownership } from './ownership.js';
import type { SnapshotCarrier, SnapshotWriter } from './snapshot-writer.js';
import { toLogger, type LogOption, type Logger } from '../observability/logger.js';
import { within } from '../time-bounds.js';

/** How long a read of the recent changes waits for this replica's own changes to be written. */
export const RECORDED_WAIT_MS = 2_000;

export interface StatusChangedPayload {
  from: string | null;
  to: string;
  cause: string;
  reason?: string;
  desiredState: string;
  observedState: string;
  generation: number;
  observedGeneration: number | null;
}

/** A recorded status change as subscribers get it: `sequence` is its place in the change log (`eventId` is the same number). */
export type InstanceEventEnvelope = EventEnvelope<'instance.status-changed', StatusChangedPayload> & { sequence: number };

export interface StatusSubscribeOptions {
  /**
   * Resume after this sequence: first the changes after it that the log still
   * keeps, then new ones. Default: only changes recorded from now on. A
   * position the log does not keep (older than its oldest entry, newer than
   * its newest, or negative) is answered with `onReset`.
   */
  afterSequence?: number;
  /** The subscriber missed changes the log no longer keeps: reload the state. Delivery goes on from `newest`. */
  onReset?: (reset: FeedReset) => void;
  /**
   * Told once, before any change, the sequence delivery starts after: the
   * log's newest when `afterSequence` is not given (0 before the first change).
   */
  onStart?: (after: number) => void;
}

export interface StatusChangesOptions {
  store: InstanceStore;
  /** Snapshots to carry along with the changes (none: each is written on its own by its writer). */
  snapshots?: Pick<SnapshotWriter, 'take' | 'landed' | 'missed' | 'kick' | 'carriedBy'>;
  ownership: Ownership;
  /** The lease tokens this replica held (for changes made before a lease lapsed). */
  ownTokens: OwnTokens;
  now: () => number;
  log: LogOption;
  /** First retry delay of a failed append (default 200 ms), doubling up to `maxRetryMs` (default 5 s). */
  retryMs?: number;
  maxRetryMs?: number;
  /** How often subscribers' feed reads the log when nothing woke it (default 1 000 ms). */
  pollMs?: number;
}

interface QueuedChange {
  change: Omit<StatusChange, 'sequence'>;
  /** The fence of the lease the change was made under. */
  madeUnder: WriteFence | undefined;
}

function sameFence(a: WriteFence | undefined, b: WriteFence | undefined): boolean {
  return a?.lease === b?.lease && a?.token === b?.token;
}

/** The payload subscribers get for a change. */
function payloadOf(change: StatusChange): StatusChangedPayload {
  const payload: StatusChangedPayload = {
    from: change.from,
    to: change.to,
    cause: change.cause,
    desiredState: change.desired,
    observedState: change.observed,
    generation: change.generation,
    observedGeneration: change.observedGeneration ?? null,
  };
  if (change.reason !== undefined) payload.reason = change.reason;
  return payload;
}

/** A stored change as subscribers get it. */
function statusEvent(change: StatusChange): InstanceEventEnvelope {
  return {
    type: 'instance.status-changed',
    eventId: String(change.sequence),
    sequence: change.sequence,
    instanceId: change.instanceId,
    timestamp: change.at,
    trace: newTraceContext(),
    payload: payloadOf(change),
  };
}

export class StatusChanges implements SnapshotCarrier {
  private readonly store: InstanceStore;
  private readonly snapshots: StatusChangesOptions['snapshots'];
  private readonly ownership: Ownership;
  private readonly ownTokens: OwnTokens;
  private readonly now: () => number;
  private readonly log: Logger;
  private readonly retryMs: number;
  private readonly maxRetryMs: number;
  private readonly queues = new Map<string, QueuedChange[]>();
  private readonly draining = new Map<string, Promise<void>>();
  private readonly retryWaits = new Set<() => void>();
  private readonly feed: ChangeFeed;
  /** Built once per change read, shared by every subscriber. */
  private readonly events = new WeakMap<StatusChange, InstanceEventEnvelope>();
  private closed = false;

  constructor(options: StatusChangesOptions) {
    this.store = options.store;
    this.snapshots = options.snapshots;
    this.snapshots?.carriedBy(this);
    this.ownership = options.ownership;
    this.ownTokens = options.ownTokens;
    this.now = options.now;
    this.log = toLogger(options.log);
    this.retryMs = options.retryMs ?? 200;
    this.maxRetryMs = options.maxRetryMs ?? 5_000;
    this.feed = new ChangeFeed(this.store, { ...(options.pollMs !== undefined ? { pollMs: options.pollMs } : {}), log: this.log });
  }

  /** Whether an append of the instance's change is coming (its snapshots wait for it). */
  carries(instanceId: string): boolean {
    return !this.closed && this.queues.has(instanceId);
  }

  /** Records a transition: queued now, appended to the change log in order, retried until it lands. */
  record({ instanceId, from, to, context }: StatusTransition): void {
    if (this.closed) return;
    const change: Omit<StatusChange, 'sequence'> = {
      instanceId,
      from,
      to,
      cause: context.history.at(-1)?.cause ?? 'unknown',
      desired: context.desired,
      observed: context.observed,
      generation: context.generation,
      observedGeneration: context.observedGeneration,
      at: new Date(this.now()).toISOString(),
    };
    if (to === 'Failed' && context.failure) change.reason = context.failure.reason;
    const queue = this.queues.get(instanceId) ?? [];
    const madeUnder = this.ownership.fence(instanceId);
    this.ownTokens.note(madeUnder);
    queue.push({ change, madeUnder });
    this.queues.set(instanceId, queue);
    if (!this.draining.has(instanceId)) this.draining.set(instanceId, this.drain(instanceId, queue));
  }

  /** The instances whose changes wait to be written. */
  pendingIds(): string[] {
    return [...this.queues.keys()];
  }

  /** Retries waiting appends now instead of after their backoff (the store or a lease is back). */
  retryNow(): void {
    for (const wake of [...this.retryWaits]) wake();
  }

  private async drain(instanceId: string, queue: QueuedChange[]): Promise<void> {
    await null; // the rest of this tick's transitions join the queue first
    let failures = 0;
    while (queue.length > 0) {
      const next = queue[0] as QueuedChange;
      const attempt = fenceForHeldWrite(next.madeUnder, this.ownership.fence(instanceId), this.ownTokens);
      if ('superseded' in attempt) {
        this.dropSuperseded(instanceId, queue, next.madeUnder);
        continue;
      }
      // A snapshot rides along only under the fence its own writer would use (not with a change held from an older lease).
      const current = this.ownership.fence(instanceId);
      const carried = sameFence(attempt.options.fence, current) ? this.snapshots?.take(instanceId) : undefined;
      try {
        await this.store.appendChange(next.change, attempt.options, carried);
        if (carried) this.snapshots?.landed(instanceId);
        queue.shift();
        failures = 0;
      } catch (error) {
        if (carried) this.snapshots?.missed(instanceId, carried);
        if (failures === 0) this.log.warn(`instance ${instanceId}: status change not recorded yet (${errorMessage(error)}); retrying`, { instanceId });
        failures += 1;
        if (error instanceof StaleOwnerError && (await takenOver(this.ownership, instanceId))) {
          this.dropSuperseded(instanceId, queue, next.madeUnder);
          continue;
        }
        if (this.closed) {
          this.log.error(`instance ${instanceId}: ${queue.length} status change(s) not recorded: closing while the store refuses them`, { instanceId });
          queue.length = 0;
          break;
        }
        await this.pause(Math.min(this.retryMs * 2 ** (failures - 1), this.maxRetryMs));
      }
    }
    if (this.queues.get(instanceId) === queue) this.queues.delete(instanceId);
    this.draining.delete(instanceId);
    // A snapshot that waited for a change that is no longer coming is its writer's again.
    this.snapshots?.kick(instanceId);
  }

  /** Drops the queued changes made under the same lease as the head: another replica acts for the instance now. */
  private dropSuperseded(instanceId: string, queue: QueuedChange[], madeUnder: WriteFence | undefined): void {
    let dropped = 0;
    while (queue.length > 0 && queue[0]?.madeUnder?.token === madeUnder?.token) {
      queue.shift();
      dropped += 1;
    }
    this.log.warn(`instance ${instanceId}: ${dropped} status change(s) made before its lease lapsed were not recorded: another replica took it over`, { instanceId });
  }

  private pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        this.retryWaits.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, ms);
      this.retryWaits.add(wake);
    });
  }

  /**
   * The newest recorded changes. The changes this replica has made and not
   * yet written (of the instance asked about, or of all) are waited for
   * first, so that a caller answered for a transition finds it here; while
   * the store refuses them, at most `RECORDED_WAIT_MS`, then the log says
   * what it holds.
   */
  async recent(query: RecentChangesQuery): Promise<StatusChange[]> {
    await this.recorded(query.instanceId);
    return this.store.recentChanges(query);
  }

  private async recorded(instanceId: string | undefined): Promise<void> {
    const writing = instanceId === undefined ? [...this.draining.values()] : [this.draining.get(instanceId)].filter((drain) => drain !== undefined);
    if (writing.length > 0) await within(Promise.all(writing), RECORDED_WAIT_MS);
  }

  /** Every recorded change from now on (or after `afterSequence`), in sequence order. Returns the unsubscribe. */
  async subscribe(listener: (event: InstanceEventEnvelope) => void, options: StatusSubscribeOptions = {}): Promise<() => Promise<void>> {
    const subscription = await this.feed.subscribe(
      {
        change: (change) => listener(this.eventOf(change)),
        ...(options.onReset ? { reset: options.onReset } : {}),
        ...(options.onStart ? { start: options.onStart } : {}),
      },
      options.afterSequence,
    );
    return () => subscription.close();
  }

  private eventOf(change: StatusChange): InstanceEventEnvelope {
    let event = this.events.get(change);
    if (!event) {
      event = statusEvent(change);
      this.events.set(change, event);
    }
    return event;
  }

  /** Resolves once every queued change was written (or given up). */
  async flush(): Promise<void> {
    while (this.draining.size > 0) await Promise.all(this.draining.values());
  }

  /** Tries what is queued once more without further retries, then stops the feed. Idempotent. */
  async close(): Promise<void> {
    if (!this.closed) {
      this.closed = true;
      this.retryNow();
    }
    await this.flush();
    await this.feed.close();
  }
}
