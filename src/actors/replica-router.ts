/**
 * Replica routing: each instance's requests run on the control-plane replica
 * that owns it. One table of operations serves this replica's own callers
 * and the calls other replicas forward here, so an operation is written once.
 *
 * - **Here**: when this replica owns the instance, the operation runs here
 *   (once the instance's shard is loaded, after a takeover).
 * - **Forwarded**: otherwise the call goes to the owner's queue
 *   (`control-plane.replica.<id>`) — only while the owner is alive. A dead
 *   owner's lease still stands until it expires, but nothing reads its
 *   queue: the request is answered at once with 503 `not-owner` and a
 *   `Retry-After` (when the lease can be taken over). While the call waits,
 *   the owner's liveness is checked every `livenessPollMs`; if it dies, the
 *   caller gets the same answer as soon as the death shows (its heartbeat
 *   lapsed), not after the call's timeout.
 * - **Cancellation**: when the caller's signal aborts (an HTTP client went
 *   away), the forwarding replica stops waiting and tells the owner, which
 *   aborts the signal its operation runs with — as for a caller of its own:
 *   the waiting stops; a request the instance accepted still completes.
 *   A call cancelled before it ran, or whose caller's wait ended
 *   (`expiresAt`), is not run at all.
 *
 * Deliberately left out: retrying a call on the new owner after a takeover
 * (a config patch may have landed before the owner died; the client decides),
 * and removing calls left in a dead owner's queue (nothing reads them; a
 * replica restarted with the same id skips those that expired).
 */
import { DraasError, StaleOwnerError } from '../errors.js';
import { newCommand, newEvent, type CommandEnvelope, type EventEnvelope } from '../transport/envelope.js';
import { queues, topics, type Closeable, type Transport } from '../transport/transport.js';
import type { Ownership } from './ownership.js';
import {
  callCancelledEvent,
  instanceIdOf,
  parseCallCancelled,
  parseForwardedCall,
  type CallCancelled,
  type ForwardedCall,
  type ReplicaCall,
  type ReplicaCallArgs,
  type ReplicaCallResults,
  type ReplicaOp,
} from './replica-calls.js';
import { ReplicaLiveness } from './replica-liveness.js';
import { type LogOption, type Logger, toLogger } from '../observability/logger.js';
import { contextOf, inSpan, SpanKind } from '../observability/tracing.js';

export interface OperationOptions {
  /** Aborted when the caller stops waiting (here: the caller's own signal; forwarded: a cancellation from the caller's replica). */
  signal?: AbortSignal;
}

/** Every operation a replica runs for the instances it owns, by name. */
export type OperationTable = {
  [K in ReplicaOp]: (args: ReplicaCallArgs[K], options: OperationOptions) => Promise<ReplicaCallResults[K]>;
};

export interface ReplicaRouterOptions {
  transport: Transport;
  ownership: Ownership;
  operations: OperationTable;
  /** How long the owner may take to answer the operation; a forwarding replica waits this plus `replySlackMs`. */
  timeoutOf: (op: ReplicaOp) => number;
  replySlackMs: number;
  /** Resolves once the instance's shard is loaded (undefined: nothing to wait for). */
  loaded: (instanceId: string) => Promise<void> | undefined;
  /** How often the owner of a waiting forwarded call is checked for liveness (default 1 000 ms). */
  livenessPollMs?: number;
  /** Epoch ms; injectable for tests. */
  now?: () => number;
  log?: LogOption;
}

/** Cancellations of calls that had not started yet are remembered at most this many at a time. */
const REMEMBERED_CANCELLATIONS = 10_000;

/** A 503 `not-owner` that tells the client when to retry (the problem middleware turns it into `Retry-After`). */
function notOwner(message: string, instanceId: string, retryAfterMs: number): StaleOwnerError {
  return new StaleOwnerError(message, { instanceId, retryAfterSeconds: Math.max(1, Math.ceil(retryAfterMs / 1000)) });
}

export class ReplicaRouter {
  private readonly transport: Transport;
  private readonly ownership: Ownership;
  private readonly operations: OperationTable;
  private readonly timeoutOf: (op: ReplicaOp) => number;
  private readonly replySlackMs: number;
  private readonly loaded: (instanceId: string) => Promise<void> | undefined;
  private readonly now: () => number;
  private readonly log: Logger;
  private readonly liveness: ReplicaLiveness;
  /** Forwarded calls running here, by command id: aborted when their caller goes away. */
  private readonly running = new Map<string, AbortController>();
  /** Cancelled calls not seen yet (queued behind others), by command id, until their caller's wait would have ended. */
  private readonly cancelled = new Map<string, number>();

