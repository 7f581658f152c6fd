/**
 * Starts the Kubernetes API server double (test/fixtures/kube-api/) for a
 * test: an API server on 127.0.0.1 over http and https with a bearer
 * token, the controllers, and a kubelet that runs pods as local processes.
 *
 * ```ts
 * const kube = await startKubeApiDouble({ knownImages: ['drasi-server'], timeScale: 0.1 });
 * // client-node: new KubeConfig().loadFromFile(kube.kubeconfigPath)   (http, insecure-skip-tls-verify)
 * // kubectl:     kubectl --kubeconfig kube.kubectlKubeconfigPath …    (https, CA = the double's certificate)
 * kube.knobs.hostPort('draas', podName)  // where the pod's container port listens on this host
 * await kube.close();                      // kills every pod process, removes temp files
 * ```
 *
 * Images: every name in `knownImages` runs the Drasi Server test double
 * (`node test/fixtures/drasi-server-double.mjs`, STOPSIGNAL from
 * `drasiStopSignal`, port flag `--port`); `images` adds any other table
 * entries. A key matches a whole image reference, its repository (any
 * tag) or the repository's last path segment (any registry and tag). Any
 * other image fails to pull (ErrImagePull / ImagePullBackOff).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FeatureGates } from '../fixtures/kube-api/admission.js';
import type { ImageEntry, ImageTable } from '../fixtures/kube-api/images.js';
import { KubeApiDouble, type KubeApiDoubleOptions as DoubleSettings } from '../fixtures/kube-api/kube-api-double.js';
import { writeKubeconfig } from '../fixtures/kube-api/kubeconfig.js';
import type { Authorization, PolicyRule, RequestRecord } from '../fixtures/kube-api/authorization.js';
import type { Availability } from '../fixtures/kube-api/listeners.js';
import type { NodeCapacity } from '../fixtures/kube-api/scheduler.js';
import type { ObjectStore } from '../fixtures/kube-api/store.js';

export type { ImageEntry, ImageTable, Availability, NodeCapacity, FeatureGates, Authorization, PolicyRule, RequestRecord };

export const drasiServerDoublePath = fileURLToPath(new URL('../fixtures/drasi-server-double.mjs', import.meta.url));

/** The image entry that runs the Drasi Server test double. */
export function drasiServerImageEntry(stopSignal?: NodeJS.Signals): ImageEntry {
  return {
    entrypoint: [process.execPath, drasiServerDoublePath],
    binaryNames: ['drasi-server', '/usr/local/bin/drasi-server', '/usr/bin/drasi-server', '/app/drasi-server'],
    portFlag: '--port',
    ...(stopSignal !== undefined ? { stopSignal } : {}),
  };
}

/** The double's own settings (durations, backoffs, watches, capacity, gates, RBAC; see `KubeApiDouble`), and what this helper fills in. */
export interface KubeApiDoubleOptions extends Omit<DoubleSettings, 'directory' | 'images' | 'namespaces' | 'token'> {
  /** Image names that run the Drasi Server double. Default `['drasi-server']`. */
  knownImages?: string[];
  /** Further image table entries (win over knownImages). */
  images?: ImageTable;
  /** The STOPSIGNAL of the known images (default: none, i.e. SIGTERM, like the real image). */
  drasiStopSignal?: NodeJS.Signals;
  /** Namespace that exists from the start and is the kubeconfigs' default. Default `draas`. */
  namespace?: string;
}

export interface KubeApiKnobs {
  /** End every open watch stream now (clients must re-watch). */
  closeAllWatches(): void;
  /** Forget the watch history: a watch from any older resourceVersion gets 410 Expired. */
  compactHistory(): void;
  /** `unavailable`: every request gets 503; `refusing`: connections are refused; `serving`: back to normal. */
  setAvailability(availability: Availability): Promise<void>;
  /** The next `requests` requests get 429 TooManyRequests with `Retry-After: retryAfterSeconds` (health endpoints exempt). */
  throttle(requests: number, retryAfterSeconds: number): void;
  setNodeCapacity(capacity: NodeCapacity): void;
  /** The host port where a pod's container port listens (pods share this host's network; podIP is 127.0.0.1). */
  hostPort(namespace: string, pod: string): number | undefined;
  /** The host port of a Service's first ready pod (what a client would reach through the Service), or undefined. */
  serviceHostPort(namespace: string, service: string): number | undefined;
  /** The host file or directory behind a path under one of a pod's volume mounts (e.g. its mounted config file). */
  hostPath(namespace: string, pod: string, containerPath: string): string | undefined;
  /** The pid of a pod's running container process. */
  pid(namespace: string, pod: string): number | undefined;
  /** SIGKILL a pod's container now and report it OOMKilled (exit 137). */
  oomKill(namespace: string, pod: string): boolean;
}

