/**
 * The transport between the control plane and the platform workers. One
 * interface, two implementations: in-memory (embedded, one process) and Redis
 * (cluster). No connection or vendor type crosses it.
 *
 * Deliberately left out: what a command means (workers dispatch on `type`),
 * retries of refused commands (a `DraasError` from a handler is a reply, not
 * a redelivery; see `CommandHandler`), and failing fast when no worker is
 * alive — the caller checks `presence` first, because only it knows which
 * platform a queue serves.
 */
import type { CommandEnvelope, EventEnvelope } from './envelope.js';

export interface RequestOptions {
  /** The reply must arrive within this time, else `WorkerTimeoutError` (a late reply is dropped). */
  timeoutMs: number;
  /** Abandons the wait (the command may still run). */
  signal?: AbortSignal;
}

/**
 * Handles one command and returns its result (a JSON value: it may cross a wire).
 *
 * A rejection with a `DraasError` is an answer ("the driver said no"): it
 * becomes an error reply with the same code, message and details, and the
 * command is not run again. Any other rejection is a crash: a durable
 * transport (Redis) redelivers the command, up to its delivery limit, then
 * dead-letters it and replies with a `worker-error`; the memory transport,
 * which has nothing to redeliver from, replies with a `worker-error` at once.
 */
export type CommandHandler = (command: CommandEnvelope) => Promise<unknown>;
export type EventListener = (event: EventEnvelope) => void;

export interface Closeable {
  /** Idempotent. */
  close(): Promise<void>;
}

/** A live worker, as it announced itself. */
export interface WorkerPresence {
  workerId: string;
  platform: string;
  /** Whether it accepts commands (a worker that cannot reach its engine says false). */
  available: boolean;
  /** ISO 8601 of the last heartbeat. */
  lastSeen: string;
  details: Record<string, unknown>;
}

export interface PresenceRegistry {
  /** Announces (or refreshes) a worker; it is considered dead when not refreshed within `ttlMs`. */
  announce(presence: Omit<WorkerPresence, 'lastSeen'>, ttlMs: number): Promise<void>;
  withdraw(platform: string, workerId: string): Promise<void>;
  /** Live workers, of one platform or of all. */
  live(platform?: string): Promise<WorkerPresence[]>;
}

export interface ConsumeOptions {
  /**
   * Whether a command that another consumer took and never finished (it
   * died) is run again by this one. Default true. False for a queue whose
   * commands must not outlive the consumer that took them: a worker's own
   * queue, where the control plane has already given up on what a lost
   * worker was running (a late re-run could start a server nobody tracks).
   * Such commands are then dead-lettered with an error reply instead. (A
   * handler crash is still retried by the same consumer, up to the delivery
   * limit.)
   */
  redeliver?: boolean;
}

/** What waits in one worker's command queue (for metrics). */
export interface QueueStats {
  platform: string;
  workerId: string;
  /** Commands not yet done: waiting, or taken and not acknowledged. */
  depth: number;
  /** Commands taken by a consumer and not acknowledged yet. */
  pending: number;
  /** Commands given up after their deliveries (0 where nothing is dead-lettered). */
  deadLettered: number;
}

export interface Transport extends Closeable {
  /** Sends a command to a queue; exactly one consumer of the queue handles it. Resolves with the handler's result. */
  request(queue: string, command: CommandEnvelope, options: RequestOptions): Promise<unknown>;
  /**
   * Queues a command whose reply nobody waits for: it is handled once a
   * consumer of the queue reads it, however long that takes (durable on
   * Redis; in memory until this process ends). Resolves once queued.
   */
  send(queue: string, command: CommandEnvelope): Promise<void>;
  /** Consumes a queue. Several consumers of one queue share its commands. */
  consume(queue: string, handler: CommandHandler, options?: ConsumeOptions): Promise<Closeable>;
  publish(topic: string, event: EventEnvelope): Promise<void>;
  subscribe(topic: string, listener: EventListener): Promise<Closeable>;
  readonly presence: PresenceRegistry;
  /** True while the transport can carry messages (for /readyz). */
  healthy(): Promise<boolean>;
  /** What waits in each worker's command queue (`queues.workerCommands`), for metrics; optional for other transports. */
  queueStats?(): Promise<QueueStats[]>;
}

/** Queue and topic names, in one place. */
export const queues = {
  /**
   * One worker's own queue: every command about an instance placed on that
   * worker goes there (the control plane places an instance before its first
   * start), so no other worker can run a second server for it.
   */
  workerCommands: (platform: string, workerId: string) => `commands.${platform}.worker.${workerId}`,
  /** The platform and worker of a `workerCommands` queue name; undefined for any other queue. */
  workerOf: (queue: string): { platform: string; workerId: string } | undefined => {
    const match = /^commands\.([^.]+)\.worker\.(.+)$/.exec(queue);
    return match ? { platform: match[1]!, workerId: match[2]! } : undefined;
  },
  /** Calls forwarded to the control-plane replica that owns an instance. */
  replicaCalls: (replicaId: string) => `control-plane.replica.${replicaId}`,
} as const;

export const topics = {
  /** Workload exits and health changes, published by workers. */
  workloadEvents: 'workload-events',
  /**
   * A forwarded call's caller went away: the owning replica aborts it. Not on
   * the owner's queue, which may be full of the very calls being cancelled.
   * Best effort: a lost cancellation only means work nobody waits for.
   */
  callCancellations: 'control-plane.call-cancellations',
} as const;
