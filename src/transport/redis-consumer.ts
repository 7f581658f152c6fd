/**
 * One consumer of a command queue on Redis Streams: a unique consumer name in
 * the queue's single consumer group, its own blocking connection for
 * XREADGROUP, and the transport's command connection for replies.
 *
 * Delivery rules (at-least-once; handlers are idempotent on `commandId`):
 *
 * - **Acknowledge after the reply.** An entry is XACKed (and XDELed) in the
 *   same atomic script that writes its reply (`completeHandled`: one EVAL
 *   for the entries whose handlers settled during one tick), only after its
 *   handler settled. If Redis is down at that moment the write is retried
 *   until it succeeds or the consumer is closed.
 * - **A `DraasError` is an answer.** A handler that rejects with a
 *   `DraasError` (the driver said no: bad request, workload failed, …)
 *   produces an error reply and the entry is acknowledged: never retried.
 * - **Any other error is a crash.** A handler that rejects with anything
 *   else (a bug, an unexpected exception) is treated like a consumer that
 *   died: no reply, no XACK; its error is recorded as the entry's last error
 *   and the entry is released for redelivery after `retryDelayMs`.
 * - **Reclaim.** Every consumer periodically looks for entries idle longer
 *   than `claimIdleMs` (XPENDING … IDLE) and claims them (XCLAIM, which checks
 *   the idle time again, so only one consumer wins). A live consumer keeps
 *   the entries its handlers are still working on fresh (a heartbeat every
 *   `claimIdleMs / 3`, XCLAIM … JUSTID on its own entries), so a slow handler
 *   is never run twice; only a dead or stuck consumer's entries are taken.
 * - **Dead letter.** An idle entry already delivered `maxDeliveries` times
 *   is not run again: it is copied to the queue's dead-letter stream with its
 *   last error, its requester gets a `worker-error` reply
 *   (`command … dead-lettered after N deliveries: <last error>`), and it is
 *   acknowledged. So a handler runs at most `maxDeliveries` times.
 */
import type { Redis } from 'ioredis';
import { DraasError, errorMessage } from '../errors.js';
import { serializeError, type ReplyEnvelope } from './envelope.js';
import {
  decodeCommand,
  encodeReply,
  serializeReply,
  parseEntries,
  parsePending,
  parseReadReply,
  type PendingEntry,
  type StreamEntry,
} from './redis-codec.js';
import { backoffMs, isNoGroupError, isReplyError, type ReconnectPolicy } from '../redis/connection.js';
import { execChecked, pause, settleWithin } from '../redis/exec.js';
import { COMMAND_GROUP, type RedisKeys } from '../redis/keys.js';
import { BlockingLoop } from './redis-loop.js';
import { COMPLETE_BATCH_MAX, completeHandled, deleteConsumerWhenIdle, touchOwnedEntries, type Completion } from './redis-scripts.js';
import type { Closeable, CommandHandler } from './transport.js';

export interface ConsumerSettings {
  queue: string;
  /** Unique within the group. */
  consumerName: string;
  keys: RedisKeys;
  blockMs: number;
  claimIdleMs: number;
  retryDelayMs: number;
  maxDeliveries: number;
  /**
   * Handlers of this consumer that may run at the same time. Entries whose
   * handler finished and whose reply is being written are not counted, up to
   * as many again.
   */
  concurrency: number;
  /** How long close() waits for running handlers before leaving their entries to be reclaimed. */
  shutdownGraceMs: number;
  replyTtlMs: number;
  replyMaxLen: number;
  deadLetterMaxLen: number;
  retry: ReconnectPolicy;
  /** Whether commands another consumer left unfinished are run again (see `ConsumeOptions.redeliver`). */
  redeliver: boolean;
  log: (message: string) => void;
}

/** How many idle entries one reclaim pass looks at. */
const RECLAIM_BATCH = 16;
const REPLY_RETRY: ReconnectPolicy = { initialMs: 100, maxMs: 2_000 };

interface PendingCompletion extends Completion {
  commandId: string;
  /** Called once the batch is written or given up. */
  done: () => void;
}

