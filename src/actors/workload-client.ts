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
 */
import { NoLiveWorkerError, WorkerLostError } from '../errors.js';
import { outcomeOf, secondsSince } from '../observability/metrics.js';
import type { PlatformType } from '../platforms/driver.js';
import { newCommand } from '../transport/envelope.js';
import { queues, type Transport, type WorkerPresence } from '../transport/transport.js';
import type { WorkloadCommands, WorkloadCommandType } from './workload-commands.js';

interface LostWorker {
  workerId: string;
  /** ISO 8601. */
  since: string;
}

export interface SendOptions {
  /** The worker the instance is placed on. */
  workerId: string;
  timeoutMs: number;
  signal?: AbortSignal;
}

/** Told how each command sent to a worker ended (`ok` or the problem code) and how long its round trip took. */
export type CommandObserver = (platform: PlatformType, type: WorkloadCommandType, outcome: string, seconds: number) => void;

export class WorkloadClient {
  private readonly presence = new Map<string, { at: number; live: WorkerPresence[] }>();
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

  constructor(
    private readonly transport: Transport,
    private readonly presenceCacheMs = 200,
    private readonly now: () => number = Date.now,
    private readonly observe?: CommandObserver,
  ) {}

  /** Live workers of a platform (cached briefly while one is available). */
  async live(platform: string): Promise<WorkerPresence[]> {
    const cached = this.presence.get(platform);
    const at = performance.now();
    if (cached && at - cached.at < this.presenceCacheMs) return cached.live;
    const live = this.withoutWithdrawn(await this.transport.presence.live(platform), platform);
    if (live.some((worker) => worker.available)) this.presence.set(platform, { at, live });
    else this.presence.delete(platform);
    return live;
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
    const candidates = (await this.live(platform)).filter((worker) => worker.available);
    if (candidates.length === 0) throw new NoLiveWorkerError(platform);
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
    this.presence.delete(platform);
    const waiting = this.waiting.get(workerId);
    if (waiting) {
      this.waiting.delete(workerId);
      for (const fail of waiting) fail({ workerId, since: new Date(since).toISOString() });
    }
    return since;
  }

  /** A lost worker announced itself again. */
  markReturned(workerId: string): void {
    this.lost.delete(workerId);
  }

  /**
   * Sends a command to the worker the instance is placed on and resolves with
   * its reply. Fails at once with WorkerLostError when that worker is gone
   * (also while the request waits), and with NoLiveWorkerError when it is alive
   * but cannot reach its platform.
   */
  async send<K extends WorkloadCommandType>(
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
    if (!worker.available) throw new NoLiveWorkerError(platform);
    const command = newCommand(type, instanceId, payload);
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
      this.observe?.(platform, type, 'ok', secondsSince(sentAt));
      return result;
    } catch (error) {
      this.observe?.(platform, type, outcomeOf(lostError ?? error), secondsSince(sentAt));
      throw lostError ?? error;
    } finally {
      waiting.delete(fail);
      if (waiting.size === 0 && this.waiting.get(workerId) === waiting) this.waiting.delete(workerId);
      options.signal?.removeEventListener('abort', onAbort);
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
    await this.transport.send(queues.workerCommands(platform, workerId), newCommand(type, instanceId, payload));
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
    this.presence.delete(platform);
    return find(await this.live(platform));
  }
}
