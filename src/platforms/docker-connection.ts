/**
 * Where the Docker Engine is: a DOCKER_HOST value (`unix:///path`,
 * `tcp://host:port`) or a socket path, turned into dockerode's connection
 * options. Pure: no I/O, so every form is unit-tested.
 */

export interface DockerConnectionSettings {
  /** A DOCKER_HOST value; wins over `socketPath`. */
  dockerHost?: string;
  /** A unix socket path. Default `/var/run/docker.sock`. */
  socketPath?: string;
}

export type DockerConnectionOptions =
  | { socketPath: string }
  | { host: string; port: number; protocol: 'http' | 'https' };

export const defaultDockerSocket = '/var/run/docker.sock';

export class DockerHostError extends Error {
  override name = 'DockerHostError';
}

export function dockerConnectionOptions(settings: DockerConnectionSettings): DockerConnectionOptions {
  const dockerHost = settings.dockerHost?.trim();
  if (!dockerHost) return { socketPath: settings.socketPath ?? defaultDockerSocket };
  if (dockerHost.startsWith('unix://')) {
    const socketPath = dockerHost.slice('unix://'.length);
    if (!socketPath.startsWith('/')) throw new DockerHostError(`DOCKER_HOST "${dockerHost}" must name an absolute socket path (unix:///path)`);
    return { socketPath };
  }
  let url: URL;
  try {
    url = new URL(dockerHost);
  } catch {
    throw new DockerHostError(`DOCKER_HOST "${dockerHost}" is neither unix:///path nor tcp://host:port`);
  }
  if (url.protocol !== 'tcp:' && url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new DockerHostError(`DOCKER_HOST "${dockerHost}": unsupported scheme ${url.protocol} (use unix:// or tcp://)`);
  }
  if (url.hostname === '') throw new DockerHostError(`DOCKER_HOST "${dockerHost}" has no host`);
  // Docker's convention: 2376 is the TLS port, 2375 plain.
  const port = url.port === '' ? (url.protocol === 'https:' ? 2376 : 2375) : Number(url.port);
  const protocol = url.protocol === 'https:' || port === 2376 ? 'https' : 'http';
  return { host: url.hostname, port, protocol };
}

/** How a connection reads in messages. */
export function describeConnection(options: DockerConnectionOptions): string {
  return 'socketPath' in options ? `unix://${options.socketPath}` : `${options.protocol === 'https' ? 'https' : 'tcp'}://${options.host}:${options.port}`;
}
