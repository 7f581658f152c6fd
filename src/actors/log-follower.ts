/**
 * Following an instance's log: the tail, then whatever comes after it, by
 * polling a cursor read (`PlatformDriver.readLogs`) through whatever path
 * the caller gives, so it works wherever a request does (another replica,
 * Redis). No I/O of its own but the pause between polls.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { isDraasError } from '../errors.js';
import type { LogRead } from '../platforms/driver.js';

export interface FollowLogOptions {
  /** The instance, for the final line. */
  instanceId: string;
  /** Lines of the existing log to start with (0: only new ones). */
  tail: number;
  /** Pause between two reads. */
  pollMs: number;
  /** Ends the stream at once (the client went away). */
  signal?: AbortSignal;
}

/** One cursor read: the newest `tail` lines when `after` is null, else the lines after it. */
export type CursorRead = (tail: number, after: string | null, signal: AbortSignal | undefined) => Promise<LogRead>;

export function deletedMarker(instanceId: string): string {
  return `— instance "${instanceId}" was deleted —`;
}

/**
 * The lines as they come. The first read's errors (e.g. not found) are
 * thrown; later, a deleted instance ends the stream with a final line, and
 * passing faults (no live worker, timeouts, an owner changing) are polled
 * through: the cursor keeps the place.
 */
export async function* followLog(read: CursorRead, options: FollowLogOptions): AsyncGenerator<string, void, undefined> {
  const { signal } = options;
  let { lines, cursor } = await read(options.tail, null, signal);
  yield* lines;
  while (!signal?.aborted) {
    await sleep(options.pollMs, undefined, signal ? { signal } : {}).catch(() => undefined);
    if (signal?.aborted) return;
    try {
      ({ lines, cursor } = await read(0, cursor, signal));
    } catch (error) {
      if (signal?.aborted) return;
      if (isDraasError(error) && error.code === 'not-found') {
        yield deletedMarker(options.instanceId);
        return;
      }
      if (isDraasError(error) && error.retryable) continue;
      throw error;
    }
    yield* lines;
  }
}
