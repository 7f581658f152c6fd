/**
 * A platform worker: owns one platform driver, consumes its own command queue
 * (the control plane places every instance on one worker and sends all of its
 * commands there, so no other worker can start it twice), announces itself
 * (presence, with how many workloads it runs) and publishes what its driver
 * observes (exits, health, progress, adoptions). While its driver cannot
 * reach the platform it takes no commands and announces itself unavailable.
 * Commands for one instance run one at a time, in arrival order; a
 * redelivered command id gets the first outcome. Commands a previous
 * incarnation of this worker took and never finished are not run again (the
 * control plane gave up on them when it lost the worker).
 *
 * The worker id must stay the same across restarts (the default is derived
 * from the host and what the worker manages, see `platform-workers.ts`): it
 * names the queue where commands for its instances wait while it is away.
 */
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { BadRequestError, ConflictError, DraasError, WorkloadFailedError, errorMessage } from '../errors.js';
import type { CircuitState } from '../resilience/circuit-breaker.js';
import { applyComponentCalls, ComponentApiError, readObservedComponents } from '../platforms/component-api.js';
import type { ServerHttp } from '../platforms/timed-fetch.js';
import type { PlatformDriver, WorkloadEvent, WorkloadRef } from '../platforms/driver.js';
import { newEvent, type CommandEnvelope, type EventEnvelope } from '../transport/envelope.js';
import { queues, topics, type Closeable, type Transport } from '../transport/transport.js';
import { contextOf, inSpan, SpanKind } from '../observability/tracing.js';
import { toLogger, type LogOption, type Logger } from '../observability/logger.js';
import { KeyedSerializer } from './keyed-serializer.js';
import { OutcomeCache } from './outcome-cache.js';
import { failureOf, within } from '../time-bounds.js';
import { isWorkloadCommandType, type WorkloadCommands, type WorkloadCommandType } from './workload-commands.js';
import { workloadCommandPayloadSchemas } from './workload-schemas.js';
import { MetricsRegistry, outcomeOf, secondsSince } from '../observability/metrics.js';
import { WorkerMetrics } from '../observability/worker-metrics.js';

/** One request to a server's component API (a list, a full read, one create): a healthy server answers in milliseconds. */
const SERVER_CALL_TIMEOUT_MS = 5_000;

export interface PlatformWorkerOptions {
  transport: Transport;
  driver: PlatformDriver;
  workerId?: string;
  /** How often presence is refreshed; it expires after three missed beats. */
  heartbeatMs?: number;
  /** How long close() waits for the transport, in all (default 2 s). */
  closeTimeoutMs?: number;
  /** Where its metrics are kept (default: a registry of its own, `metrics`). */
  metrics?: MetricsRegistry;
  /** Where the worker logs: a `Logger`, or a function that takes each message (info and above). */
  log?: LogOption;
}

type Handlers = {
  [K in WorkloadCommandType]: (command: CommandEnvelope<K, WorkloadCommands[K]['payload']>) => Promise<WorkloadCommands[K]['result']>;
};

export class PlatformWorker {
  readonly workerId: string;
  readonly platform: string;
  private readonly transport: Transport;
  private readonly driver: PlatformDriver;
  private readonly heartbeatMs: number;
  private readonly closeTimeoutMs: number;
  private readonly log: Logger;
  private readonly serializer = new KeyedSerializer();
  private readonly outcomes = new OutcomeCache();
  private consumers: Closeable[] = [];
  private unwatch: (() => void) | undefined;
  private heartbeat: NodeJS.Timeout | undefined;
  private closing: Promise<void> | undefined;
  private checking: Promise<void> | undefined;
  private refreshing: Promise<void> | undefined;
  private unavailable: string | undefined;
  private adopted: WorkloadRef[] = [];
  private workloadCount = 0;
  /** Its Prometheus series (shared with the control plane in embedded mode). */
  readonly metrics: MetricsRegistry;
  private readonly measures: WorkerMetrics;

