/**
 * The control plane's side of the worker protocol: places instances on
 * workers, sends typed workload commands to the worker an instance is placed
 * on, and knows which workers are alive.
 *
 * - **Placement.** Every command goes to one worker's own queue. An unplaced
 *   instance is placed on the live, available worker of its platform that
 *   runs the fewest workloads (it says how many in its presence).
 * - **Lost workers.** A worker whose presence expired or that withdrew is
 *   *lost*: a command for it fails at once with `WorkerLostError` (never sent
 *   to another worker, which would start a second server), and the commands
 *   waiting for its replies are failed the moment it is found lost.
 *   `defer` queues a command for it instead, to run when it returns.
 * - **Presence** is read from the transport at most every `presenceCacheMs`
 *   while it shows a live worker; an empty or workerless answer is never
 *   reused, so a worker that just announced itself is seen at once, and a
 *   withdrawal (`worker.withdrawn`) is applied the moment it is received.
 * - **Circuit breakers**, one per worker: a worker that lets `failureThreshold`
 *   commands in a row go unanswered (timeouts; a reply of any kind is an
 *   answer) gets no more commands for a cool-down: they fail at once with a
 *   503 `unavailable` carrying `Retry-After`, nothing sent (the instance's
 *   machine treats it like any request that did not reach a worker). After
 *   the cool-down, a cheap `workload.list` with a short timeout probes it; its
 *   answer closes the circuit, silence opens it again for longer. A worker
 *   that returns (announces itself after being lost) starts closed. Placement
 *   passes over workers whose circuit is open.
 */
import { DraasError, NoLiveWorkerError, WorkerLostError, WorkerTimeoutError } from '../errors.js';
import { outcomeOf, secondsSince } from '../observability/metrics.js';
import { CircuitBreaker, type CircuitSettings, type CircuitState, type Permit } from '../resilience/circuit-breaker.js';
import type { PlatformType } from '../platforms/driver.js';
import { trace } from '@opentelemetry/api';
import { inSpan, SpanKind } from '../observability/tracing.js';
import { newCommand } from '../transport/envelope.js';
import { queues, type Transport, type WorkerPresence } from '../transport/transport.js';
import type { WorkloadCommands, WorkloadCommandType } from './workload-commands.js';

/** The attributes of a command's spans (messaging conventions, plus what draas calls things). */
function commandAttributes(type: string, instanceId: string, queue: string, workerId: string): Record<string, string> {
  return {
    'messaging.operation.type': 'send',
    'messaging.destination.name': queue,
    'draas.command.type': type,
    'draas.instance_id': instanceId,
    'draas.worker_id': workerId,
  };
}

interface LostWorker {
  workerId: string;
  /** ISO 8601. */
  since: string;
}

/** The control plane's breaker toward one worker, as `GET /api/platforms` and metrics show it. */
export interface WorkerCircuitState extends CircuitState {
  platform: string;
  workerId: string;
}

export interface WorkerCircuitOptions {
  /** Breaker settings; default: 3 unanswered commands in a row, 5 s cool-down doubling to 60 s, 20 % jitter. */
  settings?: Partial<CircuitSettings>;
  /** How long the half-open probe (`workload.list`) waits for its answer. Default 2 s. */
  probeTimeoutMs?: number;
}

export const defaultWorkerCircuit: Partial<CircuitSettings> = { failureThreshold: 3, coolDownMs: 5_000, maxCoolDownMs: 60_000, jitter: 0.2 };

export interface SendOptions {
  /** The worker the instance is placed on. */
  workerId: string;
  timeoutMs: number;
  signal?: AbortSignal;
}

/** Told how each command sent to a worker ended (`ok` or the problem code) and how long its round trip took. */
export type CommandObserver = (platform: PlatformType, type: WorkloadCommandType, outcome: string, seconds: number) => void;

/**
 * Why a live worker takes no commands, as its presence says, and when it may
 * again: the soonest probe of an open engine circuit it reports.
 */
export function unavailableOf(worker: WorkerPresence, now: number): { reason: string; retryAfterSeconds?: number } | undefined {
  const reason = worker.details['unavailableReason'];
  if (typeof reason !== 'string') return undefined;
  const circuits = Array.isArray(worker.details['circuits']) ? (worker.details['circuits'] as unknown[]) : [];
  const probes = circuits
    .map((circuit) => (typeof circuit === 'object' && circuit !== null ? (circuit as Record<string, unknown>)['nextProbeAt'] : undefined))
    .filter((at): at is string => typeof at === 'string')
    .map((at) => Date.parse(at) - now)
    .filter((ms) => Number.isFinite(ms));
  // A worker looks again at each heartbeat; without a known probe time, a second is a fair guess.
  const retryAfterSeconds = Math.max(1, Math.ceil((probes.length > 0 ? Math.min(...probes) : 1_000) / 1000));
  return { reason, retryAfterSeconds };
}

