/**
 * Retrying a call that failed for a transient reason: exponential backoff
 * with full jitter (each delay drawn uniformly from 0 up to the capped
 * exponential step, so that many callers that failed together do not retry
 * together), bounded by a number of attempts and an overall deadline, and
 * abandoned at once when the caller's signal aborts.
 *
 * The policy is pure (`retryDelayMs`); `retry` runs it. Whether a failure is
 * worth retrying is the caller's classifier: only calls that are safe to
 * repeat (idempotent, or whose effect is checked before repeating) may be
 * retried, and a call inside something that already retries (ioredis's own
 * per-request retry, an informer's reconnect) should not be wrapped again.
 */
import { sleep } from '../time-bounds.js';

export interface RetryPolicy {
  /** Attempts in all, the first included (1: no retry). */
  attempts: number;
  /** The first backoff step; step n is `baseMs * 2^(n-1)`, capped at `maxDelayMs`. */
  baseMs: number;
  maxDelayMs: number;
  /** No attempt starts later than this after the first one began (a delay that would cross it is not waited). */
  deadlineMs: number;
}

export interface RetryOptions<E = unknown> {
  policy: RetryPolicy;
  /** Whether a failure may succeed when repeated. */
  retryable: (error: E) => boolean;
  /** A delay the failure itself asks for (e.g. HTTP `Retry-After`), waited instead of the backoff (never shortened). */
  delayHint?: (error: E) => number | undefined;
  signal?: AbortSignal;
  /** Told of each retry before its delay (for logs and counters). */
  onRetry?: (error: E, attempt: number, delayMs: number) => void;
  /** Injectable for tests. */
  clock?: () => number;
  random?: () => number;
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
}

/**
 * The delay before retry number `retry` (1 = the first retry): full jitter,
 * uniform in [0, min(maxDelayMs, baseMs * 2^(retry-1))]. `random` is in [0, 1). Pure.
 */
export function retryDelayMs(retry: number, policy: Pick<RetryPolicy, 'baseMs' | 'maxDelayMs'>, random: () => number = Math.random): number {
  const exponent = Math.min(Math.max(retry - 1, 0), 30);
  const step = Math.min(policy.maxDelayMs, policy.baseMs * 2 ** exponent);
  return Math.floor(random() * (step + 1));
}

function abortError(signal: AbortSignal): unknown {
  return signal.reason ?? new Error('aborted');
}


/**
 * Runs `call` until it succeeds, fails for good (not retryable), runs out
 * of attempts or of time: then the last failure is thrown as it was. An
 * abort of `signal` stops at once with the signal's reason. `call` gets the
 * attempt number (1-based).
 */
export async function retry<T, E = unknown>(call: (attempt: number) => Promise<T>, options: RetryOptions<E>): Promise<T> {
  const { policy, signal } = options;
  const clock = options.clock ?? Date.now;
  const random = options.random ?? Math.random;
  const wait = options.sleep ?? sleep;
  const began = clock();
  for (let attempt = 1; ; attempt++) {
    if (signal?.aborted) throw abortError(signal);
    try {
      return await call(attempt);
    } catch (error) {
      const failure = error as E;
      if (attempt >= policy.attempts || !options.retryable(failure)) throw error;
      const hint = options.delayHint?.(failure);
      // A delay the answer asks for is honoured as it is: when it would cross the deadline, the failure stands.
      const delay = hint !== undefined && Number.isFinite(hint) && hint >= 0 ? hint : retryDelayMs(attempt, policy, random);
      if (clock() + delay - began > policy.deadlineMs) throw error;
      options.onRetry?.(failure, attempt, delay);
      await wait(delay, signal);
      if (signal?.aborted) throw abortError(signal);
    }
  }
}
