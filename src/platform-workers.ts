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
import { BadRequestError } from './errors.js';
import { dockerConnectionOptions } from './platforms/docker-connection.js';
import { defaultDockerImage, type DockerNetworkMode } from './platforms/docker-options.js';
import type { PlatformAvailability, PlatformDriver, PlatformType } from './platforms/driver.js';
import { loadPlatformModule, MissingPlatformSdkError } from './platforms/platform-sdk.js';
import { ProcessDriver } from './platforms/process.js';
import type { Transport } from './transport/transport.js';

export interface DockerWorkerSettings {
  /** A DOCKER_HOST value (unix:///path or tcp://host:port); default the local socket. */
  host?: string;
  /** Default image. Default `defaultDockerImage`. */
  image?: string;
  /** Default network of instances that do not name one. Default `bridge`. */
  network?: DockerNetworkMode;
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
}

export interface WorkerSettings extends ProcessWorkerSettings {
  platform: PlatformType;
  workerId?: string;
  heartbeatMs?: number;
  log?: (message: string) => void;
}

/** The Docker driver module; loads dockerode (a `MissingPlatformSdkError` when it is not installed). */
const loadDockerDriver = () => loadPlatformModule('docker', 'dockerode', () => import('./platforms/docker.js'));

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
        ports: settings.ports,
        ...grace,
        ...(settings.log ? { log: settings.log } : {}),
      });
    }
    case 'kubernetes':
      throw new BadRequestError(`no driver for platform "kubernetes" yet; available: process, docker`);
  }
}

/**
 * A worker id that stays the same across restarts of the same worker: the
 * platform, the host, and a digest of what the worker manages (the data
 * directory; the Docker endpoint). It names the worker's queue, where the
 * commands for its instances wait while it is away (see `PlatformWorker`).
 */
export function defaultWorkerId(settings: Pick<WorkerSettings, 'platform' | 'dataDir' | 'docker'>): string {
  const manages = settings.platform === 'docker' ? `docker:${settings.docker?.host ?? 'default'}` : `dir:${path.resolve(settings.dataDir)}`;
  const host = os.hostname().toLowerCase().replace(/[^a-z0-9-]+/g, '-').slice(0, 40) || 'host';
  return `${settings.platform}-${host}-${createHash('sha256').update(manages).digest('hex').slice(0, 8)}`;
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
