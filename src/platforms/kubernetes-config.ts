/**
 * Loads the kubeconfig `kubeconfig-source.ts` chooses, with its context.
 * Credentials (tokens, client
 * certificates, exec plugins) are whatever client-node supports; nothing
 * here reads or prints them: messages name files, contexts and the server.
 */
import { KubeConfig } from '@kubernetes/client-node';
import { describeSource, KubeconfigError, kubeconfigSource, currentEnvironment, type KubeconfigEnvironment, type KubeconfigSettings } from './kubeconfig-source.js';

/** The loaded kubeconfig, its context applied, and how it reads in messages (no credentials). */
export interface LoadedKubeconfig {
  config: KubeConfig;
  /** E.g. `context kind-dev of kubeconfig /home/me/.kube/config, server http://127.0.0.1:6443`. */
  description: string;
  /** The server's URL (no credentials). */
  server: string;
}

export function loadKubeconfig(settings: KubeconfigSettings, environment: KubeconfigEnvironment = currentEnvironment()): LoadedKubeconfig {
  const source = kubeconfigSource(settings, environment);
  const config = new KubeConfig();
  try {
    switch (source.kind) {
      case 'file':
      case 'home':
        config.loadFromFile(source.path);
        break;
      case 'env': {
        config.loadFromFile(source.paths[0]!);
        for (const file of source.paths.slice(1)) {
          const more = new KubeConfig();
          more.loadFromFile(file);
          config.mergeConfig(more);
        }
        break;
      }
      case 'in-cluster':
        config.loadFromCluster();
        break;
    }
  } catch (error) {
    // The parser's message may quote the file; keep only its first line and never the file's content.
    const reason = error instanceof Error ? (error.message.split('\n')[0] ?? error.name) : 'unreadable';
    throw new KubeconfigError(`cannot load ${describeSource(source)}: ${reason}`);
  }
  if (settings.context !== undefined) {
    const names = config.getContexts().map((context) => context.name);
    if (!names.includes(settings.context)) {
      throw new KubeconfigError(`${describeSource(source)} has no context "${settings.context}" (it has: ${names.join(', ') || 'none'})`);
    }
    config.setCurrentContext(settings.context);
  }
  const cluster = config.getCurrentCluster();
  if (!cluster) throw new KubeconfigError(`${describeSource(source)}: the current context names no cluster`);
  const context = config.getCurrentContext();
  return { config, server: cluster.server, description: `context ${context || '(none)'} of ${describeSource(source)}, server ${cluster.server}` };
}
