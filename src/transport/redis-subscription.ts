/**
 * One subscription to a topic's event stream: its own connection and a loop
 * reading with XREAD BLOCK from the last id it delivered. After a reconnect
 * it resumes from that id, so it misses nothing still in the (capped) stream.
 * Events are delivered in stream order, one at a time; a throwing listener
 * is logged and does not stop the subscription.
 */
import type { Redis } from 'ioredis';
import { errorMessage } from '../errors.js';
import { decodeEvent, parseEntries, parseReadReply } from './redis-codec.js';
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

export class RedisSubscription implements Closeable {
  private readonly loop: BlockingLoop;
  private closing: Promise<void> | undefined;
  private position: string;

  constructor(
    private readonly connection: Redis,
    private readonly key: string,
    private readonly listener: EventListener,
    private readonly settings: { blockMs: number; retry: ReconnectPolicy; log: (message: string) => void; onClosed: () => void },
  ) {
    this.position = '0-0';
    this.loop = new BlockingLoop(connection, {
      name: `subscription ${key}`,
      step: () => this.step(),
      retry: settings.retry,
      log: settings.log,
    });
  }

  /** The id of the last event delivered (or the start position): pass it as `after` to resume. */
  get lastId(): string {
    return this.position;
  }

  /** Fixes the start position (the newest entry now, unless `after` is given) and starts reading. */
  async start(options: SubscribeOptions = {}): Promise<void> {
    if (options.after !== undefined) {
      this.position = options.after;
    } else {
      const [newest] = parseEntries(await this.connection.xrevrange(this.key, '+', '-', 'COUNT', 1));
      this.position = newest?.id ?? '0-0';
    }
    this.loop.start();
  }

  stalled(maxAgeMs: number): boolean {
    return this.loop.stalled(maxAgeMs);
  }

  close(): Promise<void> {
    this.closing ??= this.loop.stop().then(() => this.settings.onClosed());
    return this.closing;
  }

  private async step(): Promise<void> {
    const reply = await this.connection.call(
      'XREAD', 'COUNT', READ_BATCH, 'BLOCK', this.settings.blockMs, 'STREAMS', this.key, this.position,
    );
    for (const entry of parseReadReply(reply)) {
      if (this.loop.isStopping) return;
      this.position = entry.id;
      const event = decodeEvent(entry);
      if (!event) {
        this.settings.log(`subscription ${this.key}: skipped malformed entry ${entry.id}`);
        continue;
      }
      try {
        this.listener(event);
      } catch (error) {
        this.settings.log(`subscription ${this.key}: listener failed on ${entry.id}: ${errorMessage(error)}`);
      }
    }
  }
}
