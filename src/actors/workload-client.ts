/**
 * The control plane's side of the worker protocol: sends typed workload
 * commands to a platform's queue, failing fast when no worker of that
 * platform is alive.
 */
import { NoLiveWorkerError } from '../errors.js';
import type { PlatformType } from '../platforms/driver.js';
import { newCommand } from '../transport/envelope.js';
import { queues, type Transport } from '../transport/transport.js';
import type { WorkloadCommands, WorkloadCommandType } from './workload-commands.js';

export class WorkloadClient {
  constructor(private readonly transport: Transport) {}

  async send<K extends WorkloadCommandType>(
    platform: PlatformType,
    type: K,
    instanceId: string,
    payload: WorkloadCommands[K]['payload'],
    options: { timeoutMs: number; signal?: AbortSignal },
  ): Promise<WorkloadCommands[K]['result']> {
    const live = await this.transport.presence.live(platform);
    if (!live.some((worker) => worker.available)) throw new NoLiveWorkerError(platform);
    const command = newCommand(type, instanceId, payload);
    return (await this.transport.request(queues.platformCommands(platform), command, options)) as WorkloadCommands[K]['result'];
  }
}
