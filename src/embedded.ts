/**
 * Embedded mode: the control plane, an in-memory transport and a process
 * worker in one Node process. This is what `draas up` runs and what
 * `createControlPlane()` returns to a program that embeds DRaaS.
 */
import type { ControlPlaneOptions } from './actors/control-plane.js';
import { HostedControlPlane } from './hosted-control-plane.js';
import { startPlatformWorker } from './platform-workers.js';
import { MemoryTransport } from './transport/memory.js';

export interface EmbeddedControlPlaneOptions extends Omit<ControlPlaneOptions, 'transport'> {
  /** Where instance working directories live. Default `./.draas`. */
  dataDir?: string;
  /** The Drasi Server executable. Default `drasi-server` (looked up on PATH). */
  drasiServer?: string;
  /** Ports handed to Drasi Servers. Default 18080–18999. */
  ports?: { min: number; max: number };
}

export type EmbeddedControlPlane = HostedControlPlane;

export async function createControlPlane(options: EmbeddedControlPlaneOptions = {}): Promise<EmbeddedControlPlane> {
  const transport = new MemoryTransport(options.now ? { now: options.now } : {});
  const worker = await startPlatformWorker(transport, {
    platform: 'process',
    dataDir: options.dataDir ?? '.draas',
    drasiServer: options.drasiServer ?? 'drasi-server',
    ports: options.ports ?? { min: 18080, max: 18999 },
    ...(options.stopGraceMs !== undefined ? { stopGraceMs: options.stopGraceMs } : {}),
  });
  const controlPlane = new HostedControlPlane({ ...options, transport }, [worker, transport]);
  await controlPlane.open();
  return controlPlane;
}
