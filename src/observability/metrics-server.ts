/**
 * A listener of its own for Prometheus (`--metrics-port`): it serves
 * `GET /metrics` and nothing else, without a token, so that a scraper on a
 * private network needs no API credentials and the API's port can stay
 * closed to it. It reveals counts and timings, never an instance's name,
 * configuration or logs; bind it where only the scrapers reach
 * (default 127.0.0.1).
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { errorMessage } from '../errors.js';
import type { MetricsRegistry } from './metrics.js';
import { listenOn } from '../http/serve.js';

export interface MetricsListener {
  /** `http://host:port` (the scrape URL is this plus `/metrics`). */
  url: string;
  port: number;
  /** Stops listening and closes open connections. Idempotent. */
  close(): Promise<void>;
}

export interface MetricsListenOptions {
  /** 0 picks a free port. */
  port: number;
  /** Default 127.0.0.1. */
  host?: string;
}

function answer(response: ServerResponse, status: number, text: string, headers: Record<string, string> = {}): void {
  response.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', 'Cache-Control': 'no-store', ...headers });
  response.end(text);
}

async function handle(metrics: MetricsRegistry, request: IncomingMessage, response: ServerResponse): Promise<void> {
  const path = (request.url ?? '/').split('?')[0];
  if (path !== '/metrics') return answer(response, 404, 'not found: this listener serves GET /metrics only\n');
  if (request.method !== 'GET' && request.method !== 'HEAD') return answer(response, 405, 'method not allowed\n', { Allow: 'GET, HEAD' });
  let text: string;
  try {
    text = await metrics.text();
  } catch (error) {
    return answer(response, 500, `metrics could not be collected: ${errorMessage(error)}\n`);
  }
  response.writeHead(200, { 'Content-Type': metrics.contentType, 'Cache-Control': 'no-store' });
  response.end(request.method === 'HEAD' ? undefined : text);
}

/** Serves `metrics` at `/metrics`; rejects with a readable Error when the port is taken or the address cannot be bound. */
export function serveMetrics(metrics: MetricsRegistry, options: MetricsListenOptions): Promise<MetricsListener> {
  const host = options.host ?? '127.0.0.1';
  const server = createServer((request, response) => void handle(metrics, request, response));
  // Scrapes are short: a connection left idle by a scraper is not kept for long.
  server.keepAliveTimeout = 5_000;
  return listenOn(server, { port: options.port, host }).catch((error: NodeJS.ErrnoException) => {
    const where = `${host}:${options.port}`;
    const why =
      error.code === 'EADDRINUSE'
        ? `the metrics port ${where} is in use (choose another with --metrics-port / DRAAS_METRICS_PORT)`
        : error.code === 'EADDRNOTAVAIL'
          ? `the metrics address ${host} is not an address of this host (--metrics-host / DRAAS_METRICS_HOST)`
          : `cannot serve metrics on ${where}: ${error.message}`;
    throw new Error(why, { cause: error });
  });
}
