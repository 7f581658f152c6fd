/**
 * The control plane's side of the worker protocol: sends typed workload
 * commands to a platform's queue (or, given the worker that runs the
 * workload, to that worker's own queue while it is alive), failing fast when
 * no worker of that platform is alive.
 *
 * Presence is read from the transport (two Redis round trips in a cluster)
 * at most every `presenceCacheMs` while it shows a live worker; an empty or
 * workerless answer is never reused, so a worker that just announced itself
 * is seen at once.
 */
import { NoLiveWorkerError } from '../errors.js';
import type { PlatformType } from '../platforms/driver.js';
import { newCommand } from '../transport/envelope.js';
import { queues, type Transport, type WorkerPresence } from '../transport/transport.js';
import type { WorkloadCommands, WorkloadCommandType } from './workload-commands.js';

export class WorkloadClient {
  private readonly presence = new Map<string, { at: number; live: WorkerPresence[] }>();

  constructor(
    private readonly transport: Transport,
    private readonly presenceCacheMs = 200,
  ) {}

  private async live(platform: string, workerId: string | undefined): Promise<WorkerPresence[]> {
    const cached = this.presence.get(platform);
    const now = performance.now();
    if (cached && now - cached.at < this.presenceCacheMs && (workerId === undefined || cached.live.some((worker) => worker.workerId === workerId))) {
      return cached.live;
    }
    const live = await this.transport.presence.live(platform);
    if (live.some((worker) => worker.available)) this.presence.set(platform, { at: now, live });
    else this.presence.delete(platform);
    return live;
  }

  async send<K extends WorkloadCommandType>(
    platform: PlatformType,
    type: K,
    instanceId: string,
    payload: WorkloadCommands[K]['payload'],
    options: { timeoutMs: number; signal?: AbortSignal; workerId?: string },
  ): Promise<WorkloadCommands[K]['result']> {
    const { workerId, ...requestOptions } = options;
    const live = await this.live(platform, workerId);
    // A workload's worker that is gone took its workloads with it (its host died): any worker may answer for it.
    const ownerPresence = workerId !== undefined ? live.find((worker) => worker.workerId === workerId) : undefined;
    // Alive but cut off from its platform (e.g. its Docker Engine): nobody else can reach that workload either.
    if (ownerPresence && !ownerPresence.available) throw new NoLiveWorkerError(platform);
    const owner = ownerPresence?.workerId;
    if (owner === undefined && !live.some((worker) => worker.available)) throw new NoLiveWorkerError(platform);
    const queue = owner === undefined ? queues.platformCommands(platform) : queues.workerCommands(platform, owner);
    const command = newCommand(type, instanceId, payload);
    return (await this.transport.request(queue, command, requestOptions)) as WorkloadCommands[K]['result'];
  }
}