export class WorkloadClient {
  private readonly presence = new Map<string, { at: number; live: WorkerPresence[] }>();
  private readonly presenceReads = new Map<string, Promise<WorkerPresence[]>>();
  private readonly observe: CommandObserver | undefined;
  /** Workers found gone, and since when (epoch ms). */
  private readonly lost = new Map<string, number>();
  /** Requests waiting for a reply, per worker: failed at once when it is found lost. */
  private readonly waiting = new Map<string, Set<(lost: LostWorker) => void>>();
  /**
   * Workers that withdrew. Their presence may still be read for a moment after
   * the withdrawal event arrives (another connection), so they are left out of
   * presence answers until one no longer lists them; listed after that, they
   * are back.
   */
  private readonly withdrawn = new Map<string, string>();
  /** One breaker per worker commands were sent to, with its platform. */
  private readonly circuits = new Map<string, { platform: string; breaker: CircuitBreaker }>();
  private readonly circuitSettings: Partial<CircuitSettings>;
  private readonly probeTimeoutMs: number;

  constructor(
    private readonly transport: Transport,
    private readonly presenceCacheMs = 200,
    private readonly now: () => number = Date.now,
    { observe, circuit = {} }: { observe?: CommandObserver; circuit?: WorkerCircuitOptions } = {},
  ) {
    this.observe = observe;
    // Consecutive timeouts only, unless a ratio is asked for: timeouts are rare events, a ratio over few calls misleads.
    this.circuitSettings = { ...defaultWorkerCircuit, ...circuit.settings, failureRatio: circuit.settings?.failureRatio };
    this.probeTimeoutMs = circuit.probeTimeoutMs ?? 2_000;
  }

  /** The breaker toward each worker commands were sent to. */
  circuitStates(): WorkerCircuitState[] {
    return [...this.circuits].map(([workerId, { platform, breaker }]) => ({ ...breaker.state(), platform, workerId }));
  }

  private breakerOf(platform: string, workerId: string): CircuitBreaker {
    let entry = this.circuits.get(workerId);
    if (!entry) {
      entry = { platform, breaker: new CircuitBreaker(`worker ${workerId}`, { settings: this.circuitSettings, clock: this.now }) };
      this.circuits.set(workerId, entry);
    }
    return entry.breaker;
  }

  /** Whether the worker's circuit refuses commands now (open, cool-down not over). Changes nothing. */
  private refuses(workerId: string): CircuitState | undefined {
    const state = this.circuits.get(workerId)?.breaker.state();
    return state?.status === 'open' && state.nextProbeAt !== null && Date.parse(state.nextProbeAt) > this.now() ? state : undefined;
  }

  private circuitOpen(platform: string, workerId: string, retryAfterMs: number, state: CircuitState): DraasError {
    const seconds = Math.max(1, Math.ceil(retryAfterMs / 1000));
    const what = state.status === 'open' ? `it left ${state.consecutiveFailures} command(s) in a row unanswered (last: ${state.lastError ?? 'unknown'})` : 'a probe of it is under way';
    return new DraasError('unavailable', `worker ${workerId} of platform "${platform}" is not sent commands now: ${what}; retry in ${seconds} s`, {
      platform,
      workerId,
      circuit: state,
      retryAfterSeconds: seconds,
    });
  }

  /** Live workers of a platform (cached briefly while one is available; callers that ask while it is read share the read). */
  async live(platform: string): Promise<WorkerPresence[]> {
    const cached = this.presence.get(platform);
    const at = performance.now();
    if (cached && at - cached.at < this.presenceCacheMs) return cached.live;
    const shared = this.presenceReads.get(platform);
    if (shared) return shared;
    const reading: Promise<WorkerPresence[]> = this.transport.presence.live(platform).then(
      (answer) => {
        const current = this.presenceReads.get(platform) === reading;
        if (current) this.presenceReads.delete(platform);
        const live = this.withoutWithdrawn(answer, platform);
        // A read overtaken by forgetPresence answers its callers but is not kept.
        if (current && live.some((worker) => worker.available)) this.presence.set(platform, { at, live });
        else if (current) this.presence.delete(platform);
        return live;
      },
      (error: unknown) => {
        if (this.presenceReads.get(platform) === reading) this.presenceReads.delete(platform);
        throw error;
      },
    );
    this.presenceReads.set(platform, reading);
    return reading;
  }

