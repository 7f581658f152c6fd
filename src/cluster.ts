/**
 * Cluster mode: the control plane and the platform workers are separate
 * processes (on separate hosts, if you like) that meet on Redis.
 */
import os from 'node:os';
import { randomUUID } from 'node:crypto';
import { LeasedOwnership } from './actors/leased-ownership.js';
import { RedisAuditLog } from './auth/audit.js';
import { RedisTokenStore } from './auth/redis-token-store.js';
import { resolveAuth, type AuthSettings } from './auth/settings.js';
import { redactUrl } from './redis/connection.js';
import type { PlatformWorker } from './actors/platform-worker.js';
import { HostedControlPlane, type HostedControlPlaneOptions, type OwnedResource } from './hosted-control-plane.js';
import { startPlatformWorker, type WorkerSettings } from './platform-workers.js';
import { RedisLeases } from './store/redis-leases.js';
import { RedisInstanceStore } from './store/redis-store.js';
import { RedisIdempotencyStore } from './store/redis-idempotency-store.js';
import { within } from './time-bounds.js';
import { logAt, toLogger } from './observability/logger.js';
import { createRedisTransport, type RedisTransportOptions } from './transport/redis.js';
import { MetricsRegistry } from './observability/metrics.js';
import { serveMetrics, type MetricsListener, type MetricsListenOptions } from './observability/metrics-server.js';

export interface ClusterControlPlaneOptions extends Omit<HostedControlPlaneOptions, 'transport' | 'ownership'> {
  redis: RedisTransportOptions;
  /** This replica's name. A stable one lets a restarted replica take its leases back at once. Default: host-pid-random. */
  replicaId?: string;
  /** How long a replica owns its shards without renewing (default 10 000 ms). */
  leaseMs?: number;
  /** Shards the instances are spread over (default 16); the same on every replica. */
  shardCount?: number;
  /**
   * Require a bearer token on the REST API (`draas control-plane --auth`):
   * tokens in the Redis (`draas tokens add --redis URL`; a revocation takes
   * effect on every replica at once), optionally OIDC; the audit log in a
   * capped Redis stream. Default off.
   */
  auth?: AuthSettings;
}

/**
 * Instance records, actor snapshots and the change log live in the same Redis
 * as the transport (unless a `store` is given), so a restarted control plane
 * rehydrates every instance from there. Any number of replicas may share the
 * Redis: each owns the instances of the shards it holds a lease on, and
 * forwards requests for the others to their owners.
 */
export async function startClusterControlPlane(options: ClusterControlPlaneOptions): Promise<HostedControlPlane> {
  const { redis } = options;
  const connection = {
    url: redis.url,
    ...(redis.prefix !== undefined ? { prefix: redis.prefix } : {}),
    ...(redis.connectTimeoutMs !== undefined ? { connectTimeoutMs: redis.connectTimeoutMs } : {}),
  };
  // What is opened so far, closed in reverse should a later step fail.
  const owned: OwnedResource[] = [];
  let controlPlane: HostedControlPlane;
  try {
    const store = options.store ?? (await RedisInstanceStore.open({ ...connection, ...(options.log ? { log: logAt(toLogger(options.log).child({ component: 'store' }), 'warn') } : {}) }));
    owned.push({ name: 'store', resource: store });
    const leases = await RedisLeases.open(connection);
    owned.push({ name: 'leases', resource: leases });
    const transport = await createRedisTransport(redis);
    owned.push({ name: 'transport', resource: transport });
    // Idempotency-Key answers in Redis: a client's retry may reach another replica.
    let idempotencyStore = options.http?.idempotency?.store;
    if (idempotencyStore === undefined) {
      idempotencyStore = await RedisIdempotencyStore.open(connection);
      owned.push({ name: 'idempotency store', resource: idempotencyStore });
    }
    const http = { ...options.http, idempotency: { ...options.http?.idempotency, store: idempotencyStore } };
    if (options.auth !== undefined) {
      const auth = await resolveAuth(options.auth, {
        tokens: () => RedisTokenStore.open(connection),
        audit: () => RedisAuditLog.open(connection),
        addTokenCommand: `draas tokens add NAME --role admin --redis ${redactUrl(redis.url)}${redis.prefix !== undefined ? ` --redis-prefix ${redis.prefix}` : ''}`,
        log: logAt(toLogger(options.log ?? ((message) => console.error(message))).child({ component: 'auth' }), 'info'),
      });
      owned.push(...auth.owned);
      http.auth = auth.http;
    }
    const ownership = new LeasedOwnership({
      leases,
      replicaId: options.replicaId ?? `${os.hostname()}-${process.pid}-${randomUUID().slice(0, 8)}`,
      ...(options.leaseMs !== undefined ? { leaseMs: options.leaseMs } : {}),
      ...(options.shardCount !== undefined ? { shardCount: options.shardCount } : {}),
      ...(options.log ? { log: options.log } : {}),
      // Its share of the close timeout: unreleased leases expire by themselves.
      closeTimeoutMs: Math.min(1_000, (options.closeTimeoutMs ?? 10_000) / 4),
    });
    // Closed after the control plane (which closes the ownership, releasing its leases): the store, the leases, the transport, the idempotency store.
    controlPlane = new HostedControlPlane({ ...options, transport, store, ownership, http }, owned);
  } catch (error) {
    for (const { resource } of owned.reverse()) await resource.close();
    throw error;
  }
  try {
    await controlPlane.open();
  } catch (error) {
    await controlPlane.close();
    throw error;
  }
  await controlPlane.openMetricsListener(options.metricsListener);
  return controlPlane;
}

export interface ClusterWorker {
  worker: PlatformWorker;
  /** Its Prometheus series (`await metrics.text()` is a scrape). */
  metrics: MetricsRegistry;
  /** The `GET /metrics` listener, when `metricsListener` asked for one. */
  metricsListener?: MetricsListener;
  /** Stops consuming and announcing, then disconnects. Workloads keep running. Idempotent. */
  close(): Promise<void>;
}

export interface ClusterWorkerOptions extends WorkerSettings {
  redis: RedisTransportOptions;
  /** Serve `GET /metrics` alone, without a token, on this port and host (default host 127.0.0.1). */
  metricsListener?: MetricsListenOptions;
}

export async function startClusterWorker(options: ClusterWorkerOptions): Promise<ClusterWorker> {
  const transport = await createRedisTransport(options.redis);
  const metrics = options.metrics ?? new MetricsRegistry();
  let worker: PlatformWorker;
  try {
    worker = await startPlatformWorker(transport, { ...options, metrics });
  } catch (error) {
    await transport.close();
    throw error;
  }
  let metricsListener: MetricsListener | undefined;
  let closing: Promise<void> | undefined;
  const close = () =>
    (closing ??= (async () => {
      await metricsListener?.close();
      await worker.close();
      // The worker gave up on what Redis did not answer; the transport's own close is bounded the same way.
      await within(transport.close(), 2_000);
    })());
  if (options.metricsListener !== undefined) {
    try {
      metricsListener = await serveMetrics(metrics, options.metricsListener);
    } catch (error) {
      await close();
      throw error;
    }
  }
  return {
    worker,
    metrics,
    ...(metricsListener !== undefined ? { metricsListener } : {}),
    close,
  };
}

