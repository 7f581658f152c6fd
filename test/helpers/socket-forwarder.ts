/**
 * A small real proxy in front of a unix socket (e.g. the Docker Engine's):
 * every connection to `listenPath` is piped to `targetPath`. `cut()` stops
 * listening and breaks every open connection (clients then get ENOENT or
 * ECONNREFUSED, as with a daemon that died); `restore()` listens again on
 * the same path.
 */
import { rmSync } from 'node:fs';
import net from 'node:net';

export class SocketForwarder {
  private server: net.Server | undefined;
  private readonly sockets = new Set<net.Socket>();

  private constructor(
    readonly listenPath: string,
    private readonly targetPath: string,
  ) {}

  static async start(listenPath: string, targetPath: string): Promise<SocketForwarder> {
    const forwarder = new SocketForwarder(listenPath, targetPath);
    await forwarder.restore();
    return forwarder;
  }

  /** Whether it forwards now. */
  get open(): boolean {
    return this.server !== undefined;
  }

  async restore(): Promise<void> {
    if (this.server) return;
    rmSync(this.listenPath, { force: true });
    const server = net.createServer((client) => {
      const upstream = net.connect(this.targetPath);
      for (const socket of [client, upstream]) {
        this.sockets.add(socket);
        socket.on('close', () => this.sockets.delete(socket));
        socket.on('error', () => undefined);
      }
      client.pipe(upstream);
      upstream.pipe(client);
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.listenPath, () => resolve());
    });
    this.server = server;
  }

  async cut(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    for (const socket of this.sockets) socket.destroy();
    this.sockets.clear();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
    rmSync(this.listenPath, { force: true });
  }
}