export interface KubeApiDoubleHandle {
  /** http URL (for client-node with `insecure-skip-tls-verify`). */
  url: string;
  /** https URL (for kubectl). */
  httpsUrl: string;
  token: string;
  /** kubeconfig over plain http with `insecure-skip-tls-verify: true` (what client-node loads). */
  kubeconfigPath: string;
  /** kubeconfig over https with the double's certificate as CA (what kubectl uses). */
  kubectlKubeconfigPath: string;
  /** PEM of the serving certificate. */
  certificate: string;
  namespace: string;
  knobs: KubeApiKnobs;
  /** The double's object store, for assertions that bypass HTTP. */
  store: ObjectStore;
  /** Every resource request so far with its RBAC attributes (verb, group, resource, namespace, name) and whether it was allowed. */
  requests(): RequestRecord[];
  /** Kills every pod process, closes the listeners, removes the temp directory. */
  close(): Promise<void>;
}

export async function startKubeApiDouble(options: KubeApiDoubleOptions = {}): Promise<KubeApiDoubleHandle> {
  const { knownImages, images: moreImages, drasiStopSignal, namespace: givenNamespace, ...settings } = options;
  const directory = mkdtempSync(path.join(tmpdir(), 'kube-api-double-'));
  const namespace = givenNamespace ?? 'draas';
  const images: ImageTable = {};
  for (const name of knownImages ?? ['drasi-server']) images[name] = drasiServerImageEntry(drasiStopSignal);
  Object.assign(images, moreImages ?? {});
  const double = new KubeApiDouble({
    ...settings,
    directory,
    images,
    namespaces: [namespace],
  });
  try {
    await double.start();
  } catch (error) {
    await double.close();
    rmSync(directory, { recursive: true, force: true });
    throw error;
  }
  const url = `http://127.0.0.1:${double.httpPort}`;
  const httpsUrl = `https://127.0.0.1:${double.httpsPort}`;
  const kubeconfigPath = path.join(directory, 'kubeconfig.yaml');
  const kubectlKubeconfigPath = path.join(directory, 'kubeconfig-tls.yaml');
  writeKubeconfig(kubeconfigPath, { server: url, token: double.token, namespace });
  writeKubeconfig(kubectlKubeconfigPath, { server: httpsUrl, token: double.token, namespace, certificateAuthority: double.certificate });
  let closed = false;
  return {
    url,
    httpsUrl,
    token: double.token,
    kubeconfigPath,
    kubectlKubeconfigPath,
    certificate: double.certificate,
    namespace,
    store: double.store,
    requests: () => [...double.requests],
    knobs: {
      closeAllWatches: () => double.closeWatches(),
      compactHistory: () => double.store.compact(),
      setAvailability: (availability) => double.setAvailability(availability),
      throttle: (requests, retryAfterSeconds) => double.throttle(requests, retryAfterSeconds),
      setNodeCapacity: (capacity) => double.scheduler.setCapacity(capacity),
      hostPort: (ns, pod) => double.kubelet.hostPort(ns, pod),
      serviceHostPort: (ns, service) => double.kubelet.serviceHostPort(ns, service),
      hostPath: (ns, pod, containerPath) => double.kubelet.hostPath(ns, pod, containerPath),
      pid: (ns, pod) => double.kubelet.pid(ns, pod),
      oomKill: (ns, pod) => double.kubelet.oomKill(ns, pod),
    },
    close: async () => {
      if (closed) return;
      closed = true;
      await double.close();
      rmSync(directory, { recursive: true, force: true });
    },
  };
}
