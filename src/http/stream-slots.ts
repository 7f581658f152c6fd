/**
 * A ceiling on long-lived responses of one kind (SSE streams, followed logs).
 * Each holds a socket — an open file — for as long as its client likes; a
 * flood of them would run the process out of files. Past the ceiling a client
 * gets 503 `too-many-streams` with a Retry-After; a slot is given back when
 * its response closes, whether it ended or the client went away.
 */
import type { Context } from 'koa';
import { DraasError } from '../errors.js';

/** What a refused client is told to wait before trying again (seconds). */
const RETRY_AFTER_SECONDS = 5;

export class StreamSlots {
  private held = 0;

  /**
   * `what` names the streams in the refusal ("SSE clients"); `option` the
   * setting that raises the ceiling.
   */
  constructor(
    readonly limit: number,
    private readonly what: string,
    private readonly option: string,
  ) {}

  /** Streams open now. */
  get open(): number {
    return this.held;
  }

  /** Takes a slot for this response until it closes; throws 503 when none is free. */
  hold(ctx: Context): void {
    if (this.held >= this.limit) {
      throw new DraasError(
        'too-many-streams',
        `${this.held} ${this.what} are open, the most this server keeps (${this.option}); retry in ${RETRY_AFTER_SECONDS} s`,
        { limit: this.limit, retryAfterSeconds: RETRY_AFTER_SECONDS },
      );
    }
    this.held += 1;
    // 'close' comes once per response: after it was sent in full, or when its connection went away.
    ctx.res.once('close', () => {
      this.held -= 1;
    });
  }
}