export class RedisConsumer implements Closeable {
  private readonly stream: string;
  private readonly errors: string;
  /** Entries taken and not finished (handler running, or its reply being written), by id. */
  private readonly inFlight = new Map<string, Promise<void>>();
  /** Handlers running now (at most `concurrency`). */
  private handling = 0;
  /** The read loop, waiting for room (see `step`). */
  private roomWaiter: (() => void) | undefined;
  private readonly loop: BlockingLoop;
  private readonly reclaimEveryMs: number;
  private heartbeat: NodeJS.Timeout | undefined;
  private lastReclaimAt = 0;
  /** Set when close() gave up waiting: late outcomes are not written. */
  private abandoned = false;
  private closing: Promise<void> | undefined;
  /** Reply writes waiting to retry (Redis unreachable): woken when close() gives up on them. */
  private readonly replyRetries = new Set<{ wake?: () => void }>();
  /** Handled entries whose reply and acknowledgement go out with the next batch. */
  private completions: PendingCompletion[] = [];

  constructor(
    private readonly blocking: Redis,
    private readonly commands: Redis,
    private readonly handler: CommandHandler,
    private readonly settings: ConsumerSettings,
    private readonly onClosed: () => void = () => undefined,
  ) {
    this.stream = settings.keys.commandStream(settings.queue);
    this.errors = settings.keys.commandErrors(settings.queue);
    this.reclaimEveryMs = Math.max(50, Math.min(settings.retryDelayMs, settings.claimIdleMs) / 2);
    this.loop = new BlockingLoop(blocking, {
      name: `consumer ${settings.consumerName}`,
      step: () => this.step(),
      recover: (error) => this.recover(error),
      retry: settings.retry,
      log: settings.log,
    });
  }

  get name(): string {
    return this.settings.consumerName;
  }

  /** True when the consumer loop has not made progress for longer than `maxAgeMs`. */
  stalled(maxAgeMs: number): boolean {
    return this.loop.stalled(maxAgeMs);
  }

  async start(): Promise<void> {
    await this.ensureGroup();
    if (!this.settings.redeliver) await this.abandonOthers();
    this.loop.start();
    this.heartbeat = setInterval(() => void this.beat(), Math.max(50, this.settings.claimIdleMs / 3));
    this.heartbeat.unref();
  }

