/** A control plane with the in-memory driver behind a real HTTP server on an ephemeral port. */
import type { ExecutionContext } from 'ava';
import type { AddressInfo } from 'node:net';
import { ControlPlane } from '../../src/actors/control-plane.js';
import { PlatformWorker } from '../../src/actors/platform-worker.js';
import { createHttpApp, type HttpAppOptions } from '../../src/http/app.js';
import { MemoryTransport } from '../../src/transport/memory.js';
import { MemoryDriver } from '../fixtures/memory-driver.js';

export interface MemoryControlPlaneOptions {
  worker?: boolean;
  /** Options of the HTTP app (serve only). */
  http?: HttpAppOptions;
  startTimeoutMs?: number;
  replySlackMs?: number;
  restartBackoffMs?: number;
}

/** A control plane, a memory transport and a worker with the in-memory driver; all closed at teardown. */
export async function memoryControlPlane(t: ExecutionContext, options: MemoryControlPlaneOptions = {}) {
  const transport = new MemoryTransport();
  const driver = new MemoryDriver();
  const worker = new PlatformWorker({ transport, driver, heartbeatMs: 60_000 });
  if (options.worker !== false) await worker.start();
  const backoff = options.restartBackoffMs ?? 60_000;
  const controlPlane = new ControlPlane({
    transport,
    startTimeoutMs: options.startTimeoutMs ?? 2_000,
    replySlackMs: options.replySlackMs ?? 100,
    stopGraceMs: 100,
    restartPolicy: { initialBackoffMs: backoff, maxBackoffMs: backoff * 4 },
  });
  await controlPlane.open();
  t.teardown(async () => {
    await controlPlane.close();
    await worker.close();
    await transport.close();
  });
  return { transport, driver, worker, controlPlane };
}

/** What the small client of `serve` returns. */
export interface ApiAnswer {
  status: number;
  /** The Content-Type. */
  type: string;
  headers: Headers;
  body: Record<string, unknown> | undefined;
}

export type MemoryApiCall = (method: string, path: string, body?: unknown, headers?: Record<string, string>) => Promise<ApiAnswer>;

/** The same, behind a real HTTP server on an ephemeral port, with a small client. */
export async function serve(t: ExecutionContext, options: MemoryControlPlaneOptions = {}) {
  const { driver, controlPlane, transport } = await memoryControlPlane(t, options);
  const server = createHttpApp(controlPlane, { log: () => undefined, ...options.http }).listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  t.teardown(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });
  const call: MemoryApiCall = async (method, path, body, headers = {}) => {
    const init: RequestInit = { method, headers: { ...headers } };
    if (body !== undefined) {
      init.body = typeof body === 'string' ? body : JSON.stringify(body);
      (init.headers as Record<string, string>)['content-type'] ??= 'application/json';
    }
    const response = await fetch(base + path, init);
    const text = await response.text();
    return { status: response.status, type: response.headers.get('content-type') ?? '', headers: response.headers, body: text ? (JSON.parse(text) as Record<string, unknown>) : undefined };
  };
  return { call, base, server, driver, controlPlane, transport };
}

