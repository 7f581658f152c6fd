/**
 * Subscriptions to a topic's event stream. All the subscriptions of one
 * transport to one topic share one reader (`TopicReader`): its own
 * connection and one loop reading with XREAD BLOCK, that decodes each event
 * once and hands it to each of its subscriptions in turn. Per subscription:
 *
 * - it gets the events after its start position (the newest entry when it
 *   subscribed, or `after`), in stream order, one at a time, each once, and
 *   none after its close() resolved;
 * - after a reconnect the reader resumes from where the subscription was, so
 *   it misses nothing still in the (capped) stream;
 * - a throwing listener is logged and stops neither its own subscription nor
 *   the others; the event it gets is frozen (shared with the other
 *   listeners, so none of them can change what another one sees).
 *
 * The reader reads from the oldest position among its subscriptions; one
 * that is behind the others (started from an older `after`) is caught up by
 * the following reads while the others skip what they already had. The
 * reader starts with its first subscription and stops (closing its
 * connection) when its last one closes.
 */
import type { Redis } from 'ioredis';
import { DraasError, errorMessage } from '../errors.js';
import type { EventEnvelope } from './envelope.js';
import { decodeEvent, parseReadReply } from './redis-codec.js';
import type { ReconnectPolicy } from '../redis/connection.js';
import { BlockingLoop } from './redis-loop.js';
import type { Closeable, EventListener } from './transport.js';

const READ_BATCH = 100;

export interface SubscribeOptions {
  /**
   * Deliver the events after this stream id (e.g. a `lastId` remembered from
   * an earlier subscription; `0-0` for everything still in the stream).
   * Default: only events published after subscribe() resolved.
   */
  after?: string;
}

export interface TopicReaderSettings {
  blockMs: number;
  retry: ReconnectPolicy;
  log: (message: string) => void;
  /** Called once the reader stopped (its last subscription closed, or the transport closed it). */
  onClosed: () => void;
}

/** One subscriber's handle. */
export class RedisSubscription implements Closeable {
  private closing: Promise<void> | undefined;
  private open = true;

  constructor(
    private readonly reader: TopicReader,
    private readonly listener: EventListener,
    private position: string,
  ) {}

  /** The id of the last event delivered (or the start position): pass it as `after` to resume. */
  get lastId(): string {
    return this.position;
  }

  stalled(maxAgeMs: number): boolean {
    return this.reader.stalled(maxAgeMs);
  }

  /** Nothing is delivered once this is called; resolves when the shared reader stopped, if this was its last subscription. Idempotent. */
  close(): Promise<void> {
    this.open = false;
    this.closing ??= this.reader.detach(this);
    return this.closing;
  }

  /**
   * Hands over the entry `id` of a read that started after `from`; `previous`
   * is the entry before it in that read (`from` for the first). Its event is
   * undefined when the entry is malformed. Skipped when this subscription
   * already had it, or is behind that read (a later read catches it up).
   */
  offer(from: string, previous: string, id: string, event: EventEnvelope | undefined, log: (message: string) => void): void {
    if (!this.open) return;
    // In step with the read (the usual case): no comparison needed.
    if (this.position !== previous && (compareIds(this.position, from) < 0 || compareIds(id, this.position) <= 0)) return;
    this.position = id;
    if (event === undefined) return;
    try {
      this.listener(event);
    } catch (error) {
      log(`listener failed on ${id}: ${errorMessage(error)}`);
    }
  }
}

/** The shared reader of one topic on one transport. */
export class TopicReader {
  private readonly loop: BlockingLoop;
  private readonly subscriptions = new Set<RedisSubscription>();
  private stopping: Promise<void> | undefined;
  private readonly log: (message: string) => void;

  constructor(
    private readonly connection: Redis,
    readonly key: string,
    private readonly settings: TopicReaderSettings,
  ) {
    this.log = (message) => settings.log(`subscription ${key}: ${message}`);
    this.loop = new BlockingLoop(connection, {
      name: `subscription ${key}`,
      step: () => this.step(),
      retry: settings.retry,
      log: settings.log,
    });
  }