  constructor(options: ReplicaRouterOptions) {
    this.transport = options.transport;
    this.ownership = options.ownership;
    this.operations = options.operations;
    this.timeoutOf = options.timeoutOf;
    this.replySlackMs = options.replySlackMs;
    this.loaded = options.loaded;
    this.now = options.now ?? Date.now;
    this.log = toLogger(options.log);
    this.liveness = new ReplicaLiveness(() => this.ownership.liveReplicas(), options.livenessPollMs ?? 1_000);
  }

  /**
   * Answers the calls other replicas forward here, and their cancellations.
   * Only needed when replicas share the fleet. The returned handle stops both.
   */
  async open(): Promise<Closeable> {
    // Cancellations first: one for a call read right after must not be missed.
    const cancellations = await this.transport.subscribe(topics.callCancellations, (event) => this.onCancelled(event));
    let calls: Closeable;
    try {
      calls = await this.transport.consume(queues.replicaCalls(this.ownership.replicaId), (command) =>
        inSpan(
          'process replica.call',
          { kind: SpanKind.CONSUMER, parent: contextOf(command.trace), attributes: { 'draas.instance_id': command.instanceId, 'messaging.message.id': command.commandId } },
          () => this.onForwarded(command),
        ),
      );
    } catch (error) {
      await cancellations.close();
      throw error;
    }
    return {
      close: async () => {
        await calls.close();
        await cancellations.close();
        this.liveness.close();
      },
    };
  }

  /** Runs the operation on the instance's owner: here, or forwarded to it. */
  async call<K extends ReplicaOp>(op: K, args: ReplicaCallArgs[K], options: OperationOptions = {}): Promise<ReplicaCallResults[K]> {
    const call = { op, args } as ReplicaCall<K>;
    const instanceId = instanceIdOf(call as ReplicaCall);
    if (this.ownership.owns(instanceId)) return this.runHere(call, options);
    const location = await this.ownership.locate(instanceId);
    const owner = location.owner;
    if (owner === undefined || owner === this.ownership.replicaId) {
      throw notOwner(`no control-plane replica owns instance "${instanceId}" right now (a takeover is under way); retry`, instanceId, location.retryAfterMs);
    }
    if (!location.alive) throw this.ownerDead(instanceId, owner, location.retryAfterMs);
    return this.forward(owner, call, instanceId, options);
  }

  private async runHere<K extends ReplicaOp>(call: ReplicaCall<K>, options: OperationOptions): Promise<ReplicaCallResults[K]> {
    const loading = this.loaded(instanceIdOf(call as ReplicaCall));
    if (loading) await loading;
    const operation: OperationTable[K] = this.operations[call.op];
    return operation(call.args, options);
  }

  private ownerDead(instanceId: string, owner: string, retryAfterMs: number): StaleOwnerError {
    return notOwner(
      `the replica that owns instance "${instanceId}" (${owner}) is not alive; another takes the instance over when its lease expires; retry`,
      instanceId,
      retryAfterMs,
    );
  }

  /** Sends the call to the owner and waits for its answer, until the owner is seen dead or the caller goes away. */
  private async forward<K extends ReplicaOp>(
    owner: string,
    call: ReplicaCall<K>,
    instanceId: string,
    options: OperationOptions,
  ): Promise<ReplicaCallResults[K]> {
    if (options.signal?.aborted) throw options.signal.reason;
    const timeoutMs = this.timeoutOf(call.op) + this.replySlackMs;
    const sent = this.now();
    const payload: ForwardedCall = { ...(call as ReplicaCall), expiresAt: sent + timeoutMs };
    // The owner's span of the call is a child of this one, through the envelope's trace context.
    return inSpan(`forward ${call.op}`, { kind: SpanKind.PRODUCER, attributes: { 'draas.instance_id': instanceId, 'draas.replica_id': owner, 'messaging.destination.name': queues.replicaCalls(owner) } }, () =>
      this.forwardInSpan(owner, call, instanceId, options, timeoutMs, payload, newCommand('replica.call', instanceId, payload, { now: sent })),
    );
  }

