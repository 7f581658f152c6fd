/**
 * Builds a platform worker with its driver: the one place that chooses a
 * driver per platform. A platform's driver module (and with it its SDK) is
 * imported only when a worker of that platform is built: nothing here may
 * import `./platforms/docker.js` statically (a test refuses dockerode on the
 * process-only path).
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PlatformWorker } from './actors/platform-worker.js';
import { errorMessage } from './errors.js';
import { dockerConnectionOptions } from './platforms/docker-connection.js';
import { defaultDockerImage, type DockerNetworkMode } from './platforms/docker-options.js';
import type { PlatformAvailability, PlatformDriver, PlatformType } from './platforms/driver.js';
import type { EngineResilience } from './platforms/engine-guard.js';
import { currentEnvironment, describeSource, kubeconfigSource, type KubeconfigEnvironment, type KubeconfigSettings, type KubeconfigSource } from './platforms/kubeconfig-source.js';
import { defaultKubernetesNamespace } from './platforms/kubernetes-options.js';
import { loadPlatformModule, MissingPlatformSdkError } from './platforms/platform-sdk.js';
import { ProcessDriver } from './platforms/process.js';
import type { Transport } from './transport/transport.js';
import { logAt, toLogger, type LogOption } from './observability/logger.js';
import type { MetricsRegistry } from './observability/metrics.js';

export interface DockerWorkerSettings {
  /** A DOCKER_HOST value (unix:///path or tcp://host:port); default the local socket. */
  host?: string;
  /** Default image. Default `defaultDockerImage`. */
  image?: string;
  /** Default network of instances that do not name one. Default `bridge`. */
  network?: DockerNetworkMode;
  /** The Engine's circuit breaker and call retries (docs/operations.md, "Retries and circuit breakers"). */
  resilience?: EngineResilience;
}

export interface KubernetesWorkerSettings {
  /** A kubeconfig file (or a KUBECONFIG-style list); default the in-cluster service account, else ~/.kube/config. */
  kubeconfig?: string;
  /** A context of the kubeconfig; default its current one. */
  context?: string;
  /** Namespace of instances that name none. Default `defaultKubernetesNamespace`. */
  namespace?: string;
  /** Default image. Default `defaultDockerImage`. */
  image?: string;
  /** The API server's circuit breaker and call retries (docs/operations.md, "Retries and circuit breakers"). */
  resilience?: EngineResilience;
}

export interface ProcessWorkerSettings {
  /** Where instance working directories live. */
  dataDir: string;
  /** The Drasi Server executable. */
  drasiServer: string;
  /** Ports handed to Drasi Servers. */
  ports: { min: number; max: number };
  stopGraceMs?: number;
  /** Settings of a Docker worker. */
  docker?: DockerWorkerSettings;
  /** Settings of a Kubernetes worker. */
  kubernetes?: KubernetesWorkerSettings;
}

export interface WorkerSettings extends ProcessWorkerSettings {
  platform: PlatformType;
  workerId?: string;
  heartbeatMs?: number;
  /** Where the worker's metrics are kept (default: a registry of its own). */
  metrics?: MetricsRegistry;
  /** Where the worker and its driver log: a `Logger`, or a function that takes each message (info and above). */
  log?: LogOption;
}

/** The Docker driver module; loads dockerode (a `MissingPlatformSdkError` when it is not installed). */
const loadDockerDriver = () => loadPlatformModule('docker', 'dockerode', () => import('./platforms/docker.js'));

/** The Kubernetes driver module; loads @kubernetes/client-node (a `MissingPlatformSdkError` when it is not installed). */
const loadKubernetesDriver = () => loadPlatformModule('kubernetes', '@kubernetes/client-node', () => import('./platforms/kubernetes.js'));

async function driverFor(settings: WorkerSettings): Promise<PlatformDriver> {
  const grace = settings.stopGraceMs !== undefined ? { graceMs: settings.stopGraceMs } : {};
  switch (settings.platform) {
    case 'process':
      return new ProcessDriver({ dataDir: path.resolve(settings.dataDir), executable: settings.drasiServer, ports: settings.ports, ...grace });
    case 'docker': {
      const docker = settings.docker ?? {};
      const { DockerDriver } = await loadDockerDriver();
      return new DockerDriver({
        connection: docker.host !== undefined ? { dockerHost: docker.host } : {},
        defaultImage: docker.image ?? defaultDockerImage,
        ...(docker.network !== undefined ? { defaultNetwork: docker.network } : {}),
        ...(docker.resilience ? { resilience: docker.resilience } : {}),
        ports: settings.ports,
        ...grace,
        ...(settings.log ? { log: logAt(toLogger(settings.log).child({ component: 'docker' }), 'warn') } : {}),
      });
    }
    case 'kubernetes': {
      const kubernetes = settings.kubernetes ?? {};
      const { KubernetesDriver } = await loadKubernetesDriver();
      const choice = kubeconfigChoice(kubernetes, currentEnvironment());
      return new KubernetesDriver({
        kubeconfig: choice.kubeconfig,
        environment: choice.environment,
        namespace: kubernetes.namespace ?? defaultKubernetesNamespace,
        defaultImage: kubernetes.image ?? defaultDockerImage,
        ...(kubernetes.resilience ? { resilience: kubernetes.resilience } : {}),
        ...grace,
        ...(settings.log ? { log: logAt(toLogger(settings.log).child({ component: 'kubernetes' }), 'warn') } : {}),
      });
    }
  }
}

/**
 * A worker id that stays the same across restarts of the same worker: the
 * platform, the host, and a digest of what the worker manages (the data
 * directory; the Docker endpoint). It names the worker's queue, where the
 * commands for its instances wait while it is away (see `PlatformWorker`).
 */
