/**
 * Embedded mode: the control plane, an in-memory transport and a process
 * worker in one Node process. This is what `draas up` runs and what
 * `createControlPlane()` returns to a program that embeds DRaaS.
 */
import type { ControlPlaneOptions } from './actors/control-plane.js';
import { HostedControlPlane } from './hosted-control-plane.js';
import { startPlatformWorker } from './platform-workers.js';
import { FileInstanceStore } from './store/file-store.js';
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

/**
 * Instances, their actors' snapshots and the change log persist under
 * `<dataDir>/state/` unless a `store` is given; the process worker re-adopts
 * the Drasi Servers that still run, so a restart loses nothing.
 */
export async function createControlPlane(options: EmbeddedControlPlaneOptions = {}): Promise<EmbeddedControlPlane> {
  const dataDir = options.dataDir ?? '.draas';
  const transport = new MemoryTransport(options.now ? { now: options.now } : {});
  const store = options.store ?? (await FileInstanceStore.open(dataDir, options.log ? { log: options.log } : {}));
  const worker = await startPlatformWorker(transport, {
    platform: 'process',
    dataDir,
    drasiServer: options.drasiServer ?? 'drasi-server',
    ports: options.ports ?? { min: 18080, max: 18999 },
    ...(options.stopGraceMs !== undefined ? { stopGraceMs: options.stopGraceMs } : {}),
    ...(options.log ? { log: options.log } : {}),
  });
  // Closed after the control plane: the worker, then the store, then the transport.
  const controlPlane = new HostedControlPlane({ ...options, transport, store }, [worker, store, transport]);
  await controlPlane.open();
  return controlPlane;
}