  /** Stops reading, waits up to `shutdownGraceMs` for running handlers, then leaves. Idempotent. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      await this.loop.stop();
      const drained = await settleWithin([...this.inFlight.values()], this.settings.shutdownGraceMs);
      if (!drained) {
        this.abandoned = true;
        for (const retry of this.replyRetries) retry.wake?.();
        this.settings.log(`consumer ${this.name}: closed with ${this.inFlight.size} command(s) unfinished; they will be reclaimed`);
      }
      clearInterval(this.heartbeat);
      if (drained) {
        // Tidying only (a consumer left in the group is harmless): not worth waiting for a Redis that does not answer.
        await settleWithin([deleteConsumerWhenIdle(this.commands, this.stream, COMMAND_GROUP, this.name).catch(() => false)], 1_000);
      }
      this.onClosed();
    })();
    return this.closing;
  }

  private async ensureGroup(): Promise<void> {
    try {
      // From id 0: commands queued before the group existed are delivered too.
      await this.blocking.xgroup('CREATE', this.stream, COMMAND_GROUP, '0', 'MKSTREAM');
    } catch (error) {
      if (isReplyError(error) && error.message.startsWith('BUSYGROUP')) return;
      throw error;
    }
  }

  private async recover(error: unknown): Promise<boolean> {
    if (!isNoGroupError(error)) return false;
    this.settings.log(`consumer ${this.name}: consumer group of "${this.settings.queue}" is gone (Redis lost its data?); re-creating it`);
    await this.ensureGroup();
    return true;
  }

  private async step(): Promise<void> {
    const now = Date.now();
    if (now - this.lastReclaimAt >= this.reclaimEveryMs) {
      this.lastReclaimAt = now;
      await this.reclaim();
    }
    // Handlers run at most `concurrency` at a time; entries whose replies are being written do not count, so the
    // next batch is read while the last one's replies are written (bounded: at most twice `concurrency` unacknowledged).
    const free = Math.min(this.settings.concurrency - this.handling, 2 * this.settings.concurrency - this.inFlight.size);
    if (free <= 0) {
      // Busy, not stuck: wait for a handler or a reply write (or the next reclaim pass).
      await this.roomOrTimeout(this.reclaimEveryMs);
      return;
    }
    const block = Math.max(1, Math.round(Math.min(this.settings.blockMs, this.reclaimEveryMs)));
    const reply = await this.blocking.call(
      'XREADGROUP', 'GROUP', COMMAND_GROUP, this.name, 'COUNT', free, 'BLOCK', block, 'STREAMS', this.stream, '>',
    );
    for (const entry of parseReadReply(reply)) this.dispatch(entry, 1);
  }

  /** Claims entries idle longer than `claimIdleMs`; dead-letters those out of deliveries. */
  private async reclaim(): Promise<void> {
    const pending = parsePending(
      await this.blocking.call('XPENDING', this.stream, COMMAND_GROUP, 'IDLE', this.settings.claimIdleMs, '-', '+', RECLAIM_BATCH),
    );
    for (const entry of pending) {
      if (this.loop.isStopping) return;
      if (this.inFlight.has(entry.id)) continue;
      if (!this.settings.redeliver && entry.consumer !== this.name) {
        await this.deadLetterIdle(entry, this.settings.claimIdleMs, abandonedReason(entry.consumer));
        continue;
      }
      if (entry.deliveries >= this.settings.maxDeliveries) {
        await this.deadLetterIdle(entry);
        continue;
      }
      if (this.handling >= this.settings.concurrency) continue;
      const claimed = parseEntries(
        await this.blocking.call('XCLAIM', this.stream, COMMAND_GROUP, this.name, this.settings.claimIdleMs, entry.id),
      );
      for (const item of claimed) {
        this.settings.log(
          `consumer ${this.name}: reclaimed ${item.id} from ${entry.consumer} after ${entry.idleMs} ms idle (delivery ${entry.deliveries + 1})`,
        );
        this.dispatch(item, entry.deliveries + 1);
      }
    }
  }

  /**
   * A queue whose commands are not redelivered: whatever a previous consumer
   * (this worker before a restart) took and never finished is answered with an
   * error and dead-lettered before anything new is read.
   */
  private async abandonOthers(): Promise<void> {
    for (;;) {
      const pending = parsePending(await this.blocking.call('XPENDING', this.stream, COMMAND_GROUP, '-', '+', RECLAIM_BATCH));
      const others = pending.filter((entry) => entry.consumer !== this.name);
      if (others.length === 0) return;
      for (const entry of others) await this.deadLetterIdle(entry, 0, abandonedReason(entry.consumer));
    }
  }

  private async deadLetterIdle(pending: PendingEntry, minIdleMs = this.settings.claimIdleMs, reason?: string): Promise<void> {
    // Claiming first makes this consumer the only one that dead-letters it.
    const [entry] = parseEntries(await this.blocking.call('XCLAIM', this.stream, COMMAND_GROUP, this.name, minIdleMs, pending.id));
    if (!entry) {
      // Deleted meanwhile (acknowledged): XCLAIM returns nothing but the id may stay pending; drop it.
      await this.blocking.xack(this.stream, COMMAND_GROUP, pending.id);
      return;
    }
    const recorded = await this.blocking.hget(this.errors, pending.id);
    const lastError = reason ?? lastErrorText(recorded) ?? `consumer "${pending.consumer}" stopped without acknowledging it`;
    await this.deadLetter(this.blocking, entry, pending.deliveries, lastError);
  }

