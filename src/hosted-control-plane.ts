/**
 * A control plane together with its REST API and the resources it owns
 * (workers, the transport), closed in order. Embedded and cluster mode are
 * both one of these, wired differently.
 */
import type Koa from 'koa';
import { ControlPlane, type ControlPlaneOptions } from './actors/control-plane.js';
import { createHttpApp } from './http/app.js';
import { serveHttp, type HttpListener } from './http/serve.js';
import type { Closeable } from './transport/transport.js';

export class HostedControlPlane extends ControlPlane {
  /** The REST API as a Koa app: mount it, or call `listen()`. */
  readonly app: Koa;
  private listeners: HttpListener[] = [];
  private readonly owned: Closeable[];

  /** `owned` is closed after the control plane, in the given order (e.g. workers, then the transport). */
  constructor(options: ControlPlaneOptions, owned: Closeable[]) {
    super(options);
    this.owned = owned;
    this.app = createHttpApp(this, options.log ? { log: options.log } : {});
  }

  /** Serves the REST API. Port 0 picks a free one; the returned URL names it. */
  async listen(options: { port?: number; host?: string } = {}): Promise<HttpListener> {
    const listener = await serveHttp(this.app, options);
    this.listeners.push(listener);
    return listener;
  }

  /** Stops serving, stops the actors, then closes what it owns. Drasi Servers keep running. Idempotent. */
  override async close(): Promise<void> {
    await Promise.all(this.listeners.splice(0).map((listener) => listener.close()));
    await super.close();
    for (const resource of this.owned.splice(0)) await resource.close();
  }
}
