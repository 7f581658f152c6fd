/**
 * What a Drasi Server instance looks like on Kubernetes: its ConfigMap
 * (the rendered `server.yaml`), Deployment, ClusterIP Service and, when asked
 * for, PersistentVolumeClaim; their names, labels and annotations; and what
 * those say back about the workload (for re-adoption). Pure: no I/O, only
 * client-node's model types, unit-tested without a cluster.
 */
import type { V1ConfigMap, V1Container, V1Deployment, V1Lifecycle, V1PersistentVolumeClaim, V1Service, V1Volume } from '@kubernetes/client-node';
import { renderServerConfigYaml } from '../drasi/render-config.js';
import type { WorkloadSpec } from './driver.js';
import type { KubernetesPlatformOptions, KubernetesStorageOptions } from './kubernetes-options.js';
import { withPort } from './workload-support.js';

/** Labels on every object of every instance: selectable by `managedBySelector`. */
export const kubernetesLabels = {
  managedBy: 'app.kubernetes.io/managed-by',
  name: 'app.kubernetes.io/name',
  instanceId: 'io.draas/instance-id',
} as const;
export const managedByValue = 'draas';
export const appNameValue = 'drasi-server';
/** The label selector of the driver's informers and lists. */
export const managedBySelector = `${kubernetesLabels.managedBy}=${managedByValue}`;

/** Annotations: which config generation and port an object (and the pod template) carries, and which start made the template. */
export const kubernetesAnnotations = {
  generation: 'io.draas/generation',
  port: 'io.draas/port',
  /**
   * Unique per start (on the Deployment and its pod template): every start
   * rolls a pod of its own, so a pod left from an earlier start (one that
   * crashed, one still terminating) is never taken for this start's.
   */
  start: 'io.draas/start-id',
} as const;

/** The one container of the pod. */
export const serverContainerName = 'drasi-server';
/** The image's working directory; the server writes `./data` under it. */
export const serverWorkingDir = '/app';
export const serverConfigDir = `${serverWorkingDir}/config`;
export const serverConfigPath = `${serverConfigDir}/server.yaml`;
export const serverDataDir = `${serverWorkingDir}/data`;
/** The port a server listens on in its pod unless the instance asked for one (each pod has its own network). */
export const defaultContainerPort = 8080;

export function deploymentName(instanceId: string): string {
  return `draas-${instanceId}`;
}
export function serviceName(instanceId: string): string {
  return `draas-${instanceId}`;
}
export function configMapName(instanceId: string): string {
  return `draas-${instanceId}-config`;
}
export function claimName(instanceId: string): string {
  return `draas-${instanceId}-data`;
}

/** The options a Deployment is rendered with, after the driver's defaults filled the gaps. */
export interface ResolvedKubernetesOptions {
  namespace: string;
  image: string;
  memoryMb?: number;
  cpus?: number;
  storage?: KubernetesStorageOptions;
  imagePullSecrets?: string[];
  serviceAccountName?: string;
}

export function resolveKubernetesOptions(given: KubernetesPlatformOptions, defaults: { namespace: string; image: string }): ResolvedKubernetesOptions {
  return {
    namespace: given.namespace ?? defaults.namespace,
    image: given.image ?? defaults.image,
    ...(given.memoryMb !== undefined ? { memoryMb: given.memoryMb } : {}),
    ...(given.cpus !== undefined ? { cpus: given.cpus } : {}),
    ...(given.storage !== undefined ? { storage: given.storage } : {}),
    ...(given.imagePullSecrets !== undefined && given.imagePullSecrets.length > 0 ? { imagePullSecrets: given.imagePullSecrets } : {}),
    ...(given.serviceAccountName !== undefined ? { serviceAccountName: given.serviceAccountName } : {}),
  };
}

/** How the server's graceful signal (SIGINT; SIGTERM kills it, and PID 1 ignores SIGTERM) reaches it. */
export type StopSignalMode = 'stop-signal' | 'pre-stop';

/** Everything the objects of one start are rendered from. */
export interface InstanceObjectsInput {
  spec: WorkloadSpec;
  options: ResolvedKubernetesOptions;
  /** The port the server listens on inside its pod. */
  port: number;
  /** Time between the graceful signal and SIGKILL. */
  graceMs: number;
  stopSignal: StopSignalMode;
  /** Unique per start (see `kubernetesAnnotations.start`). */
  startId: string;
}