export function defaultWorkerId(settings: Pick<WorkerSettings, 'platform' | 'dataDir' | 'docker' | 'kubernetes'>): string {
  const digest = (manages: string) => createHash('sha256').update(manages).digest('hex').slice(0, 8);
  if (settings.platform === 'kubernetes') {
    // No host name: a worker running in a pod gets a new one with every pod, and its queue must stay the same.
    const kubernetes = settings.kubernetes ?? {};
    const namespace = kubernetes.namespace ?? defaultKubernetesNamespace;
    return `kubernetes-${namespace}-${digest(`kube:${kubernetes.kubeconfig ?? 'default'}:${kubernetes.context ?? 'current'}:${namespace}`)}`;
  }
  const manages = settings.platform === 'docker' ? `docker:${settings.docker?.host ?? 'default'}` : `dir:${path.resolve(settings.dataDir)}`;
  const host = os.hostname().toLowerCase().replace(/[^a-z0-9-]+/g, '-').slice(0, 40) || 'host';
  return `${settings.platform}-${host}-${digest(manages)}`;
}

/**
 * Creates and starts a worker consuming its own command queue.
 * A worker whose platform is unreachable starts anyway, announced as
 * unavailable, and takes commands once it can reach it.
 */
export async function startPlatformWorker(transport: Transport, settings: WorkerSettings): Promise<PlatformWorker> {
  const worker = new PlatformWorker({
    transport,
    driver: await driverFor(settings),
    workerId: settings.workerId ?? defaultWorkerId(settings),
    ...(settings.heartbeatMs ? { heartbeatMs: settings.heartbeatMs } : {}),
    ...(settings.log ? { log: settings.log } : {}),
    ...(settings.metrics ? { metrics: settings.metrics } : {}),
  });
  await worker.start();
  return worker;
}

/**
 * Whether a Docker worker could run: what `draas up` asks to decide on one.
 * Unavailable, without loading the SDK, when the engine's socket does not
 * exist; unavailable when the SDK is not installed; else the engine's ping.
 */
export async function probeDockerEngine(host: string | undefined): Promise<PlatformAvailability> {
  const connection = dockerConnectionOptions(host !== undefined ? { dockerHost: host } : {});
  if ('socketPath' in connection && !existsSync(connection.socketPath)) {
    return { available: false, reason: `no Docker Engine socket at ${connection.socketPath}` };
  }
  let DockerDriver: Awaited<ReturnType<typeof loadDockerDriver>>['DockerDriver'];
  try {
    ({ DockerDriver } = await loadDockerDriver());
  } catch (error) {
    if (error instanceof MissingPlatformSdkError) return { available: false, reason: error.message };
    throw error;
  }
  const driver = new DockerDriver({ connection: host !== undefined ? { dockerHost: host } : {}, defaultImage: defaultDockerImage, ports: { min: 1, max: 1 } });
  try {
    return await driver.availability();
  } finally {
    await driver.close();
  }
}

/** Where a kubeconfig was found, for `draas up` to add a Kubernetes worker by itself. */
export type KubeconfigPresence = { present: true; source: string } | { present: false; reason: string };

/**
 * The driver's kubeconfig settings for a worker's `kubeconfig`: one file, or
 * a KUBECONFIG-style list (merged by the driver as kubectl merges it).
 */
function kubeconfigChoice(settings: KubernetesWorkerSettings, environment: KubeconfigEnvironment): { kubeconfig: KubeconfigSettings; environment: KubeconfigEnvironment } {
  const files = (settings.kubeconfig ?? '').split(path.delimiter).filter((file) => file.trim() !== '');
  return {
    kubeconfig: { ...(files.length === 1 ? { file: files[0]! } : {}), ...(settings.context !== undefined ? { context: settings.context } : {}) },
    environment: files.length > 1 ? { ...environment, kubeconfigEnv: settings.kubeconfig } : environment,
  };
}

/**
 * Whether the Kubernetes worker has a kubeconfig to use, chosen as the
 * driver chooses it (`kubeconfigSource`), and the files exist. Reads no
 * file's content and loads no SDK: a cluster that does not answer is the
 * worker's to report.
 */
export function findKubeconfig(settings: KubernetesWorkerSettings, environment: KubeconfigEnvironment = currentEnvironment()): KubeconfigPresence {
  const choice = kubeconfigChoice(settings, environment);
  let source: KubeconfigSource;
  try {
    source = kubeconfigSource(choice.kubeconfig, choice.environment);
  } catch (error) {
    return { present: false, reason: errorMessage(error) };
  }
  const files = source.kind === 'file' || source.kind === 'home' ? [source.path] : source.kind === 'env' ? source.paths : [];
  if (files.length > 0 && !files.some((file) => existsSync(file))) return { present: false, reason: `no kubeconfig at ${files.join(', ')}` };
  return { present: true, source: describeSource(source) };
}

/**
 * Whether `draas up` should add a Kubernetes worker: a kubeconfig is found
 * and the SDK is installed. Whether the cluster answers is not asked: the
 * worker starts anyway and shows as unavailable, with the reason, until it does.
 */
export async function kubernetesWorkerWanted(settings: KubernetesWorkerSettings): Promise<PlatformAvailability> {
  const kubeconfig = findKubeconfig(settings);
  if (!kubeconfig.present) return { available: false, reason: kubeconfig.reason };
  try {
    await loadKubernetesDriver();
  } catch (error) {
    if (error instanceof MissingPlatformSdkError) return { available: false, reason: error.message };
    throw error;
  }
  return { available: true };
}