  /** Forgets what is known of a platform's presence: the next look reads it anew (not joining a read already under way). */
  private forgetPresence(platform: string): void {
    this.presence.delete(platform);
    this.presenceReads.delete(platform);
  }

  /** Live workers of every platform, read now (withdrawn ones left out until their presence is gone). */
  async liveWorkers(): Promise<WorkerPresence[]> {
    return this.withoutWithdrawn(await this.transport.presence.live());
  }

  /** `answer`: presence of `platform`, or of every platform. */
  private withoutWithdrawn(answer: WorkerPresence[], platform?: string): WorkerPresence[] {
    for (const [workerId, of] of this.withdrawn) {
      if ((platform === undefined || platform === of) && !answer.some((worker) => worker.workerId === workerId)) this.withdrawn.delete(workerId);
    }
    return answer.filter((worker) => !this.withdrawn.has(worker.workerId));
  }

  /** Picks the worker for an unplaced instance: available, fewest workloads. Throws NoLiveWorkerError. */
  async place(platform: PlatformType): Promise<string> {
    const live = await this.live(platform);
    const available = live.filter((worker) => worker.available);
    if (available.length === 0) throw new NoLiveWorkerError(platform, live[0] ? unavailableOf(live[0], this.now()) : undefined);
    const candidates = available.filter((worker) => this.refuses(worker.workerId) === undefined);
    if (candidates.length === 0) {
      const first = available[0]!.workerId;
      const state = this.refuses(first)!;
      throw this.circuitOpen(platform, first, Date.parse(state.nextProbeAt!) - this.now(), state);
    }
    const load = (worker: WorkerPresence) => (typeof worker.details.workloads === 'number' ? worker.details.workloads : 0);
    const least = Math.min(...candidates.map(load));
    const best = candidates.filter((worker) => load(worker) === least);
    return best[Math.floor(Math.random() * best.length)]!.workerId;
  }

  /** When `workerId` was found lost (epoch ms), or undefined while it is alive or never seen lost. */
  lostSince(workerId: string): number | undefined {
    return this.lost.get(workerId);
  }

  /**
   * Records that a worker is gone (its presence expired, or it withdrew) and
   * fails every request waiting for its reply. Returns when it was first found
   * lost.
   */
  markLost(workerId: string, platform: string, options: { withdrawn?: boolean } = {}): number {
    let since = this.lost.get(workerId);
    if (since === undefined) {
      since = this.now();
      this.lost.set(workerId, since);
    }
    if (options.withdrawn) this.withdrawn.set(workerId, platform);
    this.forgetPresence(platform);
    const waiting = this.waiting.get(workerId);
    if (waiting) {
      this.waiting.delete(workerId);
      for (const fail of waiting) fail({ workerId, since: new Date(since).toISOString() });
    }
    return since;
  }

  /** A lost worker announced itself again: it is a new start, its circuit closed. */
  markReturned(workerId: string): void {
    this.lost.delete(workerId);
    this.circuits.get(workerId)?.breaker.reset();
  }

  /**
   * Sends a command to the worker the instance is placed on and resolves with
   * its reply. Fails at once with WorkerLostError when that worker is gone
   * (also while the request waits), and with NoLiveWorkerError when it is alive
   * but cannot reach its platform.
   */
  send<K extends WorkloadCommandType>(
    platform: PlatformType,
    type: K,
    instanceId: string,
    payload: WorkloadCommands[K]['payload'],
    options: SendOptions,
  ): Promise<WorkloadCommands[K]['result']> {
    const queue = queues.workerCommands(platform, options.workerId);
    // The command carries this span's context (newCommand reads the active span): the worker's span is its child.
    return inSpan(`send ${type}`, { kind: SpanKind.PRODUCER, attributes: commandAttributes(type, instanceId, queue, options.workerId) }, () =>
      this.sendInSpan(platform, type, instanceId, payload, options),
    );
  }

