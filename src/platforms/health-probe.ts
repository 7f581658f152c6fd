import { isIP } from 'node:net';
import { timedFetch, type TimedFetchOptions } from './timed-fetch.js';
import { sleep } from '../time-bounds.js';

export interface HealthProbeOptions {
  /** E.g. `http://127.0.0.1:18081/health`. */
  url: string;
  /** Give up after this long (measured with `clock`). */
  timeoutMs: number;
  /**
   * Longest pause between attempts. Default 100 ms. The pause grows with the
   * time already waited (a twentieth of it) from `firstIntervalMs` up to this, so
   * a server that became healthy after t ms is seen at most about t/20 later
   * (a fast start is not rounded up to a whole interval), while a slow start
   * is still probed no more often than every `intervalMs`.
   */
  intervalMs?: number;
  /** Pause after the first attempts. Default 20 ms (never more than `intervalMs`). */
  firstIntervalMs?: number;
  /** Longest a single request may take. Default 2 s (and never past the deadline). */
  attemptTimeoutMs?: number;
  /** Stops the probe at once; the outcome is then `aborted`. */
  signal?: AbortSignal;
  clock?: () => number;
  /**
   * Asked after each 200: a reason to keep waiting (e.g. "the port is answered
   * by another process"), or undefined to accept the answer.
   */
  verify?: () => Promise<string | undefined>;
}

export type HealthProbeOutcome =
  | { healthy: true; attempts: number }
  | { healthy: false; reason: 'timeout' | 'aborted'; attempts: number; lastError: string | undefined };

export interface HealthCheck {
  ok: boolean;
  status?: number;
  error?: string;
  /** The request got no answer within its time limit. */
  timedOut?: boolean;
}

/** One `GET` of the health URL: ok when it answers 200. Never throws. */
export async function checkHealth(url: string, options: TimedFetchOptions): Promise<HealthCheck> {
  // Always consume the body so the connection is released.
  const outcome = await timedFetch(url, {}, options, (response) => response.arrayBuffer());
  if (!outcome.answered) return { ok: false, error: outcome.detail, ...(outcome.reason === 'timeout' ? { timedOut: true } : {}) };
  return outcome.status === 200 ? { ok: true, status: 200 } : { ok: false, status: outcome.status, error: `HTTP ${outcome.status}` };
}

/**
 * Polls `GET <url>` until it answers 200, the deadline passes or the signal
 * aborts. Never throws: the outcome says which.
 */
export async function waitForHealthy(options: HealthProbeOptions): Promise<HealthProbeOutcome> {
  const clock = options.clock ?? Date.now;
  const intervalMs = options.intervalMs ?? 100;
  const firstIntervalMs = Math.min(intervalMs, options.firstIntervalMs ?? 20);
  const attemptTimeoutMs = options.attemptTimeoutMs ?? 2_000;
  const began = clock();
  const deadline = began + Math.max(0, options.timeoutMs);
  let attempts = 0;
  let lastError: string | undefined;
  for (;;) {
    if (options.signal?.aborted) return { healthy: false, reason: 'aborted', attempts, lastError };
    const remaining = deadline - clock();
    if (remaining <= 0) return { healthy: false, reason: 'timeout', attempts, lastError };
    attempts++;
    const clipped = remaining < attemptTimeoutMs;
    const check = await checkHealth(options.url, {
      timeoutMs: Math.min(attemptTimeoutMs, remaining),
      ...(options.signal ? { signal: options.signal } : {}),
    });
    if (check.ok) {
      const objection = options.verify ? await options.verify() : undefined;
      if (objection === undefined) return { healthy: true, attempts };
      lastError = objection;
    } else if (!(check.timedOut && clipped && lastError !== undefined)) {
      // (An attempt cut short by the deadline says less than the one before it.)
      lastError = check.error;
    }
    if (options.signal?.aborted) return { healthy: false, reason: 'aborted', attempts, lastError };
    const now = clock();
    const pause = Math.min(Math.max(firstIntervalMs, Math.min(intervalMs, (now - began) / 20)), deadline - now);
    if (pause > 0) await sleep(pause, options.signal);
  }
}

/**
 * The host to probe for a server configured to listen on `host`: loopback for
 * the wildcard addresses (and for anything unresolved such as a `${VAR}`),
 * otherwise the host itself (IPv6 literals bracketed).
 */
export function probeHost(host: unknown): string {
  if (typeof host !== 'string' || host === '' || host === '0.0.0.0' || host === '::' || host.includes('${')) return '127.0.0.1';
  return isIP(host) === 6 ? `[${host}]` : host;
}