  private async forwardInSpan<K extends ReplicaOp>(
    owner: string,
    call: ReplicaCall<K>,
    instanceId: string,
    options: OperationOptions,
    timeoutMs: number,
    payload: ForwardedCall,
    command: CommandEnvelope,
  ): Promise<ReplicaCallResults[K]> {
    const wait = new AbortController();
    let ownerDied = false;
    const callerLeft = () => wait.abort(options.signal?.reason);
    options.signal?.addEventListener('abort', callerLeft, { once: true });
    const unwatch = this.liveness.watch(owner, () => {
      ownerDied = true;
      wait.abort(new DraasError('not-owner', `replica ${owner} died`));
    });
    try {
      return (await this.transport.request(queues.replicaCalls(owner), command, { timeoutMs, signal: wait.signal })) as ReplicaCallResults[K];
    } catch (error) {
      // The owner is told its caller is gone; also when it was seen dead, as it may only have been paused.
      if (ownerDied || options.signal?.aborted) this.cancel(owner, command, payload.expiresAt);
      if (ownerDied) throw this.ownerDead(instanceId, owner, await this.retryAfterMs(instanceId));
      throw error;
    } finally {
      unwatch();
      options.signal?.removeEventListener('abort', callerLeft);
    }
  }

  private async retryAfterMs(instanceId: string): Promise<number> {
    try {
      return (await this.ownership.locate(instanceId)).retryAfterMs;
    } catch {
      return this.replySlackMs; // the lease table is unreachable; a guess of the right order
    }
  }

  /** Tells the owner its caller went away. Best effort: see `topics.callCancellations`. */
  private cancel(owner: string, command: CommandEnvelope, expiresAt: number): void {
    const payload: CallCancelled = { replicaId: owner, commandId: command.commandId, expiresAt };
    this.transport
      .publish(topics.callCancellations, newEvent(callCancelledEvent, command.instanceId, payload, { now: this.now(), trace: command.trace }))
      .catch((error: unknown) => this.log.warn(`replica calls: could not cancel ${command.commandId} on ${owner}: ${String(error)}`, { commandId: command.commandId }));
  }

  /** A call another replica forwarded: run only while this replica owns the instance and the caller still waits. */
  private async onForwarded(command: CommandEnvelope): Promise<unknown> {
    const me = this.ownership.replicaId;
    const call = command.type === 'replica.call' ? parseForwardedCall(command.payload) : undefined;
    if (!call) throw new DraasError('bad-request', `replica ${me}: not a replica call: ${command.type}`);
    const instanceId = command.instanceId;
    if (instanceIdOf(call) !== instanceId) {
      throw new DraasError('bad-request', `replica ${me}: the call names instance "${instanceIdOf(call)}", its envelope "${instanceId}"`);
    }
    // Nobody waits for these answers; they are errors only so that the entry is acknowledged, not redelivered.
    if (this.cancelled.delete(command.commandId)) {
      throw new DraasError('unavailable', `call ${command.commandId} was cancelled by its caller before it ran`);
    }
    if (call.expiresAt <= this.now()) {
      throw new DraasError('worker-timeout', `call ${command.commandId} reached replica ${me} after its caller stopped waiting`);
    }
    if (!this.ownership.owns(instanceId)) {
      const { retryAfterMs } = await this.ownership.locate(instanceId).catch(() => ({ retryAfterMs: this.replySlackMs }));
      throw notOwner(`replica ${me} no longer owns instance "${instanceId}"; retry`, instanceId, retryAfterMs);
    }
    const running = new AbortController();
    this.running.set(command.commandId, running);
    try {
      return await this.runHere(call, { signal: running.signal });
    } finally {
      this.running.delete(command.commandId);
    }
  }

  private onCancelled(event: EventEnvelope): void {
    if (event.type !== callCancelledEvent) return;
    const cancelled = parseCallCancelled(event.payload);
    if (!cancelled || cancelled.replicaId !== this.ownership.replicaId) return;
    const running = this.running.get(cancelled.commandId);
    if (running) {
      // A DraasError, so that the transport acknowledges the call instead of running it again.
      running.abort(new DraasError('unavailable', `call ${cancelled.commandId} was cancelled: its caller went away`));
      return;
    }
    this.rememberCancelled(cancelled);
  }

  private rememberCancelled({ commandId, expiresAt }: CallCancelled): void {
    const now = this.now();
    for (const [id, until] of this.cancelled) {
      if (until > now && this.cancelled.size < REMEMBERED_CANCELLATIONS) break;
      this.cancelled.delete(id);
    }
    if (expiresAt > now) this.cancelled.set(commandId, expiresAt);
  }
}
