/**
 * A control plane together with its REST API and the resources it owns
 * (workers, the store, the transport), closed in order within a deadline.
 * Embedded and cluster mode are both one of these, wired differently.
 */
import type Koa from 'koa';
import { ControlPlane, type ControlPlaneOptions } from './actors/control-plane.js';
import { errorMessage } from './errors.js';
import { createHttpApp, type HttpAppOptions } from './http/app.js';
import { serveHttp, type HttpListener } from './http/serve.js';
import { within } from './time-bounds.js';
import { toLogger, type Logger } from './observability/logger.js';
import { serveMetrics, type MetricsListener, type MetricsListenOptions } from './observability/metrics-server.js';
import type { Closeable } from './transport/transport.js';

/** Something the control plane owns, named for the log when it cannot be closed in time. */
export interface OwnedResource {
  name: string;
  resource: Closeable;
}

export interface HostedControlPlaneOptions extends ControlPlaneOptions {
  /**
   * How long close() takes at most (default 10 s). What has not closed by
   * then is logged and abandoned (leases and presences expire by themselves;
   * unsaved snapshots are rebuilt by whoever rehydrates), so a shutdown
   * finishes whatever Redis does.
   */
  closeTimeoutMs?: number;
  /**
   * Options of the REST API (`app`): the host names and CORS origins it
   * answers, its body and stream limits, whether it takes status reports.
   * See `HttpAppOptions`; the defaults suit an API on a loopback address.
   */
  http?: Omit<HttpAppOptions, 'log'>;
  /**
   * Also serve `GET /metrics` alone, without a token, on this port and host
   * (default host 127.0.0.1): for Prometheus on a private network
   * (`--metrics-port`). Opened by `createControlPlane` and
   * `startClusterControlPlane`; see `listenMetrics`.
   */
  metricsListener?: MetricsListenOptions;
}

export class HostedControlPlane extends ControlPlane {
  /** The REST API as a Koa app: mount it, or call `listen()`. */
  readonly app: Koa;
  private listeners: (HttpListener | MetricsListener)[] = [];
  private readonly metricsListeners: MetricsListener[] = [];
  private readonly owned: OwnedResource[];
  private readonly closeTimeoutMs: number;
  private readonly hostLog: Logger;
  private readonly closingSteps = new Set<string>();
  private hostedClosing: Promise<void> | undefined;

  /** `owned` is closed after the control plane, in the given order (e.g. workers, then the transport). */
  constructor(options: HostedControlPlaneOptions, owned: OwnedResource[]) {
    super(options);
    this.owned = owned;
    this.closeTimeoutMs = options.closeTimeoutMs ?? 10_000;
    this.hostLog = toLogger(options.log);
    this.app = createHttpApp(this, { ...options.http, ...(options.log ? { log: options.log } : {}) });
  }

  /** Serves the REST API. Port 0 picks a free one; the returned URL names it. */
  async listen(options: { port?: number; host?: string } = {}): Promise<HttpListener> {
    const listener = await serveHttp(this.app, options);
    this.listeners.push(listener);
    return listener;
  }

  /**
   * Serves the metrics alone (`GET /metrics`, no token) on a port of their
   * own; closed with the control plane. Rejects with a readable Error when
   * the port is in use.
   */
  async listenMetrics(options: MetricsListenOptions): Promise<MetricsListener> {
    const listener = await serveMetrics(this.metrics, options);
    this.listeners.push(listener);
    this.metricsListeners.push(listener);
    return listener;
  }

  /** The base URL of the first metrics listener (`metricsListener`, `listenMetrics`), if any: scrape `<url>/metrics`. */
  get metricsUrl(): string | undefined {
    return this.metricsListeners[0]?.url;
  }

  /** Opens `metricsListener` when one is asked for; closes everything and rethrows when it cannot be opened. */
  async openMetricsListener(options: MetricsListenOptions | undefined): Promise<MetricsListener | undefined> {
    if (options === undefined) return undefined;
    try {
      return await this.listenMetrics(options);
    } catch (error) {
      await this.close();
      throw error;
    }
  }

  /** What close() is still waiting for (for a shutdown that gives up). */
  get closePending(): string[] {
    return [...this.closingSteps];
  }

  /**
   * Stops serving, stops the actors, then closes what it owns, within
   * `closeTimeoutMs` in all; a step still running then is logged and left.
   * Drasi Servers keep running. Idempotent.
   */
  override close(): Promise<void> {
    this.hostedClosing ??= (async () => {
      const deadline = performance.now() + this.closeTimeoutMs;
      const step = async (name: string, run: () => Promise<void>) => {
        this.closingSteps.add(name);
        const outcome = await within(run(), deadline - performance.now());
        if (!outcome.settled) {
          this.hostLog.warn(`shutdown: ${name} did not close within the ${this.closeTimeoutMs} ms close timeout; abandoned`);
          return;
        }
        this.closingSteps.delete(name);
        if (outcome.result.status === 'rejected') this.hostLog.error(`shutdown: closing ${name} failed: ${errorMessage(outcome.result.reason)}`);
      };
      await step('HTTP listeners', () => Promise.all(this.listeners.splice(0).map((listener) => listener.close())).then(() => undefined));
      await step('control plane (actors, snapshots, leases)', () => super.close());
      for (const { name, resource } of this.owned.splice(0)) await step(name, () => resource.close());
    })();
    return this.hostedClosing;
  }
}
