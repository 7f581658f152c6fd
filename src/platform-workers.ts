/** Builds a platform worker with its driver: the one place that chooses a driver per platform. */
import path from 'node:path';
import { PlatformWorker } from './actors/platform-worker.js';
import { BadRequestError } from './errors.js';
import type { PlatformType } from './platforms/driver.js';
import { ProcessDriver } from './platforms/process.js';
import type { Transport } from './transport/transport.js';

export interface ProcessWorkerSettings {
  /** Where instance working directories live. */
  dataDir: string;
  /** The Drasi Server executable. */
  drasiServer: string;
  /** Ports handed to Drasi Servers. */
  ports: { min: number; max: number };
  stopGraceMs?: number;
}

export interface WorkerSettings extends ProcessWorkerSettings {
  platform: PlatformType;
  workerId?: string;
  heartbeatMs?: number;
  log?: (message: string) => void;
}

/** Creates and starts a worker consuming `settings.platform`'s command queue. */
export async function startPlatformWorker(transport: Transport, settings: WorkerSettings): Promise<PlatformWorker> {
  if (settings.platform !== 'process') {
    throw new BadRequestError(`no driver for platform "${settings.platform}" yet; available: process`);
  }
  const driver = new ProcessDriver({
    dataDir: path.resolve(settings.dataDir),
    executable: settings.drasiServer,
    ports: settings.ports,
    ...(settings.stopGraceMs !== undefined ? { graceMs: settings.stopGraceMs } : {}),
  });
  const worker = new PlatformWorker({
    transport,
    driver,
    ...(settings.workerId ? { workerId: settings.workerId } : {}),
    ...(settings.heartbeatMs ? { heartbeatMs: settings.heartbeatMs } : {}),
    ...(settings.log ? { log: settings.log } : {}),
  });
  await worker.start();
  return worker;
}
