/**
 * What a Drasi Server container looks like: its name, labels, command line,
 * limits and networking, built from the workload spec and the Docker
 * options. Pure: no I/O, unit-tested without an engine.
 */
import type { ContainerCreateOptions } from 'dockerode';
import type { DockerNetworkMode, DockerPlatformOptions } from './docker-options.js';
import type { WorkloadSpec } from './driver.js';
import { withPort } from './workload-support.js';

/** Labels on every container this platform creates: ownership, instance, and what re-adoption needs. */
export const dockerLabels = {
  managedBy: 'managed-by',
  instanceId: 'io.draas.instance-id',
  generation: 'io.draas.generation',
  port: 'io.draas.port',
} as const;
export const managedByValue = 'draas';

/** Where the image expects its config: the working directory is `/app`, the config under it. */
export const containerWorkingDir = '/app';
export const containerConfigDir = 'config';
export const containerConfigPath = `${containerWorkingDir}/${containerConfigDir}/server.yaml`;

/** The options a container is created with, after the worker's defaults filled the gaps. */
export interface ResolvedDockerOptions {
  image: string;
  network: DockerNetworkMode;
  memoryMb?: number;
  cpus?: number;
}

export function resolveDockerOptions(given: DockerPlatformOptions, defaults: { image: string; network: DockerNetworkMode }): ResolvedDockerOptions {
  return {
    image: given.image ?? defaults.image,
    network: given.network ?? defaults.network,
    ...(given.memoryMb !== undefined ? { memoryMb: given.memoryMb } : {}),
    ...(given.cpus !== undefined ? { cpus: given.cpus } : {}),
  };
}

export function containerName(instanceId: string): string {
  return `draas-${instanceId}`;
}

/**
 * The config the server reads inside the container. With a bridge network
 * the server must listen on all of the container's interfaces (Docker
 * publishes the port on the host's 127.0.0.1 only); with host networking it
 * binds where the instance asked, as a process would.
 */
export function containerServerConfig(spec: WorkloadSpec, network: DockerNetworkMode, port: number): Record<string, unknown> {
  const config = withPort(spec.config, port);
  return network === 'bridge' ? { ...config, host: '0.0.0.0' } : config;
}

/** The create options of the instance's container; the config file is delivered separately (see `docker.ts`). */
export function containerCreateOptions(spec: WorkloadSpec, options: ResolvedDockerOptions, port: number): ContainerCreateOptions {
  const portKey = `${port}/tcp`;
  const hostConfig: NonNullable<ContainerCreateOptions['HostConfig']> = {
    // DRaaS owns restarts (with backoff, per the instance's desired state).
    RestartPolicy: { Name: 'no' },
    NetworkMode: options.network,
    ...(options.network === 'bridge' ? { PortBindings: { [portKey]: [{ HostIp: '127.0.0.1', HostPort: String(port) }] } } : {}),
    // MemorySwap = Memory: no swap beyond the limit, so the limit is what the OOM killer enforces.
    ...(options.memoryMb !== undefined ? { Memory: options.memoryMb * 1024 * 1024, MemorySwap: options.memoryMb * 1024 * 1024 } : {}),
    ...(options.cpus !== undefined ? { NanoCpus: Math.round(options.cpus * 1e9) } : {}),
  };
  return {
    name: containerName(spec.instanceId),
    Image: options.image,
    // The image's entrypoint is the server binary; DRaaS supplies its arguments.
    Cmd: ['--config', containerConfigPath, '--port', String(port)],
    WorkingDir: containerWorkingDir,
    Env: Object.entries(spec.env).map(([name, value]) => `${name}=${value}`),
    Labels: {
      [dockerLabels.managedBy]: managedByValue,
      [dockerLabels.instanceId]: spec.instanceId,
      [dockerLabels.generation]: String(spec.generation),
      [dockerLabels.port]: String(port),
    },
    // The server's only graceful signal; `docker stop` sends it, then SIGKILL after the grace period.
    StopSignal: 'SIGINT',
    ...(options.network === 'bridge' ? { ExposedPorts: { [portKey]: {} } } : {}),
    AttachStdin: false,
    AttachStdout: false,
    AttachStderr: false,
    Tty: false,
    HostConfig: hostConfig,
  };
}

/** What the labels of a container say about it; undefined for a container that is not ours or not readable. */
export function labelFacts(labels: Record<string, string> | undefined): { instanceId: string; generation: number; port: number } | undefined {
  if (!labels || labels[dockerLabels.managedBy] !== managedByValue) return undefined;
  const instanceId = labels[dockerLabels.instanceId];
  const generation = Number(labels[dockerLabels.generation]);
  const port = Number(labels[dockerLabels.port]);
  if (!instanceId || !Number.isInteger(generation) || !Number.isInteger(port) || port < 1 || port > 65535) return undefined;
  return { instanceId, generation, port };
}
