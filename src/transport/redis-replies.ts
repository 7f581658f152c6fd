/**
 * The reply inbox of one transport: a stream `<p>replies:<nodeId>` that
 * consumers append replies to (and refresh its expiry, so an abandoned inbox
 * vanishes), read by one loop with XREAD BLOCK from the last id it saw. A
 * reply written while this node's connection is down stays in the stream and
 * is read after the reconnect; a reply nobody waits for any more (its request
 * timed out or was aborted) is dropped.
 */
import type { Redis } from 'ioredis';
import type { ReplyEnvelope } from './envelope.js';
import { decodeReply, parseEntries, parseReadReply } from './redis-codec.js';
import type { ReconnectPolicy } from '../redis/connection.js';
import { BlockingLoop } from './redis-loop.js';

const READ_BATCH = 100;

export class ReplyInbox {
  private readonly waiting = new Map<string, (reply: ReplyEnvelope) => void>();
  private readonly loop: BlockingLoop;
  private lastId = '0-0';

  constructor(
    private readonly connection: Redis,
    readonly key: string,
    private readonly settings: { blockMs: number; retry: ReconnectPolicy; log: (message: string) => void },
  ) {
    this.loop = new BlockingLoop(connection, {
      name: `reply inbox ${key}`,
      step: () => this.step(),
      retry: settings.retry,
      log: settings.log,
    });
  }

  /** Starts after the newest reply already in the stream (left by an earlier life of this node id). */
  async start(): Promise<void> {
    const [newest] = parseEntries(await this.connection.xrevrange(this.key, '+', '-', 'COUNT', 1));
    if (newest) this.lastId = newest.id;
    this.loop.start();
  }

  stop(): Promise<void> {
    return this.loop.stop();
  }

  stalled(maxAgeMs: number): boolean {
    return this.loop.stalled(maxAgeMs);
  }

  /** Routes the reply for `requestId` to `settle`, until `forget`. */
  expect(requestId: string, settle: (reply: ReplyEnvelope) => void): void {
    this.waiting.set(requestId, settle);
  }

  forget(requestId: string): void {
    this.waiting.delete(requestId);
  }

  private async step(): Promise<void> {
    const reply = await this.connection.call(
      'XREAD', 'COUNT', READ_BATCH, 'BLOCK', this.settings.blockMs, 'STREAMS', this.key, this.lastId,
    );
    for (const entry of parseReadReply(reply)) {
      this.lastId = entry.id;
      const decoded = decodeReply(entry);
      if (!decoded) {
        this.settings.log(`reply inbox ${this.key}: dropped malformed entry ${entry.id}`);
        continue;
      }
      const settle = this.waiting.get(decoded.requestId);
      if (!settle) continue; // late: its request timed out or was aborted
      this.waiting.delete(decoded.requestId);
      settle(decoded.reply);
    }
  }
}
