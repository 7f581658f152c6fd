/**
 * Cluster mode: the control plane and the platform workers are separate
 * processes (on separate hosts, if you like) that meet on Redis.
 */
import type { ControlPlaneOptions } from './actors/control-plane.js';
import type { PlatformWorker } from './actors/platform-worker.js';
import { HostedControlPlane } from './hosted-control-plane.js';
import { startPlatformWorker, type WorkerSettings } from './platform-workers.js';
import { RedisInstanceStore } from './store/redis-store.js';
import { createRedisTransport, type RedisTransportOptions } from './transport/redis.js';

export interface ClusterControlPlaneOptions extends Omit<ControlPlaneOptions, 'transport'> {
  redis: RedisTransportOptions;
}

/**
 * Instance records, actor snapshots and the change log live in the same Redis
 * as the transport (unless a `store` is given), so a restarted control plane
 * rehydrates every instance from there.
 */
export async function startClusterControlPlane(options: ClusterControlPlaneOptions): Promise<HostedControlPlane> {
  const { redis } = options;
  const store =
    options.store ??
    (await RedisInstanceStore.open({
      url: redis.url,
      ...(redis.prefix !== undefined ? { prefix: redis.prefix } : {}),
      ...(redis.connectTimeoutMs !== undefined ? { connectTimeoutMs: redis.connectTimeoutMs } : {}),
      ...(options.log ? { log: options.log } : {}),
    }));
  const transport = await createRedisTransport(redis).catch(async (error: unknown) => {
    await store.close();
    throw error;
  });
  // Closed after the control plane: the store, then the transport.
  const controlPlane = new HostedControlPlane({ ...options, transport, store }, [store, transport]);
  try {
    await controlPlane.open();
  } catch (error) {
    await controlPlane.close();
    throw error;
  }
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
