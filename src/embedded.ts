/**
 * Embedded mode: the control plane, an in-memory transport and a process
 * worker in one Node process. This is what `draas up` runs and what
 * `createControlPlane()` returns to a program that embeds DRaaS.
 */
import type { Server } from 'node:http';
import path from 'node:path';
import type Koa from 'koa';
import { ControlPlane, type ControlPlaneOptions } from './actors/control-plane.js';
import { PlatformWorker } from './actors/platform-worker.js';
import { createHttpApp } from './http/app.js';
import { ProcessDriver } from './platforms/process.js';
import { MemoryTransport } from './transport/memory.js';

export interface EmbeddedControlPlaneOptions extends Omit<ControlPlaneOptions, 'transport'> {
  /** Where instance working directories live. Default `./.draas`. */
  dataDir?: string;
  /** The Drasi Server executable. Default `drasi-server` (looked up on PATH). */
  drasiServer?: string;
  /** Ports handed to Drasi Servers. Default 18080–18999. */
  ports?: { min: number; max: number };
}

export class EmbeddedControlPlane extends ControlPlane {
  /** The REST API as a Koa app: mount it, or call `listen()`. */
  readonly app: Koa;
  readonly worker: PlatformWorker;
  private servers: Server[] = [];

  constructor(options: EmbeddedControlPlaneOptions, transport: MemoryTransport, worker: PlatformWorker) {
    super({ ...options, transport });
    this.worker = worker;
    this.app = createHttpApp(this, options.log ? { log: options.log } : {});
  }

  /** Serves the REST API. Port 0 picks a free one; the returned URL names it. */
  listen(options: { port?: number; host?: string } = {}): Promise<{ url: string; server: Server }> {
    const host = options.host ?? '127.0.0.1';
    return new Promise((resolve, reject) => {
      const server = this.app.listen(options.port ?? 0, host);
      server.once('error', reject);
      server.once('listening', () => {
        const address = server.address();
        const port = typeof address === 'object' && address ? address.port : options.port;
        this.servers.push(server);
        resolve({ url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`, server });
      });
    });
  }

  /** Stops serving and stops the actors and the worker. Drasi Servers keep running. Idempotent. */
  override async close(): Promise<void> {
    await Promise.all(
      this.servers.splice(0).map(
        (server) =>
          new Promise<void>((resolve) => {
            server.close(() => resolve());
            server.closeAllConnections();
          }),
      ),
    );
    await super.close();
    await this.worker.close();
    await this.transport.close();
  }
}

export async function createControlPlane(options: EmbeddedControlPlaneOptions = {}): Promise<EmbeddedControlPlane> {
  const transport = new MemoryTransport(options.now ? { now: options.now } : {});
  const driver = new ProcessDriver({
    dataDir: path.resolve(options.dataDir ?? '.draas'),
    executable: options.drasiServer ?? 'drasi-server',
    ports: options.ports ?? { min: 18080, max: 18999 },
    ...(options.stopGraceMs !== undefined ? { graceMs: options.stopGraceMs } : {}),
  });
  const worker = new PlatformWorker({ transport, driver });
  await worker.start();
  const controlPlane = new EmbeddedControlPlane(options, transport, worker);
  await controlPlane.open();
  return controlPlane;
}
