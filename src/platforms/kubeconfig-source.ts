/**
 * Which kubeconfig the Kubernetes platform uses, in this order: an explicit
 * file (`--kubeconfig`), `KUBECONFIG` (a list of files, merged as kubectl
 * does), the pod's service account when running in a cluster, else
 * `~/.kube/config`. Pure and free of the SDK, so that `draas up` can ask
 * whether there is one without loading @kubernetes/client-node.
 */
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export interface KubeconfigSettings {
  /** A kubeconfig file; wins over `KUBECONFIG` and the defaults. */
  file?: string;
  /** A context of that kubeconfig; default its current context. */
  context?: string;
}

export type KubeconfigSource =
  | { kind: 'file'; path: string }
  | { kind: 'env'; paths: string[] }
  | { kind: 'in-cluster' }
  | { kind: 'home'; path: string };

/** The facts of the environment the choice depends on; injectable for tests. */
export interface KubeconfigEnvironment {
  kubeconfigEnv?: string | undefined;
  /** KUBERNETES_SERVICE_HOST is set and the service account's token file exists. */
  inCluster: boolean;
  /** `~/.kube/config` when it exists. */
  homeConfig?: string | undefined;
}

export class KubeconfigError extends Error {
  override name = 'KubeconfigError';
}

/** Which kubeconfig to load. Pure. */
export function kubeconfigSource(settings: KubeconfigSettings, environment: KubeconfigEnvironment): KubeconfigSource {
  if (settings.file !== undefined && settings.file.trim() !== '') return { kind: 'file', path: settings.file };
  const listed = (environment.kubeconfigEnv ?? '').split(path.delimiter).filter((entry) => entry.trim() !== '');
  if (listed.length > 0) return { kind: 'env', paths: listed };
  if (environment.inCluster) return { kind: 'in-cluster' };
  if (environment.homeConfig) return { kind: 'home', path: environment.homeConfig };
  throw new KubeconfigError('no kubeconfig: pass --kubeconfig, set KUBECONFIG, run in a cluster (service account) or create ~/.kube/config');
}

const serviceAccountToken = '/var/run/secrets/kubernetes.io/serviceaccount/token';

export function currentEnvironment(): KubeconfigEnvironment {
  const home = path.join(os.homedir(), '.kube', 'config');
  return {
    kubeconfigEnv: process.env['KUBECONFIG'],
    inCluster: Boolean(process.env['KUBERNETES_SERVICE_HOST']) && existsSync(serviceAccountToken),
    homeConfig: existsSync(home) ? home : undefined,
  };
}

export function describeSource(source: KubeconfigSource): string {
  switch (source.kind) {
    case 'file':
      return `kubeconfig ${source.path}`;
    case 'env':
      return `KUBECONFIG ${source.paths.join(path.delimiter)}`;
    case 'in-cluster':
      return 'the in-cluster service account';
    case 'home':
      return `kubeconfig ${source.path}`;
  }
}