  /** One handler per command type. */
  private readonly handlers: Handlers = {
    'workload.start': async (command) => {
      const { replaces, ...spec } = command.payload;
      // The instance's previous workload ran on a worker that was lost: where this driver can reach it, it goes first.
      if (replaces && this.driver.reap) {
        const reap = this.driver.reap.bind(this.driver);
        const outcome = await this.driverCall('reap', command.instanceId, () => reap(replaces));
        this.log.info(`${this.workerId}: previous workload ${replaces.workloadId} of "${command.instanceId}" (worker ${replaces.workerId ?? '?'}): ${outcome.reaped ? 'stopped' : 'left alone'}: ${outcome.reason}`, {
          instanceId: command.instanceId,
          commandId: command.commandId,
        });
      }
      return { ...(await this.driverCall('start', command.instanceId, () => this.driver.start(spec))), workerId: this.workerId };
    },
    'workload.stop': (command) => this.driverCall('stop', command.instanceId, () => this.driver.stop(command.instanceId, command.payload)),
    'workload.remove': async (command) => {
      await this.driverCall('remove', command.instanceId, () => this.driver.remove(command.instanceId, command.payload));
      return { removed: true as const };
    },
    'workload.inspect': async (command) => {
      const state = await this.driverCall('inspect', command.instanceId, () => this.driver.inspect(command.instanceId));
      return state.state === 'absent' ? state : { ...state, ref: { ...state.ref, workerId: this.workerId } };
    },
    'workload.logs': async ({ instanceId, payload: { tail, after } }) => {
      if (after === undefined) return { lines: await this.driverCall('logs', instanceId, () => this.driver.logs(instanceId, { tail })) };
      return this.driverCall('readLogs', instanceId, () => this.driver.readLogs(instanceId, { tail, ...(after !== null ? { after } : {}) }));
    },
    'workload.list': async () => (await this.driverCall('list', '*', () => this.driver.list())).map((ref) => ({ ...ref, workerId: this.workerId })),
    'workload.components': async ({ instanceId, payload }) => {
      try {
        return await readObservedComponents(this.serverApi(instanceId), { full: payload.full, timeoutMs: SERVER_CALL_TIMEOUT_MS });
      } catch (error) {
        // Told apart from a transport failure by its reason: the server itself did not answer, or answered nonsense.
        if (error instanceof ComponentApiError) {
          throw new WorkloadFailedError(error.message, { reason: 'server-api-failed', status: error.status, code: error.code, retryable: error.retryable });
        }
        throw error;
      }
    },
    'workload.apply': ({ instanceId, payload }) => applyComponentCalls(this.serverApi(instanceId), payload.calls, { timeoutMs: SERVER_CALL_TIMEOUT_MS }),
  };

  /** A driver call in its own span (`driver.start`, ...): what the platform took, e.g. a process spawn, inside the command's span. */
  private driverCall<T>(call: string, instanceId: string, run: () => Promise<T>): Promise<T> {
    return inSpan(`driver.${call}`, { attributes: { 'draas.platform': this.platform, 'draas.instance_id': instanceId, 'draas.worker_id': this.workerId } }, run);
  }

  /** How this worker reaches the instance's running server; a ConflictError when it cannot. */
  private serverApi(instanceId: string): ServerHttp {
    if (!this.driver.serverApi) {
      throw new ConflictError(`the ${this.platform} platform's worker cannot reach a server's own API`, { reason: 'server-api-unreachable' });
    }
    const server = this.driver.serverApi(instanceId);
    if (server === undefined) throw new ConflictError(`no server of "${instanceId}" runs on worker ${this.workerId}`, { reason: 'not-running' });
    return server;
  }

  constructor(options: PlatformWorkerOptions) {
    this.transport = options.transport;
    this.driver = options.driver;
    this.platform = options.driver.platform;
    this.workerId = options.workerId ?? `${this.platform}-${randomUUID().slice(0, 8)}`;
    this.heartbeatMs = options.heartbeatMs ?? 2_000;
    this.closeTimeoutMs = options.closeTimeoutMs ?? 2_000;
    this.log = toLogger(options.log).child({ workerId: this.workerId, platform: this.platform });
    this.metrics = options.metrics ?? new MetricsRegistry();
    this.measures = new WorkerMetrics(this.metrics);
    this.measures.watch({ platform: this.platform, workloads: () => this.workloadCount, available: () => !this.closing && this.consumers.length > 0 });
  }

  async start(): Promise<void> {
    this.unwatch = this.driver.watch((event) => void this.publish(event));
    await this.checkAvailability();
    await this.announce();
    this.heartbeat = setInterval(() => void this.beat(), this.heartbeatMs);
    this.heartbeat.unref();
  }

  /** Why the worker takes no commands now (its platform is unreachable), or undefined when it takes them. */
  get unavailableReason(): string | undefined {
    return this.unavailable;
  }