  private async sendInSpan<K extends WorkloadCommandType>(
    platform: PlatformType,
    type: K,
    instanceId: string,
    payload: WorkloadCommands[K]['payload'],
    options: SendOptions,
  ): Promise<WorkloadCommands[K]['result']> {
    const { workerId } = options;
    const worker = await this.worker(platform, workerId);
    if (!worker) {
      // Not marked lost here: the worker watch does that, and tells the worker's instances.
      const since = this.lost.get(workerId) ?? this.now();
      throw new WorkerLostError(instanceId, { workerId, since: new Date(since).toISOString() });
    }
    if (!worker.available) throw new NoLiveWorkerError(platform, unavailableOf(worker, this.now()));
    const breaker = this.breakerOf(platform, workerId);
    let admission = breaker.admit();
    if (admission.admitted && admission.permit.probe) {
      // Half-open: a cheap command with a short timeout finds out whether the worker answers before this one is sent.
      await this.probe(platform, workerId, breaker, admission.permit);
      admission = breaker.admit();
    }
    if (!admission.admitted) throw this.circuitOpen(platform, workerId, admission.retryAfterMs, admission.state);
    const permit = admission.permit;
    const command = newCommand(type, instanceId, payload);
    trace.getActiveSpan()?.setAttribute('messaging.message.id', command.commandId);
    const aborted = new AbortController();
    const onAbort = () => aborted.abort(options.signal?.reason);
    options.signal?.addEventListener('abort', onAbort, { once: true });
    if (options.signal?.aborted) onAbort();
    let lostError: Error | undefined;
    const fail = (lost: LostWorker) => {
      lostError = new WorkerLostError(instanceId, lost);
      aborted.abort(lostError);
    };
    let waiting = this.waiting.get(workerId);
    if (!waiting) this.waiting.set(workerId, (waiting = new Set()));
    waiting.add(fail);
    const sentAt = performance.now();
    try {
      const result = (await this.transport.request(queues.workerCommands(platform, workerId), command, {
        timeoutMs: options.timeoutMs,
        signal: aborted.signal,
      })) as WorkloadCommands[K]['result'];
      breaker.success(permit);
      this.observe?.(platform, type, 'ok', secondsSince(sentAt));
      return result;
    } catch (error) {
      this.count(breaker, permit, lostError ?? error, aborted.signal.aborted);
      this.observe?.(platform, type, outcomeOf(lostError ?? error), secondsSince(sentAt));
      throw lostError ?? error;
    } finally {
      waiting.delete(fail);
      if (waiting.size === 0 && this.waiting.get(workerId) === waiting) this.waiting.delete(workerId);
      options.signal?.removeEventListener('abort', onAbort);
    }
  }

  /**
   * What a failed request says about its worker: no answer in time counts
   * against it; a reply (an error reply too) is an answer; a lost worker, an
   * abort or a transport that could not carry the request say nothing.
   */
  private count(breaker: CircuitBreaker, permit: Permit, error: unknown, aborted: boolean): void {
    if (error instanceof WorkerTimeoutError) breaker.failure(permit, error.message);
    else if (aborted || error instanceof WorkerLostError || (error instanceof DraasError && error.code === 'unavailable')) breaker.release(permit);
    else breaker.success(permit);
  }

  /** The half-open probe: `workload.list`, read-only, answered by the worker without waiting behind any instance's command. */
  private async probe(platform: string, workerId: string, breaker: CircuitBreaker, permit: Permit): Promise<void> {
    try {
      await this.transport.request(queues.workerCommands(platform, workerId), newCommand('workload.list', '*', {}), { timeoutMs: this.probeTimeoutMs });
      breaker.success(permit);
    } catch (error) {
      this.count(breaker, permit, error, false);
    }
  }

  /**
   * Queues a command for a worker that is away; it runs when the worker
   * returns (its queue is durable on Redis). Nobody waits for its reply.
   */
  async defer<K extends WorkloadCommandType>(
    platform: PlatformType,
    type: K,
    instanceId: string,
    payload: WorkloadCommands[K]['payload'],
    workerId: string,
  ): Promise<void> {
    const queue = queues.workerCommands(platform, workerId);
    await inSpan(`send ${type}`, { kind: SpanKind.PRODUCER, attributes: { ...commandAttributes(type, instanceId, queue, workerId), 'draas.deferred': true } }, () =>
      this.transport.send(queue, newCommand(type, instanceId, payload)),
    );
  }

  /** Whether the worker is alive (announced itself recently, and has not withdrawn since). */
  async isAlive(platform: string, workerId: string): Promise<boolean> {
    return (await this.worker(platform, workerId)) !== undefined;
  }

  /** The worker's presence when it is alive. */
  private async worker(platform: string, workerId: string): Promise<WorkerPresence | undefined> {
    const find = (live: WorkerPresence[]) => live.find((worker) => worker.workerId === workerId);
    const cached = find(await this.live(platform));
    if (cached) return cached;
    // Not in a cached answer: ask again before calling it lost (it may have just announced itself).
    this.forgetPresence(platform);
    return find(await this.live(platform));
  }
}
