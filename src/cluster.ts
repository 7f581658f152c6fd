/**
 * Cluster mode: the control plane and the platform workers are separate
 * processes (on separate hosts, if you like) that meet on Redis.
 */
import type { ControlPlaneOptions } from './actors/control-plane.js';
import type { PlatformWorker } from './actors/platform-worker.js';
import { HostedControlPlane } from './hosted-control-plane.js';
import { startPlatformWorker, type WorkerSettings } from './platform-workers.js';
import { createRedisTransport, type RedisTransportOptions } from './transport/redis.js';

export interface ClusterControlPlaneOptions extends Omit<ControlPlaneOptions, 'transport'> {
  redis: RedisTransportOptions;
}

export async function startClusterControlPlane(options: ClusterControlPlaneOptions): Promise<HostedControlPlane> {
  const transport = await createRedisTransport(options.redis);
  const controlPlane = new HostedControlPlane({ ...options, transport }, [transport]);
  await controlPlane.open();
  return controlPlane;
}

export interface ClusterWorker {
  worker: PlatformWorker;
  /** Stops consuming and announcing, then disconnects. Workloads keep running. Idempotent. */
  close(): Promise<void>;
}

export async function startClusterWorker(options: WorkerSettings & { redis: RedisTransportOptions }): Promise<ClusterWorker> {
  const transport = await createRedisTransport(options.redis);
  let worker: PlatformWorker;
  try {
    worker = await startPlatformWorker(transport, options);
  } catch (error) {
    await transport.close();
    throw error;
  }
  let closing: Promise<void> | undefined;
  return {
    worker,
    close: () =>
      (closing ??= (async () => {
        await worker.close();
        await transport.close();
      })()),
  };
}
