/** Serves a Koa app on a port; the returned handle closes it (and its open connections). */
import type { Server } from 'node:http';
import type Koa from 'koa';

export interface HttpListener {
  url: string;
  server: Server;
  close(): Promise<void>;
}

export function serveHttp(app: Koa, options: { port?: number; host?: string } = {}): Promise<HttpListener> {
  const host = options.host ?? '127.0.0.1';
  return new Promise((resolve, reject) => {
    const server = app.listen(options.port ?? 0, host);
    server.once('error', reject);
    server.once('listening', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : options.port;
      let closing: Promise<void> | undefined;
      resolve({
        url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
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
