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

export interface Transport extends Closeable {
  /** Sends a command to a queue; exactly one consumer of the queue handles it. Resolves with the handler's result. */
  request(queue: string, command: CommandEnvelope, options: RequestOptions): Promise<unknown>;
  /** Consumes a queue. Several consumers of one queue share its commands. */
  consume(queue: string, handler: CommandHandler): Promise<Closeable>;
  publish(topic: string, event: EventEnvelope): Promise<void>;
  subscribe(topic: string, listener: EventListener): Promise<Closeable>;
  readonly presence: PresenceRegistry;
  /** True while the transport can carry messages (for /readyz). */
  healthy(): Promise<boolean>;
}

/** Queue and topic names, in one place. */
export const queues = {
  platformCommands: (platform: string) => `commands.${platform}`,
  /** One worker's own queue: commands about a workload it started (stop, remove, logs) must reach that worker. */
  workerCommands: (platform: string, workerId: string) => `commands.${platform}.worker.${workerId}`,
  /** Calls forwarded to the control-plane replica that owns an instance. */
  replicaCalls: (replicaId: string) => `control-plane.replica.${replicaId}`,
} as const;

export const topics = {
  /** Instance status changes, published by the control plane. */
  instanceEvents: 'instance-events',
  /** Workload exits and health changes, published by workers. */
  workloadEvents: 'workload-events',
} as const;