  /** Moves an entry to the dead-letter stream, replies with an error, acknowledges it: one MULTI. */
  private async deadLetter(redis: Redis, entry: StreamEntry, deliveries: number, lastError: string): Promise<void> {
    const { queued, requestId, replyTo } = decodeCommand(entry);
    const commandId = queued?.command.commandId ?? 'unknown';
    const type = queued?.command.type ?? 'unknown';
    const queue = this.settings.queue;
    const tx = redis.multi();
    tx.xadd(
      this.settings.keys.deadLetter(queue), 'MAXLEN', '~', this.settings.deadLetterMaxLen, '*',
      'queue', queue, 'entryId', entry.id, 'commandId', commandId, 'type', type,
      'deliveries', String(deliveries), 'lastError', lastError, 'consumer', this.name,
      'deadLetteredAt', new Date().toISOString(), 'requestId', requestId ?? '', 'replyTo', replyTo ?? '',
      'command', entry.fields.get('command') ?? '',
    );
    if (requestId && replyTo) {
      const reply: ReplyEnvelope = {
        commandId,
        ok: false,
        error: {
          code: 'worker-error',
          message: `command ${commandId} (${type}) dead-lettered after ${deliveries} deliveries: ${lastError}`,
          details: { queue, commandId, type, deliveries, lastError, deadLetter: true },
        },
      };
      tx.xadd(replyTo, 'MAXLEN', '~', this.settings.replyMaxLen, '*', ...encodeReply(requestId, reply));
      tx.pexpire(replyTo, this.settings.replyTtlMs);
    }
    tx.xack(this.stream, COMMAND_GROUP, entry.id);
    tx.xdel(this.stream, entry.id);
    tx.hdel(this.errors, entry.id);
    await execChecked(tx);
    this.settings.log(`consumer ${this.name}: dead-lettered ${commandId} (${type}) after ${deliveries} deliveries: ${lastError}`);
  }

  private dispatch(entry: StreamEntry, delivery: number): void {
    // A read that returned after close() began (the loop no longer waits for it): the entry stays pending and is reclaimed.
    if (this.loop.isStopping) return;
    // Counted and registered before the handler starts, so the read loop, the heartbeat and the crash path see it.
    this.handling += 1;
    let handled = false;
    const handlerSettled = () => {
      if (handled) return;
      handled = true;
      this.handling -= 1;
      this.wakeForRoom();
    };
    const task: Promise<void> = Promise.resolve()
      .then(() => this.execute(entry, delivery, handlerSettled))
      .catch((error: unknown) => this.settings.log(`consumer ${this.name}: entry ${entry.id}: ${errorMessage(error)}`))
      .finally(() => {
        handlerSettled();
        if (this.inFlight.get(entry.id) === task) this.inFlight.delete(entry.id);
        this.wakeForRoom();
      });
    this.inFlight.set(entry.id, task);
  }

  /** Resolves when a handler or a reply write finished, or after `ms`. */
  private roomOrTimeout(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => this.wakeForRoom(), ms);
      this.roomWaiter = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  private wakeForRoom(): void {
    const waiter = this.roomWaiter;
    this.roomWaiter = undefined;
    waiter?.();
  }

  /** Runs the handler (`handlerSettled` once it settled, before the reply is written) and writes the outcome. */
  private async execute(entry: StreamEntry, delivery: number, handlerSettled: () => void): Promise<void> {
    const { queued } = decodeCommand(entry);
    if (!queued) {
      handlerSettled();
      await this.deadLetter(this.commands, entry, delivery, 'malformed command entry');
      return;
    }
    const { command, requestId, replyTo } = queued;
    let reply: ReplyEnvelope;
    try {
      reply = { commandId: command.commandId, ok: true, result: await this.handler(command) };
    } catch (error) {
      handlerSettled();
      if (!(error instanceof DraasError)) {
        this.inFlight.delete(entry.id); // no more heartbeats for it
        await this.release(entry.id, command.commandId, error, delivery);
        return;
      }
      reply = { commandId: command.commandId, ok: false, error: serializeError(error) };
    }
    handlerSettled();
    await this.complete(entry.id, command.commandId, requestId, replyTo, reply);
  }