  /** The circuit breakers in front of this worker's engine (none for a driver without one). */
  circuitStates(): CircuitState[] {
    return this.driver.circuits?.() ?? [];
  }

  /**
   * A command found the engine unreachable (or its circuit open): the
   * worker looks again now instead of at its next heartbeat, so that it stops
   * taking commands and says why at once. Never overlaps a heartbeat's look.
   */
  private engineFailed(): void {
    if (this.closing || this.refreshing) return;
    this.refreshing = (async () => {
      try {
        await this.checkAvailability();
        await this.announce();
      } finally {
        this.refreshing = undefined;
      }
    })();
  }

  private async beat(): Promise<void> {
    await this.checkAvailability();
    this.workloadCount = await this.driver.list().then((refs) => refs.length, () => this.workloadCount);
    await this.announce();
  }

  /**
   * Consumes commands while the driver can reach its platform, and none while
   * it cannot (a command taken then could only fail; left queued, another
   * worker or this one later handles it). Never overlaps itself.
   */
  private checkAvailability(): Promise<void> {
    this.checking ??= (async () => {
      try {
        const availability = this.driver.availability ? await this.driver.availability() : ({ available: true } as const);
        if (this.closing) return;
        if (availability.available) {
          if (this.consumers.length === 0) await this.takeCommands();
          this.unavailable = undefined;
        } else {
          if (this.unavailable === undefined) this.log.warn(`${this.workerId}: unavailable, taking no commands: ${availability.reason}`);
          this.unavailable = availability.reason;
          await this.stopTakingCommands();
        }
      } catch (error) {
        this.unavailable = errorMessage(error);
        this.log.warn(`${this.workerId}: unavailable, taking no commands: ${this.unavailable}`);
        await this.stopTakingCommands();
      } finally {
        this.checking = undefined;
      }
    })();
    return this.checking;
  }

  private async takeCommands(): Promise<void> {
    // Before any command: take over what a previous worker left running (so no start duplicates it),
    // and report what died meanwhile like any other exit.
    if (this.driver.recover) {
      const report = await this.driver.recover();
      for (const { instanceId, ref, exit } of report.lost) {
        await this.publish({ type: 'exited', instanceId, ref, exit: { ...exit, requested: false }, at: new Date().toISOString() });
      }
      this.adopted = report.adopted;
      await this.publishAdopted();
      this.log.info(`${this.workerId}: recovery adopted ${report.adopted.length}, lost ${report.lost.length}`);
    }
    this.consumers.push(
      await this.transport.consume(queues.workerCommands(this.platform, this.workerId), (command) => this.handle(command), { redeliver: false }),
    );
  }

  /**
   * Publishes `workload.adopted` for what the last recovery took over, so the
   * control plane can report adopted workloads without an instance record
   * (orphans). Done at recovery; call it again once a control plane that was
   * not yet subscribed then (embedded mode) listens.
   */
  async publishAdopted(): Promise<void> {
    for (const ref of this.adopted) await this.publishEnvelope(newEvent('workload.adopted', ref.instanceId, { ref, workerId: this.workerId }));
  }

  private async stopTakingCommands(): Promise<void> {
    const consumers = this.consumers;
    this.consumers = [];
    await Promise.all(consumers.map((consumer) => consumer.close()));
  }

  /**
   * Dispatches on `type`; runs once per command id, one at a time per
   * instance. Counted and timed by type and outcome, in a `CONSUMER` span
   * whose parent is the trace context the command carries (the control
   * plane's span that sent it).
   */
  handle(command: CommandEnvelope): Promise<unknown> {
    const type = isWorkloadCommandType(command.type) ? command.type : 'unknown';
    return inSpan(
      `process ${type}`,
      {
        kind: SpanKind.CONSUMER,
        parent: contextOf(command.trace),
        attributes: {
          'messaging.operation.type': 'process',
          'messaging.message.id': command.commandId,
          'draas.command.type': type,
          'draas.instance_id': command.instanceId,
          'draas.worker_id': this.workerId,
        },
      },
      async () => {
        const began = performance.now();
        const fields = { commandId: command.commandId, instanceId: command.instanceId, type };
        try {
          const result = await this.handleCommand(command);
          this.measures.handled(this.platform, type, 'ok', secondsSince(began));
          this.log.debug(`${type} done`, { ...fields, durationMs: Math.round(performance.now() - began) });
          return result;
        } catch (error) {
          this.measures.handled(this.platform, type, outcomeOf(error), secondsSince(began));
          this.log.warn(`${type} failed: ${errorMessage(error)}`, { ...fields, durationMs: Math.round(performance.now() - began) });
          throw error;
        }
      },
    );
  }

