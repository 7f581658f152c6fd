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
 * attempt count after each successful connection. The connections of this
 * process to one Redis reconnect together (see `joinPeers`): a connection
 * asleep in its backoff tries again as soon as Redis is seen back, instead
 * of up to its cap later.
 *
 * Errors are classified by class: a `ReplyError` is an answer from Redis (a
 * real error, e.g. NOGROUP); every other error from a connection (closed,
 * not writeable, refused, max retries) means Redis is unreachable.
 */
import { connect as tcpConnect } from 'node:net';
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

/**
 * A connection for commands that answer at once. Commands issued in the same
 * tick go out in one write (auto-pipelining): on loopback a socket write costs
 * more CPU than the command it carries, and concurrent instances' writes
 * share a tick. Order on the connection is kept.
 */
export function commandConnection(settings: ConnectionSettings, name: string, role: RedisConnectionRole): Redis {
  const options: RedisOptions = { ...baseOptions(settings, name), enableOfflineQueue: false, maxRetriesPerRequest: 1, enableAutoPipelining: true };
  return joinPeers(counted(new Redis(settings.url, options), role), settings.url);
}

export function blockingConnection(settings: ConnectionSettings, name: string, role: RedisConnectionRole): Redis {
  return joinPeers(counted(new Redis(settings.url, { ...baseOptions(settings, name), enableOfflineQueue: true, maxRetriesPerRequest: null }), role), settings.url);
}

// ---------------------------------------------------------------- reconnecting together

/** While a connection of a Redis is reconnecting, how often its address is tried with a bare TCP connect. */
export const OUTAGE_PROBE_MS = 200;

/** The connections of this process to one Redis URL, and the watch over an outage of it. */
interface Peers {
  readonly connections: Set<Redis>;
  /** Where a bare TCP connect tells that Redis accepts connections again; undefined when the URL names none (no probing then). */
  readonly address: { host: string; port: number } | undefined;
  watch?: NodeJS.Timeout;
  probing: boolean;
}

const peersByUrl = new Map<string, Peers>();

/**
 * Each connection backs off on its own, which spares a Redis that is down but
 * leaves the connection asleep for up to its cap (seconds) after Redis is
 * back. So while any connection of a URL is reconnecting, one bare TCP
 * connect to its address is tried every `OUTAGE_PROBE_MS`; when one is
 * accepted, a single connection (the scout) tries at once, and when any
 * connection is ready again every other one still asleep tries at once. Only
 * when to try is changed: the backoff, the commands and their retries are
 * the connections' own. A Redis that is down sees one TCP connect per
 * process per probe interval besides the connections' own attempts; one
 * that accepts TCP but refuses clients (maxclients) at most one extra
 * connection attempt per interval, from the scout.
 */
function joinPeers(redis: Redis, url: string): Redis {
  let peers = peersByUrl.get(url);
  if (!peers) {
    peers = { connections: new Set(), address: redisAddress(url), probing: false };
    peersByUrl.set(url, peers);
  }
  const group = peers;
  group.connections.add(redis);
  redis.on('reconnecting', () => watchOutage(group));
  redis.on('ready', () => {
    for (const peer of group.connections) if (peer !== redis) reconnectNow(peer);
  });
  redis.once('end', () => {
    group.connections.delete(redis);
    if (group.connections.size > 0) return;
    clearInterval(group.watch);
    group.watch = undefined;
    if (peersByUrl.get(url) === group) peersByUrl.delete(url);
  });
  return redis;
}

function watchOutage(group: Peers): void {
  if (group.watch !== undefined || group.address === undefined) return;
  const address = group.address;
  group.watch = setInterval(() => {
    if (![...group.connections].some(asleep)) {
      clearInterval(group.watch);
      group.watch = undefined;
      return;
    }
    if (group.probing) return;
    group.probing = true;
    void acceptsTcp(address, OUTAGE_PROBE_MS).then((accepted) => {
      group.probing = false;
      const scout = [...group.connections].find(asleep);
      if (accepted && scout) reconnectNow(scout);
    });
  }, OUTAGE_PROBE_MS);
  group.watch.unref();
}

/** ioredis 5 keeps the timer of a connection's next attempt here (a private field). */
interface PendingReconnect {
  reconnectTimeout?: NodeJS.Timeout | null;
}

/**
 * Waiting out its backoff: reconnecting with a timer set. (A connection closed
 * while it reconnected has its timer cleared, and may still say reconnecting.)
 */
function asleep(redis: Redis): boolean {
  return redis.status === 'reconnecting' && Boolean((redis as unknown as PendingReconnect).reconnectTimeout);
}

/**
 * Makes a connection that waits out its backoff try now, as its timer would
 * (which is cleared first: left to fire, it could reopen the connection after
 * a close). Nothing happens when the timer is not where ioredis 5 keeps it.
 */
function reconnectNow(redis: Redis): void {
  if (!asleep(redis)) return;
  const pending = redis as unknown as PendingReconnect;
  if (!pending.reconnectTimeout) return;
  clearTimeout(pending.reconnectTimeout);
  pending.reconnectTimeout = null;
  redis.connect().catch(() => undefined);
}

/** Host and port of a `redis://` or `rediss://` URL (port 6379 by default); undefined for anything else. */
export function redisAddress(url: string): { host: string; port: number } | undefined {
  try {
    const parsed = new URL(url);
    if ((parsed.protocol !== 'redis:' && parsed.protocol !== 'rediss:') || parsed.hostname === '') return undefined;
    const host = parsed.hostname.startsWith('[') ? parsed.hostname.slice(1, -1) : parsed.hostname;
    return { host, port: parsed.port === '' ? 6379 : Number(parsed.port) };
  } catch {
    return undefined;
  }
}

/** Whether a TCP connection to the address is accepted within `timeoutMs` (closed at once). Never rejects. */
function acceptsTcp(address: { host: string; port: number }, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = tcpConnect({ host: address.host, port: address.port });
    const done = (accepted: boolean) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(accepted);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
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
      (async () => {
        // QUIT skips the auto-pipeline queue: a PING joins it, so what was issued before is sent (and answered) first.
        await redis.ping().catch(() => undefined);
        await redis.quit();
      })(),
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