  /** A crashed handler: record its error and let the entry be reclaimed after `retryDelayMs`. */
  private async release(id: string, commandId: string, error: unknown, delivery: number): Promise<void> {
    const message = errorMessage(error);
    this.settings.log(
      `consumer ${this.name}: handler crashed on ${commandId} (delivery ${delivery} of ${this.settings.maxDeliveries}): ${message}`,
    );
    if (this.abandoned) return;
    try {
      await this.commands.hset(this.errors, id, JSON.stringify({ message, consumer: this.name, at: new Date().toISOString() }));
      const idle = this.settings.claimIdleMs - Math.min(this.settings.retryDelayMs, this.settings.claimIdleMs);
      await touchOwnedEntries(this.commands, this.stream, COMMAND_GROUP, this.name, idle, [id]);
    } catch {
      // Unreachable Redis: the entry is reclaimed after claimIdleMs anyway.
    }
  }

  /**
   * Queues the reply and acknowledgement of a handled entry; resolves once
   * they are written (or given up: a reply error, or close() abandoned it).
   * The entries finished during one tick go in one `completeHandled` call.
   */
  private complete(id: string, commandId: string, requestId: string, replyTo: string, reply: ReplyEnvelope): Promise<void> {
    let json: string;
    try {
      json = serializeReply(reply);
    } catch (error) {
      json = serializeReply({
        commandId: reply.commandId,
        ok: false,
        error: { code: 'worker-error', message: `the result is not JSON-serializable: ${errorMessage(error)}`, details: {} },
      });
    }
    return new Promise((done) => {
      if (this.completions.length === 0) process.nextTick(() => this.flushCompletions());
      this.completions.push({ id, commandId, requestId, replyTo, reply: json, done });
    });
  }

  private flushCompletions(): void {
    while (this.completions.length > 0) void this.writeCompletions(this.completions.splice(0, COMPLETE_BATCH_MAX));
  }

  /** Writes replies and acknowledges their entries in one script call, retrying while Redis is unreachable. */
  private async writeCompletions(batch: PendingCompletion[]): Promise<void> {
    const target = {
      stream: this.stream,
      errors: this.errors,
      group: COMMAND_GROUP,
      replyMaxLen: this.settings.replyMaxLen,
      replyTtlMs: this.settings.replyTtlMs,
    };
    try {
      for (let attempt = 1; !this.abandoned; attempt += 1) {
        try {
          const failed = await completeHandled(this.commands, target, batch);
          for (const { id, error } of failed) {
            const commandId = batch.find((item) => item.id === id)?.commandId ?? id;
            this.settings.log(`consumer ${this.name}: reply to ${commandId} failed: ${error}`);
          }
          return;
        } catch (error) {
          if (isReplyError(error)) {
            for (const item of batch) this.settings.log(`consumer ${this.name}: reply to ${item.commandId} failed: ${error.message}`);
            return;
          }
          const wake: { wake?: () => void } = {};
          this.replyRetries.add(wake);
          await pause(backoffMs(attempt, REPLY_RETRY), wake);
          this.replyRetries.delete(wake);
        }
      }
    } finally {
      for (const item of batch) item.done();
    }
  }

  /** Keeps the entries of running handlers from looking abandoned. */
  private async beat(): Promise<void> {
    if (this.inFlight.size === 0 || this.abandoned) return;
    try {
      await touchOwnedEntries(this.commands, this.stream, COMMAND_GROUP, this.name, 0, [...this.inFlight.keys()]);
    } catch {
      // Redis unreachable: nobody can reclaim meanwhile either.
    }
  }
}

function abandonedReason(consumer: string): string {
  return `abandoned: consumer "${consumer}" stopped while running it, and this queue's commands are not run again (the requester has given up on them)`;
}

function lastErrorText(recorded: string | null): string | undefined {
  if (recorded === null) return undefined;
  try {
    const parsed: unknown = JSON.parse(recorded);
    if (typeof parsed === 'object' && parsed !== null && 'message' in parsed && typeof parsed.message === 'string') {
      return parsed.message;
    }
  } catch {
    // fall through
  }
  return recorded;
}