  /** True once it stops (its last subscription closed): a new subscription needs a new reader. */
  get isClosed(): boolean {
    return this.stopping !== undefined;
  }

  /** True before its first subscription (and after its last one closed). */
  get unused(): boolean {
    return this.subscriptions.size === 0;
  }

  /** True when it has subscriptions and its loop has not returned from Redis for longer than `maxAgeMs`. */
  stalled(maxAgeMs: number): boolean {
    return !this.unused && this.loop.stalled(maxAgeMs);
  }

  /** Adds a subscription that gets the events after `position`; starts reading with the first one. */
  attach(listener: EventListener, position: string): RedisSubscription {
    if (this.stopping) throw new DraasError('unavailable', `the reader of ${this.key} is closed`);
    const subscription = new RedisSubscription(this, listener, position);
    this.subscriptions.add(subscription);
    this.loop.start();
    return subscription;
  }

  /** Removes a subscription; the last one stops the reader. */
  detach(subscription: RedisSubscription): Promise<void> {
    this.subscriptions.delete(subscription);
    return this.subscriptions.size === 0 ? this.close() : Promise.resolve();
  }

  /** Stops reading and closes the connection. Idempotent. */
  close(): Promise<void> {
    this.stopping ??= this.loop.stop().then(() => this.settings.onClosed());
    return this.stopping;
  }

  private async step(): Promise<void> {
    let from: string | undefined;
    for (const subscription of this.subscriptions) {
      if (from === undefined || compareIds(subscription.lastId, from) < 0) from = subscription.lastId;
    }
    if (from === undefined) return; // between its last close() and the stop
    const reply = await this.connection.call('XREAD', 'COUNT', READ_BATCH, 'BLOCK', this.settings.blockMs, 'STREAMS', this.key, from);
    const entries = parseReadReply(reply);
    if (entries.length === 0) return;
    // A snapshot: a subscription added by a listener starts with the next read.
    const subscriptions = [...this.subscriptions];
    let previous = from;
    for (const entry of entries) {
      if (this.loop.isStopping) return;
      const event = decodeEvent(entry);
      if (event === undefined) this.log(`skipped malformed entry ${entry.id}`);
      else deepFreeze(event);
      for (const subscription of subscriptions) subscription.offer(from, previous, entry.id, event, this.log);
      previous = entry.id;
    }
  }
}

/** A stream id as `subscribe` accepts it: `<ms>-<seq>`, or `<ms>` (sequence 0), normalized to `<ms>-<seq>`. */
export function normalizeStreamId(id: string): string | undefined {
  const match = /^(\d{1,20})(?:-(\d{1,20}))?$/.exec(id);
  if (!match) return undefined;
  return `${BigInt(match[1]!)}-${BigInt(match[2] ?? '0')}`;
}

/** Orders two stream ids `<ms>-<seq>` (decimal, no leading zeros, as Redis writes them and `normalizeStreamId` makes them). */
export function compareIds(a: string, b: string): number {
  if (a === b) return 0;
  const dashA = a.indexOf('-');
  const dashB = b.indexOf('-');
  return compareDecimal(a, 0, dashA, b, 0, dashB) || compareDecimal(a, dashA + 1, a.length, b, dashB + 1, b.length);
}

/** Compares the decimal numbers a[aFrom, aTo) and b[bFrom, bTo) without slicing. */
function compareDecimal(a: string, aFrom: number, aTo: number, b: string, bFrom: number, bTo: number): number {
  const length = aTo - aFrom;
  if (length !== bTo - bFrom) return length - (bTo - bFrom);
  for (let i = 0; i < length; i++) {
    const difference = a.charCodeAt(aFrom + i) - b.charCodeAt(bFrom + i);
    if (difference !== 0) return difference;
  }
  return 0;
}

/** Freezes an event and everything in it (a JSON value: plain objects and arrays). */
function deepFreeze(value: unknown): void {
  if (typeof value !== 'object' || value === null || Object.isFrozen(value)) return;
  Object.freeze(value);
  for (const child of Object.values(value)) deepFreeze(child);
}
