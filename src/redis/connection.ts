/**
 * ioredis connections for the Redis transport, and how their errors are told
 * apart. Two kinds of connection:
 *
 * - the **command** connection (one per transport) carries short commands on
 *   request paths. Its offline queue is off and it retries a command at most
 *   once, so while Redis is down a request fails at once with
 *   `DraasError('unavailable')` (503) instead of waiting for its timeout;
 * - **blocking** connections (one per loop: replies, each consumer, each
 *   subscription) run XREAD/XREADGROUP BLOCK. They keep their commands across
 *   reconnects (`maxRetriesPerRequest: null`), so a loop simply resumes when
 *   Redis is back.
 *
 * Both reconnect forever with capped exponential backoff; ioredis resets the
 * attempt count after each successful connection.
 *
 * Errors are classified by class: a `ReplyError` is an answer from Redis (a
 * real error, e.g. NOGROUP); every other error from a connection (closed,
 * not writeable, refused, max retries) means Redis is unreachable.
 */
import { Redis, ReplyError, type RedisOptions } from 'ioredis';
import { DraasError, errorMessage } from '../errors.js';
import { countRedisError, type RedisConnectionRole } from '../observability/metrics.js';

const ReplyErrorClass: abstract new (...args: never[]) => Error = ReplyError;

export interface ReconnectPolicy {
  /** First delay before reconnecting (default 1000 ms). */
  initialMs: number;
  /** Cap of the doubling delay (default 10000 ms). */
  maxMs: number;
}

export interface ConnectionSettings {
  url: string;
  reconnect: ReconnectPolicy;
  /** Bound on establishing one TCP connection. */
  connectTimeoutMs: number;
}

/** Capped exponential backoff: initial, 2×, 4×, … up to max. `attempt` counts from 1. */
export function backoffMs(attempt: number, policy: ReconnectPolicy): number {
  const exponent = Math.min(Math.max(attempt - 1, 0), 30);
  return Math.min(policy.initialMs * 2 ** exponent, policy.maxMs);
}

/** CLIENT SETNAME refuses spaces and newlines; names only help debugging (CLIENT LIST). */
function connectionName(name: string): string {
  return name.replace(/[^\w:.\-]/g, '_').slice(0, 200);
}

function baseOptions(settings: ConnectionSettings, name: string): RedisOptions {
  return {
    lazyConnect: true,
    connectionName: connectionName(name),
    connectTimeout: settings.connectTimeoutMs,
    retryStrategy: (attempt: number) => backoffMs(attempt, settings.reconnect),
  };
}

/** Every error event of the connection is counted in `draas_redis_errors_total{connection=role}`. */
function counted(redis: Redis, role: RedisConnectionRole): Redis {
  redis.on('error', () => countRedisError(role));
  return redis;
}

export function commandConnection(settings: ConnectionSettings, name: string, role: RedisConnectionRole): Redis {
  return counted(new Redis(settings.url, { ...baseOptions(settings, name), enableOfflineQueue: false, maxRetriesPerRequest: 1 }), role);
}

export function blockingConnection(settings: ConnectionSettings, name: string, role: RedisConnectionRole): Redis {
  return counted(new Redis(settings.url, { ...baseOptions(settings, name), enableOfflineQueue: true, maxRetriesPerRequest: null }), role);
}

/** The URL without its password, for messages. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return '(unparseable redis url)';
  }
}

/**
 * Starts a lazy connection and waits until it is ready, at most `timeoutMs`.
 * On timeout the connection is torn down and a 503 `DraasError` is thrown.
 */
export async function connectWithin(redis: Redis, url: string, timeoutMs: number): Promise<void> {
  if (redis.status === 'ready') return;
  let lastError: unknown;
  let failNow: ((error: Error) => void) | undefined;
  const onError = (error: unknown) => {
    lastError = error;
    // Retrying with the same credentials cannot succeed: say so now rather than at the timeout.
    if (isAuthError(error)) failNow?.(new DraasError('unavailable', `redis at ${redactUrl(url)} refused the credentials: ${errorMessage(error)} (check the user and password of the URL)`));
  };
  redis.on('error', onError);
  try {
    await new Promise<void>((resolve, reject) => {
      failNow = (error) => {
        clearTimeout(timer);
        redis.off('ready', onReady);
        reject(error);
      };
      const timer = setTimeout(() => {
        redis.off('ready', onReady);
        reject(
          new DraasError(
            'unavailable',
            `redis unreachable at ${redactUrl(url)}: not ready within ${timeoutMs} ms` +
              (lastError === undefined ? '' : ` (${errorMessage(lastError)})`),
          ),
        );
      }, timeoutMs);
      const onReady = () => {
        clearTimeout(timer);
        resolve();
      };
      redis.once('ready', onReady);
      // The first failure rejects connect(); ioredis keeps retrying on its own.
      if (redis.status === 'wait') redis.connect().catch(() => undefined);
    });
  } catch (error) {
    redis.disconnect();
    throw error;
  } finally {
    redis.off('error', onError);
  }
}

/**
 * Redis refused the connection's credentials (a wrong password, an unknown or
 * disabled ACL user, none given): a reply whose error code — the first word,
 * by the protocol — says so (Redis before 6 answered `ERR invalid password`).
 */
export function isAuthError(error: unknown): boolean {
  if (!isReplyError(error)) return false;
  const code = error.message.split(' ', 1)[0];
  return code === 'WRONGPASS' || code === 'NOAUTH' || code === 'NOPERM' || error.message.startsWith('ERR invalid password') || error.message.startsWith('ERR AUTH');
}

/** An error Redis answered with (as opposed to a connection failure). */
export function isReplyError(error: unknown): error is Error {
  return error instanceof ReplyErrorClass;
}

/** The consumer group (or its stream) is gone, e.g. after Redis restarted without its data. */
export function isNoGroupError(error: unknown): boolean {
  return isReplyError(error) && error.message.startsWith('NOGROUP');
}

/**
 * Maps a failure of a Redis command to what a caller of the transport sees:
 * connection failures become `DraasError('unavailable')` (503, retryable);
 * DraasErrors pass through; Redis reply errors are bugs and pass through too.
 */
export function toTransportError(error: unknown, url: string, what: string): Error {
  if (error instanceof DraasError) return error;
  if (isReplyError(error)) return error;
  return new DraasError('unavailable', `redis unreachable at ${redactUrl(url)} (${what}): ${errorMessage(error)}`, {}, { cause: error });
}

/** Closes a connection politely (QUIT), falling back to a hard disconnect. Never throws. */
export async function quitConnection(redis: Redis, timeoutMs = 1_000): Promise<void> {
  if (redis.status === 'end') return;
  if (redis.status !== 'ready') {
    redis.disconnect();
    return;
  }
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      redis.quit(),
      new Promise((resolve) => {
        timer = setTimeout(resolve, timeoutMs);
      }),
    ]);
  } catch {
    // Closing anyway.
  } finally {
    clearTimeout(timer);
    redis.disconnect();
  }
}
