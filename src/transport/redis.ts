/**
 * The Redis transport (for a cluster of DRaaS nodes), on ioredis. Key layout: `redis-keys.ts`.
 *
 * - **Commands** go to one stream per queue with one consumer group; each
 *   `consume()` is a consumer with a unique name on its own blocking
 *   connection. Delivery, acknowledgement, reclaim and dead-letter rules are
 *   documented in `redis-consumer.ts`; in short: at-least-once, XACK after
 *   the reply is written, a `DraasError` from a handler is an error reply, any
 *   other error is a crash that is retried until `maxDeliveries`, then the
 *   command is dead-lettered and its requester gets a `worker-error` reply.
 * - **Replies** go to the requester's own reply stream (`redis-replies.ts`),
 *   correlated by a per-request id; a reply after the timeout is dropped. A
 *   consumer writes the replies of the commands it finished during one tick,
 *   with their acknowledgements, in one script call (`redis-scripts.ts`).
 * - **Batching**: requests, sends and publishes made during one tick go to
 *   Redis in one pipelined write (`redis-batch.ts`), in the order made.
 * - **Events** go to a capped stream per topic (XADD MAXLEN ~); the
 *   subscriptions of one transport to a topic share one reader that reads it
 *   from the oldest of their last ids and hands each event to each of them
 *   (`redis-subscription.ts`). No Pub/Sub.
 * - **Presence**: `redis-presence.ts`.
 * - **Connections**: `redis-connection.ts`. Requests, publishes and presence
 *   fail at once with `DraasError('unavailable')` (503) while Redis is down;
 *   loops wait and resume by themselves when it is back.
 *
 * Needs Redis >= 6.2 (XPENDING … IDLE); tested with Redis 7.
 *
 * Deliberately left out: Redis Cluster (the MULTIs and scripts span several keys, which
 * would need hash tags), Pub/Sub fast paths, trimming of command streams
 * (entries are deleted once acknowledged, so a stream only holds work not
 * yet done), detecting that a subscriber's position was trimmed away from an
 * event stream, and pruning consumers of crashed processes from the group
 * (they are harmless once their entries are taken; a consumer that closes
 * cleanly removes itself).
 */
import { hostname } from 'node:os';
import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { DraasError, WorkerTimeoutError, errorMessage } from '../errors.js';
import { deserializeError, type CommandEnvelope, type EventEnvelope } from './envelope.js';
import { encodeCommand, encodeEvent, parseEntries } from './redis-codec.js';
import {
  blockingConnection,
  commandConnection,
  connectWithin,
  quitConnection,
  redactUrl,
  toTransportError,
  type ConnectionSettings,
  type ReconnectPolicy,
} from '../redis/connection.js';
import { RedisConsumer } from './redis-consumer.js';
import { settleWithin } from '../redis/exec.js';
import { COMMAND_GROUP, DEFAULT_PREFIX, RedisKeys } from '../redis/keys.js';
import { RedisPresence } from './redis-presence.js';
import { isTransientRedisError, retryRedis } from '../redis/transient.js';
import { TickPipeline } from './redis-batch.js';
import { ReplyInbox } from './redis-replies.js';
import { normalizeStreamId, TopicReader, type RedisSubscription, type SubscribeOptions } from './redis-subscription.js';
import { queues, type Closeable, type CommandHandler, type ConsumeOptions, type EventListener, type QueueStats, type RequestOptions, type Transport } from './transport.js';
import { logAt, toLogger, type LogOption, type Logger } from '../observability/logger.js';

export { RedisSubscription, type SubscribeOptions } from './redis-subscription.js';

export interface RedisTransportOptions {
  /** `redis://[user:password@]host:port[/db]`. */
  url: string;
  /** Prefix of every key (default `draas:`). */
  prefix?: string;
  /** Names this node's reply stream; unique per running transport (default: host, pid and a random suffix). */
  nodeId?: string;
  /** A pending command idle this long is taken from its (dead) consumer (default 30 000 ms). */
  claimIdleMs?: number;
  /** Deliveries before a command is dead-lettered (default 5). */
  maxDeliveries?: number;
  /** After a handler crash, the command is redelivered after this delay (default 1 000 ms, at most claimIdleMs). */
  retryDelayMs?: number;
  /** BLOCK timeout of every blocking read; health requires each loop to return within twice this (default 2 000 ms). */
  blockMs?: number;
  /** Approximate cap of each event stream (default 10 000). */
  eventStreamMaxLen?: number;
  /** Handlers one consumer runs at the same time (default 16). */
  concurrency?: number;
  /** How long a consumer's close() waits for running handlers (default 5 000 ms). */
  shutdownGraceMs?: number;
  /** A reply stream expires this long after its last reply (default 10 min). */
  replyTtlMs?: number;
  /** Bound on connecting (createRedisTransport, consume, subscribe) (default 5 000 ms). */
  connectTimeoutMs?: number;
  /** Reconnect backoff (default 1 000 ms doubling to 10 000 ms). */
  reconnect?: Partial<ReconnectPolicy>;
  /** Where the transport logs: a `Logger`, or a function that takes each message (info and above). */
  log?: LogOption;
}

