/**
 * Waiting with a bound: what shutdown paths use so that no dependency (a
 * Redis that accepts connections but never answers) can hold them forever.
 */

export type Bounded<T> = { settled: true; result: PromiseSettledResult<T> } | { settled: false };

/** Waits for `promise` at most `ms` (never rejects): its outcome, or `settled: false` when the time ran out. */
export async function within<T>(promise: Promise<T>, ms: number): Promise<Bounded<T>> {
  let timer: NodeJS.Timeout | undefined;
  const outcome = promise.then(
    (value): Bounded<T> => ({ settled: true, result: { status: 'fulfilled', value } }),
    (reason: unknown): Bounded<T> => ({ settled: true, result: { status: 'rejected', reason } }),
  );
  try {
    return await Promise.race([
      outcome,
      new Promise<Bounded<T>>((resolve) => {
        timer = setTimeout(() => resolve({ settled: false }), Math.max(0, ms));
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** Resolves after `ms`, or at once when `signal` aborts (never rejects). */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) {
      resolve();
      return;
    }
    const done = (): void => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}

/** Why a bounded wait did not succeed, for a log line. */
export function failureOf(bounded: Bounded<unknown>, ms: number): string | undefined {
  if (!bounded.settled) return `no answer within ${ms} ms`;
  if (bounded.result.status === 'rejected') {
    const reason = bounded.result.reason;
    return reason instanceof Error ? reason.message : String(reason);
  }
  return undefined;
}
