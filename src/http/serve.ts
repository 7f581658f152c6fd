/** Serves a Koa app (or any HTTP server) on a port; the returned handle closes it (and its open connections). */
import { createServer, type Server } from 'node:http';
import type Koa from 'koa';

export interface HttpListener {
  url: string;
  port: number;
  server: Server;
  close(): Promise<void>;
}

/** Starts `server` listening; rejects with the listen error (EADDRINUSE, …) as Node gives it. */
export function listenOn(server: Server, options: { port?: number; host?: string } = {}): Promise<HttpListener> {
  const host = options.host ?? '127.0.0.1';
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : (options.port ?? 0);
      let closing: Promise<void> | undefined;
      resolve({
        url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
        port,
        server,
        close: () =>
          (closing ??= new Promise<void>((done) => {
            server.close(() => done());
            server.closeAllConnections();
          })),
      });
    });
  });
}

export function serveHttp(app: Koa, options: { port?: number; host?: string } = {}): Promise<HttpListener> {
  return listenOn(createServer(app.callback()), options);
}