interface Loop {
  stalled(maxAgeMs: number): boolean;
}

/** A topic's reader and the connecting of its connection. */
interface OpeningReader {
  value: TopicReader;
  opened: Promise<void>;
}

export class RedisTransport implements Transport {
  readonly presence: RedisPresence;
  readonly keys: RedisKeys;
  readonly nodeId: string;
  private readonly commands: Redis;
  /** The command connection, for the commands of hot paths: those of one tick go in one write. */
  private readonly batch: TickPipeline;
  private readonly replies: Redis;
  private readonly inbox: ReplyInbox;
  private readonly consumers = new Set<RedisConsumer>();
  /** One shared reader per subscribed topic. */
  private readonly readers = new Map<string, OpeningReader>();
  private readonly pending = new Map<string, (error: Error) => void>();
  private readonly connection: ConnectionSettings;
  private readonly logger: Logger;
  /** Its consumers' and subscriptions' problems, at warn. */
  private readonly log: (message: string) => void;
  private readonly blockMs: number;
  private readonly claimIdleMs: number;
  private readonly maxDeliveries: number;
  private readonly retryDelayMs: number;
  private readonly eventStreamMaxLen: number;
  private readonly concurrency: number;
  private readonly shutdownGraceMs: number;
  private readonly replyTtlMs: number;
  private closing: Promise<void> | undefined;
  private consumerCount = 0;
  /** Request ids: unique to this transport object (random), then a counter, so a late reply to an earlier life of the same nodeId never matches. */
  private readonly requestPrefix = `${randomUUID()}:`;
  private requestCount = 0;

  constructor(options: RedisTransportOptions) {
    this.keys = new RedisKeys(options.prefix ?? DEFAULT_PREFIX);
    this.nodeId = options.nodeId ?? `${hostname()}-${process.pid}-${randomUUID().slice(0, 8)}`;
    this.logger = toLogger(options.log);
    this.log = logAt(this.logger, 'warn');
    this.blockMs = positive(options.blockMs, 2_000, 'blockMs');
    this.claimIdleMs = positive(options.claimIdleMs, 30_000, 'claimIdleMs');
    this.maxDeliveries = positive(options.maxDeliveries, 5, 'maxDeliveries');
    this.retryDelayMs = Math.min(positive(options.retryDelayMs, 1_000, 'retryDelayMs'), this.claimIdleMs);
    this.eventStreamMaxLen = positive(options.eventStreamMaxLen, 10_000, 'eventStreamMaxLen');
    this.concurrency = positive(options.concurrency, 16, 'concurrency');
    this.shutdownGraceMs = Math.max(0, options.shutdownGraceMs ?? 5_000);
    this.replyTtlMs = positive(options.replyTtlMs, 600_000, 'replyTtlMs');
    this.connection = {
      url: options.url,
      connectTimeoutMs: positive(options.connectTimeoutMs, 5_000, 'connectTimeoutMs'),
      reconnect: {
        initialMs: positive(options.reconnect?.initialMs, 1_000, 'reconnect.initialMs'),
        maxMs: positive(options.reconnect?.maxMs, 10_000, 'reconnect.maxMs'),
      },
    };
    this.commands = this.watch(commandConnection(this.connection, `draas:${this.nodeId}:commands`, 'transport-commands'), 'command connection');
    this.batch = new TickPipeline(this.commands);
    this.presence = new RedisPresence(this.commands, this.keys, options.url);
    this.replies = this.watch(blockingConnection(this.connection, `draas:${this.nodeId}:replies`, 'transport-blocking'), 'reply connection');
    this.inbox = new ReplyInbox(
      this.replies,
      this.keys.replies(this.nodeId),
      { blockMs: this.blockMs, retry: this.connection.reconnect, log: this.log },
    );
  }

