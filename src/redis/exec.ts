/** Small helpers shared by the Redis transport's modules. */
import type { ChainableCommander } from 'ioredis';

/** Runs a MULTI; throws the first error of any of its commands (or of EXEC itself). */
export async function execChecked(transaction: ChainableCommander): Promise<unknown[]> {
  const replies = await transaction.exec();
  if (replies === null) throw new Error('transaction aborted');
  const results: unknown[] = [];
  for (const [error, result] of replies) {
    if (error) throw error;
    results.push(result);
  }
  return results;
}

/** A timer that can be cut short; resolves true when it ran its full time. */
export function pause(ms: number, signal?: { wake?: () => void }): Promise<boolean> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(true), ms);
    if (signal)
      signal.wake = () => {
        clearTimeout(timer);
        resolve(false);
      };
  });
}

/** Waits for all promises to settle, at most `ms`; true when they all settled in time. */
export async function settleWithin(promises: Iterable<Promise<unknown>>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      Promise.allSettled(promises).then(() => true),
      new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(false), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
