/** Builds a platform worker with its driver: the one place that chooses a driver per platform. */
import { createHash } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { PlatformWorker } from './actors/platform-worker.js';
import { BadRequestError } from './errors.js';
import { DockerDriver } from './platforms/docker.js';
import { defaultDockerImage, type DockerNetworkMode } from './platforms/docker-options.js';
import type { PlatformDriver, PlatformType } from './platforms/driver.js';
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

function driverFor(settings: WorkerSettings): PlatformDriver {
  const grace = settings.stopGraceMs !== undefined ? { graceMs: settings.stopGraceMs } : {};
  switch (settings.platform) {
    case 'process':
      return new ProcessDriver({ dataDir: path.resolve(settings.dataDir), executable: settings.drasiServer, ports: settings.ports, ...grace });
    case 'docker': {
      const docker = settings.docker ?? {};
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
    driver: driverFor(settings),
    workerId: settings.workerId ?? defaultWorkerId(settings),
    ...(settings.heartbeatMs ? { heartbeatMs: settings.heartbeatMs } : {}),
    ...(settings.log ? { log: settings.log } : {}),
  });
  await worker.start();
  return worker;
}

/** Whether a Docker Engine answers at `host` (or the local socket): what `draas up` asks to decide on a Docker worker. */
export async function dockerEngineReachable(host: string | undefined): Promise<boolean> {
  const driver = new DockerDriver({ connection: host !== undefined ? { dockerHost: host } : {}, defaultImage: defaultDockerImage, ports: { min: 1, max: 1 } });
  try {
    return (await driver.availability()).available;
  } finally {
    await driver.close();
  }
}