  /** Connects and starts the reply loop; fails with a 503 `DraasError` if Redis is not ready within `connectTimeoutMs`. */
  async connect(): Promise<void> {
    try {
      await connectWithin(this.commands, this.connection.url, this.connection.connectTimeoutMs);
      await connectWithin(this.replies, this.connection.url, this.connection.connectTimeoutMs);
      await this.inbox.start();
    } catch (error) {
      await this.close();
      throw toTransportError(error, this.connection.url, 'connect');
    }
  }

  request(queue: string, command: CommandEnvelope, options: RequestOptions): Promise<unknown> {
    if (this.closing) return Promise.reject(new DraasError('unavailable', 'the Redis transport is closed'));
    if (options.signal?.aborted) return Promise.reject(abortReason(options.signal));
    const requestId = `${this.requestPrefix}${(++this.requestCount).toString(36)}`;
    let fields: string[];
    try {
      fields = encodeCommand({ command, requestId, replyTo: this.inbox.key });
    } catch (error) {
      return Promise.reject(new DraasError('bad-request', `the command is not JSON-serializable: ${errorMessage(error)}`));
    }
    return new Promise((resolve, reject) => {
      const signal = options.signal;
      let done = false;
      // Created only once the first XADD failed for a transient reason: it ends the retries once the request is over.
      let over: AbortController | undefined;
      const finish = (settle: () => void) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        this.inbox.forget(requestId);
        this.pending.delete(requestId);
        over?.abort();
        settle();
      };
      const timer = setTimeout(() => finish(() => reject(new WorkerTimeoutError(queue, options.timeoutMs))), options.timeoutMs);
      const onAbort = () => finish(() => reject(abortReason(signal)));
      signal?.addEventListener('abort', onAbort, { once: true });
      this.pending.set(requestId, (error) => finish(() => reject(error)));
      this.inbox.expect(requestId, (reply) =>
        finish(() => (reply.ok ? resolve(reply.result) : reject(deserializeError(reply.error)))),
      );
      const failed = (error: unknown) => finish(() => reject(toTransportError(error, this.connection.url, `request on "${queue}"`)));
      const xadd = () => this.batch.call('XADD', [this.keys.commandStream(queue), '*', ...fields]);
      xadd().catch((error: unknown) => {
        if (done) return;
        if (!isTransientRedisError(error)) {
          failed(error);
          return;
        }
        // Repeated through a short outage: a command that lands twice is run once (workers key outcomes by commandId).
        // The first failure is handed to the retry as its first attempt, so the policy's attempts and delays are unchanged.
        over = new AbortController();
        let first: Promise<unknown> | undefined = Promise.reject(error);
        retryRedis(() => {
          const attempt = first ?? xadd();
          first = undefined;
          return attempt;
        }, { signal: over.signal, deadlineMs: options.timeoutMs }).catch(failed);
      });
    });
  }

  async send(queue: string, command: CommandEnvelope): Promise<void> {
    this.assertOpen();
    let fields: string[];
    try {
      fields = encodeCommand({ command, requestId: '', replyTo: '' });
    } catch (error) {
      throw new DraasError('bad-request', `the command is not JSON-serializable: ${errorMessage(error)}`);
    }
    try {
      // Repeated through a short outage, like a request's: a duplicate runs once.
      await retryRedis(() => this.batch.call('XADD', [this.keys.commandStream(queue), '*', ...fields]));
    } catch (error) {
      throw toTransportError(error, this.connection.url, `send on "${queue}"`);
    }
  }

  async consume(queue: string, handler: CommandHandler, options: ConsumeOptions = {}): Promise<Closeable> {
    this.assertOpen();
    const consumerName = `${this.nodeId}:${++this.consumerCount}:${randomUUID().slice(0, 8)}`;
    const blocking = this.watch(blockingConnection(this.connection, `draas:${consumerName}`, 'transport-blocking'), `consumer ${consumerName}`);
    let consumer: RedisConsumer | undefined;
    try {
      await connectWithin(blocking, this.connection.url, this.connection.connectTimeoutMs);
      consumer = new RedisConsumer(
        blocking,
        this.commands,
        handler,
        {
          queue,
          consumerName,
          keys: this.keys,
          blockMs: this.blockMs,
          claimIdleMs: this.claimIdleMs,
          retryDelayMs: this.retryDelayMs,
          maxDeliveries: this.maxDeliveries,
          concurrency: this.concurrency,
          shutdownGraceMs: this.shutdownGraceMs,
          replyTtlMs: this.replyTtlMs,
          replyMaxLen: 10_000,
          deadLetterMaxLen: 10_000,
          retry: this.connection.reconnect,
          redeliver: options.redeliver ?? true,
          log: this.log,
        },
        () => this.consumers.delete(consumer!),
      );
      await consumer.start();
    } catch (error) {
      blocking.disconnect();
      throw toTransportError(error, this.connection.url, `consume "${queue}"`);
    }
    this.consumers.add(consumer);
    return consumer;
  }

  async publish(topic: string, event: EventEnvelope): Promise<void> {
    this.assertOpen();
    try {
      // Publishes of one tick go in one write, in the order they were made (so the stream keeps that order).
      await this.batch.call('XADD', [this.keys.events(topic), 'MAXLEN', '~', this.eventStreamMaxLen, '*', ...encodeEvent(event)]);
    } catch (error) {
      throw toTransportError(error, this.connection.url, `publish to "${topic}"`);
    }
  }

  /**
   * Delivers the topic's events published after this resolves (or after
   * `options.after`). The subscriptions of this transport to one topic share
   * one connection and read loop (`redis-subscription.ts`).
   */
  async subscribe(topic: string, listener: EventListener, options: SubscribeOptions = {}): Promise<RedisSubscription> {
    this.assertOpen();
    const key = this.keys.events(topic);
    let after: string | undefined;
    if (options.after !== undefined) {
      after = normalizeStreamId(options.after);
      if (after === undefined) throw new DraasError('bad-request', `"${options.after}" is not a stream id (<ms>-<seq>) to subscribe after`);
    }
    for (;;) {
      const reader = this.readerOf(topic, key);
      try {
        await reader.opened;
        const position = after ?? (await this.newestId(key));
        this.assertOpen();
        // The reader's last subscription may have closed meanwhile: then a new reader is made.
        if (!reader.value.isClosed) return reader.value.attach(listener, position);
      } catch (error) {
        // Not left connected for nobody (a subscribe waiting on it too makes a new one).
        if (reader.value.unused) void reader.value.close();
        throw toTransportError(error, this.connection.url, `subscribe to "${topic}"`);
      }
    }
  }

  /** The reader of a topic, made (and connecting) when there is none or it is closed. */
  private readerOf(topic: string, key: string): OpeningReader {
    const existing = this.readers.get(topic);
    if (existing && !existing.value.isClosed) return existing;
    const blocking = this.watch(blockingConnection(this.connection, `draas:${this.nodeId}:events:${topic}`, 'transport-blocking'), `subscription ${key}`);
    const reader: OpeningReader = {
      value: new TopicReader(blocking, key, {
        blockMs: this.blockMs,
        retry: this.connection.reconnect,
        log: this.log,
        onClosed: () => {
          if (this.readers.get(topic) === reader) this.readers.delete(topic);
        },
      }),
      opened: connectWithin(blocking, this.connection.url, this.connection.connectTimeoutMs),
    };
    // A reader that cannot connect is dropped (its subscribers get the error); the next subscribe makes a new one.
    reader.opened.catch(() => void reader.value.close());
    this.readers.set(topic, reader);
    return reader;
  }

  /** The id of the newest entry of a stream (`0-0` when it is empty or missing). */
  private async newestId(key: string): Promise<string> {
    const [newest] = parseEntries(await retryRedis(() => this.commands.xrevrange(key, '+', '-', 'COUNT', 1)));
    return newest?.id ?? '0-0';
  }

  /**
   * True when PING answers and every blocking loop (replies, each consumer,
   * each subscription) returned from Redis recently: within twice the BLOCK
   * timeout (at least BLOCK + 1 s), as each of them returns once per BLOCK.
   */
  async healthy(): Promise<boolean> {
    if (this.closing) return false;
    const maxAge = Math.max(2 * this.blockMs, this.blockMs + 1_000);
    const loops: Loop[] = [this.inbox, ...this.consumers, ...[...this.readers.values()].map((reader) => reader.value)];
    if (loops.some((loop) => loop.stalled(maxAge))) return false;
    let timer: NodeJS.Timeout | undefined;
    try {
      const answer = await Promise.race([
        this.commands.ping(),
        new Promise<string>((resolve) => {
          timer = setTimeout(() => resolve('timeout'), this.blockMs);
        }),
      ]);
      return answer === 'PONG';
    } catch {
      return false;
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * What waits in each worker's command queue, found by SCAN (so the queues
   * of workers that are gone, where commands pile up, are counted too): XLEN
   * of the queue (acknowledged entries are deleted, so this is the work not
   * done), XPENDING of its group, XLEN of its dead-letter stream. At most
   * `MAX_STATS_QUEUES` queues.
   */
  async queueStats(): Promise<QueueStats[]> {
    this.assertOpen();
    try {
      const queueKeys = await this.scanKeys(`${globEscape(this.keys.commandStream(''))}commands.*`);
      const deadKeys = new Set(await this.scanKeys(`${globEscape(this.keys.deadLetter(''))}commands.*`));
      const names = new Set<string>();
      for (const key of queueKeys) names.add(key.slice(this.keys.commandStream('').length));
      for (const key of deadKeys) names.add(key.slice(this.keys.deadLetter('').length));
      const workers = [...names].map((name) => ({ name, worker: queues.workerOf(name) })).filter((entry) => entry.worker !== undefined).slice(0, MAX_STATS_QUEUES);
      const pipeline = this.commands.pipeline();
      for (const { name } of workers) {
        pipeline.xlen(this.keys.commandStream(name));
        pipeline.call('XPENDING', this.keys.commandStream(name), COMMAND_GROUP);
        pipeline.xlen(this.keys.deadLetter(name));
      }
      const answers = (await pipeline.exec()) ?? [];
      const number = (index: number): number => {
        const [error, value] = answers[index] ?? [null, 0];
        if (error) return 0; // e.g. NOGROUP: a queue nobody consumed yet has nothing pending
        if (typeof value === 'number') return value;
        if (Array.isArray(value)) return Number(value[0]) || 0;
        return 0;
      };
      return workers.map(({ worker }, i) => ({ ...worker!, depth: number(3 * i), pending: number(3 * i + 1), deadLettered: number(3 * i + 2) }));
    } catch (error) {
      throw toTransportError(error, this.connection.url, 'queue statistics');
    }
  }

  /** Keys matching `pattern`, by SCAN, at most `MAX_STATS_QUEUES`. */
  private async scanKeys(pattern: string): Promise<string[]> {
    const keys = new Set<string>();
    let cursor = '0';
    do {
      const [next, batch] = await this.commands.scan(cursor, 'MATCH', pattern, 'COUNT', 1_000);
      for (const key of batch) keys.add(key);
      cursor = next;
    } while (cursor !== '0' && keys.size < MAX_STATS_QUEUES);
    return [...keys];
  }

  /**
   * Stops consumers (letting running handlers finish within
   * `shutdownGraceMs`), then subscriptions, fails the requests still waiting
   * (503), stops the reply loop and quits the command connection. Idempotent.
   */
  close(): Promise<void> {
    this.closing ??= (async () => {
      // Consumers get their shutdown grace for running handlers; nothing else waits long for a Redis that does not answer.
      await settleWithin([...this.consumers].map((consumer) => consumer.close()), this.shutdownGraceMs + 1_000);
      await settleWithin([...this.readers.values()].map((reader) => reader.value.close()), 1_000);
      for (const fail of [...this.pending.values()]) fail(new DraasError('unavailable', 'the Redis transport was closed'));
      await settleWithin([this.inbox.stop()], 1_000);
      await quitConnection(this.commands);
    })();
    return this.closing;
  }

  private assertOpen(): void {
    if (this.closing) throw new DraasError('unavailable', 'the Redis transport is closed');
  }

  /** Logs a connection's first failure and its recovery (ioredis reports every failed attempt). */
  private watch(redis: Redis, label: string): Redis {
    let failing = false;
    redis.on('error', (error: unknown) => {
      if (failing) return;
      failing = true;
      this.log(`redis ${label} (${redactUrl(this.connection.url)}): ${errorMessage(error)}; reconnecting`);
    });
    redis.on('ready', () => {
      if (!failing) return;
      failing = false;
      this.logger.info(`redis ${label}: reconnected`);
    });
    return redis;
  }
}

/** Creates a Redis transport and connects it; throws a 503 `DraasError` when Redis is not reachable in time. */
export async function createRedisTransport(options: RedisTransportOptions): Promise<RedisTransport> {
  const transport = new RedisTransport(options);
  await transport.connect();
  return transport;
}

/** How many worker queues `queueStats` reports at most (bounds a scrape; worker ids are few). */
const MAX_STATS_QUEUES = 1_000;

/** `pattern` matches itself literally in a SCAN MATCH (a prefix may hold *, ?, [ or \\). */
function globEscape(pattern: string): string {
  return pattern.replace(/[*?[\]\\]/g, '\\$&');
}

function positive(value: number | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  if (!Number.isFinite(value) || value <= 0) throw new RangeError(`${name} must be a positive number (got ${value})`);
  return value;
}

function abortReason(signal: AbortSignal | undefined): unknown {
  return signal?.reason ?? new Error('aborted');
}
