/**
 * Riding out a short Redis outage (a restart, a failover) on the calls that
 * are safe to repeat, instead of failing them at once with a 503.
 *
 * Transient: the connection is down or was lost (ioredis's own errors and
 * socket errors), and the replies Redis gives while it cannot serve yet or
 * any more: LOADING (reading its data at start), TRYAGAIN, CLUSTERDOWN,
 * MASTERDOWN, READONLY (a replica after a failover), BUSY (a long script),
 * NOREPLICAS. Permanent: every other reply (WRONGTYPE, NOAUTH, WRONGPASS,
 * NOPERM, a script's own error; scripts are always sent as EVAL, so NOSCRIPT
 * does not occur) and our own `DraasError`s.
 *
 * Retried here: reads, and writes that are idempotent on their own (a
 * command carries its `commandId`, which workers run once). Not retried:
 * the store's writes (a repeat could land after a later write to the same
 * key, or twice: HSETNX, INCR), which fail with a 503 the client may retry;
 * the snapshot writer retries snapshots itself. The connection's own single
 * per-request retry (`maxRetriesPerRequest: 1`) stays below this bounded one.
 */
import { DraasError } from '../errors.js';
import { retry, type RetryPolicy } from '../resilience/retry.js';
import { isReplyError } from './connection.js';

/** Short: a client still gets its 503 quickly while Redis is down for longer (the reconnect backoff starts at 200 ms–1 s). */
export const redisRetryPolicy: RetryPolicy = { attempts: 8, baseMs: 50, maxDelayMs: 400, deadlineMs: 1_500 };

const transientReplies = ['LOADING', 'TRYAGAIN', 'CLUSTERDOWN', 'MASTERDOWN', 'READONLY', 'BUSY', 'NOREPLICAS'];
const socketCodes = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN']);
/** ioredis's messages for a connection that is not there (it has no error classes for them). */
const connectionMessages = /Connection is closed|Stream isn't writeable|max retries per request|Connection in subscriber mode|connect ETIMEDOUT/i;

/** Whether a failed Redis call may succeed when repeated shortly. Pure. */
export function isTransientRedisError(error: unknown): boolean {
  if (error instanceof DraasError || !(error instanceof Error)) return false;
  const { message, name } = error;
  if (isReplyError(error)) return transientReplies.some((prefix) => message.startsWith(`${prefix} `) || message === prefix);
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string' && socketCodes.has(code)) return true;
  return name === 'MaxRetriesPerRequestError' || connectionMessages.test(message);
}

/**
 * Runs a Redis call that is safe to repeat, again on transient failures with
 * jittered backoff, within `redisRetryPolicy` (its deadline shortened by
 * `deadlineMs` when given). The last failure is thrown as it was.
 */
export function retryRedis<T>(call: () => Promise<T>, options: { signal?: AbortSignal; deadlineMs?: number } = {}): Promise<T> {
  const policy = options.deadlineMs === undefined ? redisRetryPolicy : { ...redisRetryPolicy, deadlineMs: Math.min(redisRetryPolicy.deadlineMs, options.deadlineMs) };
  return retry(call, { policy, retryable: isTransientRedisError, ...(options.signal ? { signal: options.signal } : {}) });
}