  private handleCommand(command: CommandEnvelope): Promise<unknown> {
    const type = command.type;
    if (!isWorkloadCommandType(type)) return Promise.reject(new BadRequestError(`unknown command type "${type}"`));
    const payload = workloadCommandPayloadSchemas[type].safeParse(command.payload);
    if (!payload.success) {
      return Promise.reject(new BadRequestError(`malformed ${type} payload: ${payload.error.issues.map((issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`).join('; ')}`));
    }
    command = { ...command, payload: payload.data };
    // Log reads are read-only and must not wait behind a start or stop of the same instance (a follow polls).
    if (type === 'workload.logs') return this.dispatch(type, command);
    const run = () =>
      this.serializer.run(command.instanceId, () =>
        this.dispatch(type, command).catch((error: unknown) => {
          if (error instanceof DraasError && error.code === 'unavailable') this.engineFailed();
          throw error;
        }),
      );
    // A list is read-only and as large as the fleet: run again on redelivery rather than kept (a cache of
    // 10,000 outcomes of 10,000 refs each was gigabytes when every reconcile check of an instance sent one).
    if (type === 'workload.list') return run();
    return this.outcomes.once(command.commandId, run);
  }

  private dispatch<K extends WorkloadCommandType>(type: K, command: CommandEnvelope): Promise<unknown> {
    const handler = this.handlers[type] as (command: CommandEnvelope) => Promise<unknown>;
    return handler(command);
  }

  private async announce(): Promise<void> {
    try {
      await this.transport.presence.announce(
        {
          workerId: this.workerId,
          platform: this.platform,
          available: this.consumers.length > 0,
          details: {
            pid: process.pid,
            workloads: this.workloadCount,
            ...(this.unavailable !== undefined ? { unavailableReason: this.unavailable } : {}),
            ...(this.driver.circuits ? { circuits: this.driver.circuits() } : {}),
          },
        },
        this.heartbeatMs * 3,
      );
    } catch {
      // The next beat retries; presence expiring is the correct signal if it keeps failing.
    }
  }

  private publish(event: WorkloadEvent): Promise<void> {
    const workerId = this.workerId;
    switch (event.type) {
      case 'exited':
        this.measures.exited(this.platform, event.exit.requested);
        return this.publishEnvelope(newEvent('workload.exited', event.instanceId, { ref: event.ref, exit: event.exit, workerId }));
      case 'health':
        return this.publishEnvelope(newEvent('workload.health', event.instanceId, { ref: event.ref, healthy: event.healthy, workerId }));
      case 'progress':
        return this.publishEnvelope(newEvent('workload.progress', event.instanceId, { message: event.message, workerId }));
    }
  }

  private async publishEnvelope(envelope: EventEnvelope): Promise<void> {
    try {
      await this.transport.publish(topics.workloadEvents, envelope);
    } catch {
      // Exits are also found by inspect when the control plane settles an instance.
    }
  }

  /**
   * Stops consuming and announcing; leaves workloads running. The steps that
   * need the transport share `closeTimeoutMs`: a presence that cannot
   * be withdrawn is logged and left to expire. Idempotent.
   */
  close(): Promise<void> {
    this.closing ??= (async () => {
      if (this.heartbeat) clearInterval(this.heartbeat);
      const began = performance.now();
      const left = () => Math.max(0, this.closeTimeoutMs - (performance.now() - began));
      await within(this.checking ?? Promise.resolve(), left());
      await within(this.stopTakingCommands(), left());
      this.unwatch?.();
      // Said before the presence goes: a control plane that reads it sends nothing more here (and marks its instances' worker lost).
      await within(this.publishEnvelope(newEvent('worker.withdrawn', '*', { workerId: this.workerId, platform: this.platform })), left());
      const withdrawn = await within(this.transport.presence.withdraw(this.platform, this.workerId), left());
      const why = failureOf(withdrawn, this.closeTimeoutMs);
      if (why !== undefined) {
        this.log.warn(`${this.workerId}: presence of worker ${this.workerId} not withdrawn (${why}); it expires within ${this.heartbeatMs * 3} ms`);
      }
      await this.driver.close();
    })();
    return this.closing;
  }
}