export interface InstanceObjects {
  configMap: V1ConfigMap;
  deployment: V1Deployment;
  service: V1Service;
  claim?: V1PersistentVolumeClaim;
}

export function instanceLabels(instanceId: string): Record<string, string> {
  return {
    [kubernetesLabels.managedBy]: managedByValue,
    [kubernetesLabels.name]: appNameValue,
    [kubernetesLabels.instanceId]: instanceId,
  };
}

/** The port the instance's server listens on in its pod. */
export function containerPort(spec: WorkloadSpec): number {
  return spec.preferredPort ?? defaultContainerPort;
}

/**
 * The config the server reads in its pod: the port set, and `host: 0.0.0.0`
 * because the kubelet's probes and the Service reach it on the pod's address.
 */
export function podServerConfig(spec: WorkloadSpec, port: number): Record<string, unknown> {
  return { ...withPort(spec.config, port), host: '0.0.0.0' };
}

export function renderInstanceObjects(input: InstanceObjectsInput): InstanceObjects {
  const { spec, options, port } = input;
  const labels = instanceLabels(spec.instanceId);
  const annotations = { [kubernetesAnnotations.generation]: String(spec.generation), [kubernetesAnnotations.port]: String(port) };
  const metadata = (name: string) => ({ name, namespace: options.namespace, labels: { ...labels }, annotations: { ...annotations } });

  const configMap: V1ConfigMap = {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: metadata(configMapName(spec.instanceId)),
    data: { 'server.yaml': renderServerConfigYaml(podServerConfig(spec, port)) },
  };

  const service: V1Service = {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: metadata(serviceName(spec.instanceId)),
    spec: {
      type: 'ClusterIP',
      selector: { ...labels },
      ports: [{ name: 'api', protocol: 'TCP', port, targetPort: port }],
    },
  };

  const claim: V1PersistentVolumeClaim | undefined = options.storage
    ? {
        apiVersion: 'v1',
        kind: 'PersistentVolumeClaim',
        metadata: metadata(claimName(spec.instanceId)),
        spec: {
          accessModes: [options.storage.accessMode ?? 'ReadWriteOnce'],
          resources: { requests: { storage: options.storage.size } },
          ...(options.storage.storageClassName !== undefined ? { storageClassName: options.storage.storageClassName } : {}),
        },
      }
    : undefined;

  const started = { ...annotations, [kubernetesAnnotations.start]: input.startId };
  const deployment: V1Deployment = {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { ...metadata(deploymentName(spec.instanceId)), annotations: { ...started } },
    spec: {
      replicas: 1,
      // Never two servers of one instance at once: the old pod is gone before the new one starts.
      strategy: { type: 'Recreate' },
      // A changed template rolls a new ReplicaSet; old ones are of no use to anyone.
      revisionHistoryLimit: 1,
      selector: { matchLabels: { ...labels } },
      template: {
        // The start annotation makes every start (and so every config generation) a new template, hence a new pod.
        metadata: { labels: { ...labels }, annotations: { ...started } },
        spec: {
          ...(input.stopSignal === 'stop-signal' ? { os: { name: 'linux' } } : {}),
          terminationGracePeriodSeconds: Math.max(1, Math.ceil(input.graceMs / 1000)),
          // No API token in the pod unless the instance names the account it needs (a source that reads the cluster).
          ...(options.serviceAccountName !== undefined ? { serviceAccountName: options.serviceAccountName } : { automountServiceAccountToken: false }),
          // The namespace's Services as environment variables would only leak into the server's ${VAR} expansion.
          enableServiceLinks: false,
          ...(options.imagePullSecrets ? { imagePullSecrets: options.imagePullSecrets.map((name) => ({ name })) } : {}),
          containers: [serverContainer(input)],
          volumes: volumes(spec.instanceId, options),
        },
      },
    },
  };

  return { configMap, deployment, service, ...(claim ? { claim } : {}) };
}

