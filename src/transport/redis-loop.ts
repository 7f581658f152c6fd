/**
 * A loop around one blocking Redis call (XREAD / XREADGROUP BLOCK) on its own
 * connection. Each successful step records the time it returned; since a
 * blocking call returns at least every BLOCK timeout, a loop whose last
 * return is older than about twice that is stuck (`stalled`), whatever PING
 * says. Failed steps back off (capped, reset on success); a step's error may
 * be repaired by `recover` (e.g. re-create a lost consumer group) and the loop
 * goes on. Stopping disconnects the connection and ends the loop at once,
 * without waiting for the call in flight: ioredis never settles a command
 * queued while it was reconnecting once its connection is disconnected (Redis
 * killed), nor one sent to a Redis that is stopped until its socket is
 * destroyed, and a shutdown must not wait on either.
 */
import type { Redis } from 'ioredis';
import { errorMessage } from '../errors.js';
import { backoffMs, type ReconnectPolicy } from '../redis/connection.js';

export interface BlockingLoopOptions {
  name: string;
  /** One iteration; must return within about one BLOCK timeout while Redis answers. */
  step: () => Promise<void>;
  /** Repairs after a failed step; returns true when the error was handled (no backoff). */
  recover?: (error: unknown) => Promise<boolean>;
  /** Backoff between failed steps. */
  retry: ReconnectPolicy;
  log: (message: string) => void;
  now?: () => number;
}

export class BlockingLoop {
  private lastReturnAt: number;
  private stopping = false;
  private running: Promise<void> | undefined;
  /** Resolves when stop() is called: every wait of the loop races it. */
  private readonly halted: Promise<void>;
  private halt!: () => void;
  private readonly now: () => number;

  constructor(
    private readonly connection: Redis,
    private readonly options: BlockingLoopOptions,
  ) {
    this.now = options.now ?? Date.now;
    this.lastReturnAt = this.now();
    this.halted = new Promise((resolve) => {
      this.halt = resolve;
    });
  }

  get name(): string {
    return this.options.name;
  }

  get isStopping(): boolean {
    return this.stopping;
  }

  /** Marks progress from inside a step that waits on something other than Redis. */
  touch(): void {
    this.lastReturnAt = this.now();
  }

  /** True when the loop has not returned from Redis for longer than `maxAgeMs`. */
  stalled(maxAgeMs: number): boolean {
    return this.now() - this.lastReturnAt > maxAgeMs;
  }

  start(): void {
    this.lastReturnAt = this.now();
    this.running ??= this.run();
  }

  /** Ends the loop; the call in flight is cut off by disconnecting and left behind. Idempotent. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.halt();
    this.connection.disconnect();
    await this.running;
  }

  /** Waits for `work` unless the loop is stopped first; a rejection left behind is swallowed. */
  private unlessHalted<T>(work: Promise<T>): Promise<T | undefined> {
    work.catch(() => undefined);
    return Promise.race([work, this.halted.then(() => undefined)]);
  }

  private async run(): Promise<void> {
    let failures = 0;
    while (!this.stopping) {
      try {
        await this.unlessHalted(this.options.step());
        if (this.stopping) break;
        this.touch();
        failures = 0;
      } catch (error) {
        if (this.stopping) break;
        const recovered = await this.recover(error);
        if (recovered) continue;
        failures += 1;
        const delay = backoffMs(failures, this.options.retry);
        this.options.log(`${this.options.name}: ${errorMessage(error)} (retrying in ${delay} ms)`);
        await this.sleep(delay);
      }
    }
  }

  private async recover(error: unknown): Promise<boolean> {
    if (!this.options.recover) return false;
    try {
      return (await this.unlessHalted(this.options.recover(error))) ?? false;
    } catch (repairError) {
      this.options.log(`${this.options.name}: recovery failed: ${errorMessage(repairError)}`);
      return false;
    }
  }

  private async sleep(ms: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([new Promise((resolve) => (timer = setTimeout(resolve, ms))), this.halted]);
    clearTimeout(timer);
  }
}
