/**
 * Embedded mode: the control plane, an in-memory transport and its platform
 * workers (process; Docker and Kubernetes when asked) in one Node process. This is what `draas up` runs and what
 * `createControlPlane()` returns to a program that embeds DRaaS.
 */
import path from 'node:path';
import { FileAuditLog } from './auth/audit.js';
import { FileTokenStore } from './auth/file-token-store.js';
import { resolveAuth, type AuthSettings, type ResolvedAuth } from './auth/settings.js';
import type { HostedControlPlaneOptions } from './hosted-control-plane.js';
import type { PlatformWorker } from './actors/platform-worker.js';
import { HostedControlPlane } from './hosted-control-plane.js';
import { startPlatformWorker, type DockerWorkerSettings, type KubernetesWorkerSettings } from './platform-workers.js';
import type { PlatformType } from './platforms/driver.js';
import { FileInstanceStore } from './store/file-store.js';
import { MemoryTransport } from './transport/memory.js';
import { logAt, toLogger } from './observability/logger.js';
import { MetricsRegistry } from './observability/metrics.js';

export interface EmbeddedControlPlaneOptions extends Omit<HostedControlPlaneOptions, 'transport'> {
  /** Where instance working directories live. Default `./.draas`. */
  dataDir?: string;
  /** The Drasi Server executable. Default `drasi-server` (looked up on PATH). */
  drasiServer?: string;
  /** Ports handed to Drasi Servers. Default 18080–18999. */
  ports?: { min: number; max: number };
  /** The platforms to run workers for. Default `['process']`. */
  platforms?: PlatformType[];
  /** Settings of the Docker worker (when `platforms` has `docker`). */
  docker?: DockerWorkerSettings;
  /** Settings of the Kubernetes worker (when `platforms` has `kubernetes`). */
  kubernetes?: KubernetesWorkerSettings;
  /**
   * Require a bearer token on the REST API (`draas up --auth`): tokens in
   * `<dataDir>/auth/tokens.json` (`draas tokens add`), optionally OIDC; the
   * audit log in `<dataDir>/audit/audit.jsonl`. Default off.
   */
  auth?: AuthSettings;
}

export type EmbeddedControlPlane = HostedControlPlane;

/**
 * Instances, their actors' snapshots and the change log persist under
 * `<dataDir>/state/` unless a `store` is given; the process worker re-adopts
 * the Drasi Servers that still run, so a restart loses nothing.
 */
export async function createControlPlane(options: EmbeddedControlPlaneOptions = {}): Promise<EmbeddedControlPlane> {
  const dataDir = options.dataDir ?? '.draas';
  const transport = new MemoryTransport(options.now ? { now: options.now } : {});
  const store = options.store ?? (await FileInstanceStore.open(dataDir, options.log ? { log: logAt(toLogger(options.log).child({ component: 'store' }), 'warn') } : {}));
  // One registry for the control plane and its workers: one scrape shows both.
  const metrics = options.metrics ?? new MetricsRegistry();
  const workers: PlatformWorker[] = [];
  let auth: ResolvedAuth | undefined;
  try {
    if (options.auth !== undefined) {
      auth = await resolveAuth(options.auth, {
        tokens: async () => new FileTokenStore(dataDir),
        audit: async () => new FileAuditLog(dataDir),
        addTokenCommand: `draas tokens add NAME --role admin --data-dir ${path.resolve(dataDir)}`,
        log: logAt(toLogger(options.log ?? ((message) => console.error(message))).child({ component: 'auth' }), 'info'),
      });
    }
    for (const platform of options.platforms ?? ['process']) {
      workers.push(
        await startPlatformWorker(transport, {
          platform,
          dataDir,
          drasiServer: options.drasiServer ?? 'drasi-server',
          ports: options.ports ?? { min: 18080, max: 18999 },
          ...(options.docker ? { docker: options.docker } : {}),
          ...(options.kubernetes ? { kubernetes: options.kubernetes } : {}),
          ...(options.stopGraceMs !== undefined ? { stopGraceMs: options.stopGraceMs } : {}),
          ...(options.log ? { log: options.log } : {}),
          metrics,
        }),
      );
    }
  } catch (error) {
    for (const worker of workers) await worker.close();
    for (const { resource } of auth?.owned ?? []) await resource.close();
    if (!options.store) await store.close();
    throw error;
  }
  // Closed after the control plane: the workers, then the store, then the transport.
  const http = auth !== undefined ? { ...options.http, auth: auth.http } : options.http;
  const controlPlane = new HostedControlPlane({ ...options, ...(http !== undefined ? { http } : {}), transport, store, metrics }, [
    ...workers.map((worker) => ({ name: `worker ${worker.workerId}`, resource: worker })),
    ...(auth?.owned ?? []),
    { name: 'store', resource: store },
    { name: 'transport', resource: transport },
  ]);
  await controlPlane.open();
  // The workers recovered before the control plane listened: tell it now what they adopted (it reports orphans).
  for (const worker of workers) await worker.publishAdopted();
  await controlPlane.openMetricsListener(options.metricsListener);
  return controlPlane;
}