function serverContainer(input: InstanceObjectsInput): V1Container {
  const { spec, options, port } = input;
  const probe = { httpGet: { path: '/health', port } };
  const quantities = {
    ...(options.memoryMb !== undefined ? { memory: `${options.memoryMb}Mi` } : {}),
    ...(options.cpus !== undefined ? { cpu: `${Math.max(1, Math.round(options.cpus * 1000))}m` } : {}),
  };
  return {
    name: serverContainerName,
    image: options.image,
    // The image's entrypoint is the server binary; DRaaS supplies its arguments.
    args: ['--config', serverConfigPath, '--port', String(port)],
    workingDir: serverWorkingDir,
    ports: [{ name: 'api', containerPort: port, protocol: 'TCP' }],
    env: Object.entries(spec.env).map(([name, value]) => ({ name, value })),
    // Ready means /health answers: the listener binds only once every auto-start component started.
    startupProbe: { ...probe, periodSeconds: 1, timeoutSeconds: 2, failureThreshold: Math.max(1, Math.ceil(spec.startTimeoutMs / 1000)) + 1 },
    readinessProbe: { ...probe, periodSeconds: 2, timeoutSeconds: 2, failureThreshold: 3 },
    lifecycle: stopLifecycle(input.stopSignal),
    ...(Object.keys(quantities).length > 0 ? { resources: { requests: { ...quantities }, limits: { ...quantities } } } : {}),
    volumeMounts: [
      { name: 'config', mountPath: serverConfigDir, readOnly: true },
      { name: 'data', mountPath: serverDataDir },
    ],
  };
}

/**
 * SIGINT is the server's only graceful signal. From Kubernetes 1.33 the
 * container's stop signal can be set; before, a preStop hook sends SIGINT to
 * PID 1 and waits for it to exit, so that the kubelet's SIGTERM (ignored by
 * PID 1) and SIGKILL come only after the grace period.
 */
export function stopLifecycle(mode: StopSignalMode): V1Lifecycle {
  if (mode === 'stop-signal') return { stopSignal: 'SIGINT' };
  return { preStop: { exec: { command: ['/bin/sh', '-c', 'kill -INT 1; while kill -0 1 2>/dev/null; do sleep 1; done'] } } };
}

function volumes(instanceId: string, options: ResolvedKubernetesOptions): V1Volume[] {
  return [
    { name: 'config', configMap: { name: configMapName(instanceId) } },
    options.storage ? { name: 'data', persistentVolumeClaim: { claimName: claimName(instanceId) } } : { name: 'data', emptyDir: {} },
  ];
}

/**
 * Whether the API server's version (`/version`'s major and minor) knows the
 * container `lifecycle.stopSignal` field: Kubernetes 1.33 and later. Minor
 * versions may carry a `+` (managed clusters): digits are what count.
 */
export function supportsStopSignal(version: { major: string; minor: string }): boolean {
  const major = Number.parseInt(version.major, 10);
  const minor = Number.parseInt(version.minor, 10);
  if (!Number.isFinite(major) || !Number.isFinite(minor)) return false;
  return major > 1 || (major === 1 && minor >= 33);
}

/** Whether the rendered stop handling survived the API server (a disabled feature gate drops `stopSignal` silently). */
export function keepsStopSignal(deployment: V1Deployment): boolean {
  const container = deployment.spec?.template.spec?.containers.find((candidate) => candidate.name === serverContainerName);
  return container?.lifecycle?.stopSignal === 'SIGINT';
}

/** What an object's labels and annotations say about its instance; undefined when it is not ours or not readable. */
export interface ObjectFacts {
  instanceId: string;
  generation: number;
  port: number;
  /** On a Deployment: the start that made its template. */
  startId?: string;
}

export function objectFacts(metadata: { labels?: Record<string, string>; annotations?: Record<string, string> } | undefined): ObjectFacts | undefined {
  const labels = metadata?.labels;
  if (!labels || labels[kubernetesLabels.managedBy] !== managedByValue) return undefined;
  const instanceId = labels[kubernetesLabels.instanceId];
  const generation = Number(metadata?.annotations?.[kubernetesAnnotations.generation]);
  const port = Number(metadata?.annotations?.[kubernetesAnnotations.port]);
  if (!instanceId || !Number.isInteger(generation) || !Number.isInteger(port) || port < 1 || port > 65535) return undefined;
  const startId = metadata?.annotations?.[kubernetesAnnotations.start];
  return { instanceId, generation, port, ...(startId ? { startId } : {}) };
}

/** The instance a managed object belongs to (by label alone), or undefined. */
export function labelledInstance(metadata: { labels?: Record<string, string> } | undefined): string | undefined {
  const labels = metadata?.labels;
  if (!labels || labels[kubernetesLabels.managedBy] !== managedByValue) return undefined;
  const instanceId = labels[kubernetesLabels.instanceId];
  return instanceId ? instanceId : undefined;
}
