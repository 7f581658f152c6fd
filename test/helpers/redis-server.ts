/**
 * A private `redis-server` for one test (or one test file): a free port, a
 * temporary directory, and controls to kill it and start it again on the same
 * port, so tests can cut Redis away from clients that are connected to it.
 *
 *   const redis = await startRedisServer();   // ready: PING answered
 *   t.teardown(() => redis.stop());
 *   await redis.kill();      // SIGKILL, the port is free
 *   await redis.restart();   // same port, same dir (append-only data survives)
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

export interface RedisServer {
  readonly port: number;
  /** `redis://127.0.0.1:<port>` */
  readonly url: string;
  /** The data directory (the append-only file lives here). */
  readonly dir: string;
  /** True while the process runs. */
  readonly running: boolean;
  /** SIGKILL: no shutdown, no final save; resolves when the process is gone. */
  kill(): Promise<void>;
  /** Starts the server again on the same port and directory (killing it first if it runs); resolves when PING answers. */
  restart(): Promise<void>;
  /** Stops the server for good and removes its directory. Idempotent. */
  stop(): Promise<void>;
}

export interface RedisServerOptions {
  /** Persist with an append-only file, fsynced on every write, so data survives kill() + restart(). */
  appendonly?: boolean;
  /** How long to wait for the server to answer PING (default 10 s). */
  readyTimeoutMs?: number;
  /** More configuration as arguments, e.g. `['--requirepass', 'secret']` or an ACL `--user …`. */
  args?: string[];
}

const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => (port > 0 ? resolve(port) : reject(new Error('no free port'))));
    });
  });
}

/** One PING over a raw socket: true when the server answers +PONG. */
function ping(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host: '127.0.0.1' });
    let answer = '';
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1_000, () => done(false));
    socket.once('error', () => done(false));
    socket.once('connect', () => socket.write('*1\r\n$4\r\nPING\r\n'));
    socket.on('data', (chunk) => {
      answer += chunk.toString('utf8');
      // A server that wants a password (requirepass, ACL users) answers too: it is up.
      if (answer.includes('\r\n')) done(answer.startsWith('+PONG') || answer.startsWith('-NOAUTH'));
    });
  });
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

export async function startRedisServer(options: RedisServerOptions = {}): Promise<RedisServer> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'draas-redis-'));
  const readyTimeoutMs = options.readyTimeoutMs ?? 10_000;
  let port = 0;
  let child: ChildProcess | undefined;
  let stopped = false;

  const args = () => [
    '--port', String(port),
    '--bind', '127.0.0.1',
    '--save', '',
    '--dir', dir,
    ...(options.appendonly ? ['--appendonly', 'yes', '--appendfsync', 'always'] : ['--appendonly', 'no']),
    ...(options.args ?? []),
  ];

  async function launch(): Promise<void> {
    let output = '';
    const server = spawn('redis-server', args(), { stdio: ['ignore', 'pipe', 'pipe'] });
    child = server;
    live.add(server);
    server.once('exit', () => live.delete(server));
    server.stdout?.on('data', (chunk: Buffer) => (output = (output + chunk.toString('utf8')).slice(-4_000)));
    server.stderr?.on('data', (chunk: Buffer) => (output = (output + chunk.toString('utf8')).slice(-4_000)));
    const deadline = Date.now() + readyTimeoutMs;
    while (Date.now() < deadline) {
      if (server.exitCode !== null || server.signalCode !== null) break;
      if (await ping(port)) return;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    server.kill('SIGKILL');
    await exited(server);
    throw new Error(`redis-server on port ${port} did not answer PING within ${readyTimeoutMs} ms:\n${output}`);
  }

  async function kill(): Promise<void> {
    const current = child;
    if (!current) return;
    current.kill('SIGKILL');
    await exited(current);
    child = undefined;
  }

  // A free port can be taken between probing and binding: try a few.
  for (let attempt = 1; ; attempt += 1) {
    port = await freePort();
    try {
      await launch();
      break;
    } catch (error) {
      if (attempt >= 3) {
        await rm(dir, { recursive: true, force: true });
        throw error;
      }
    }
  }

  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    dir,
    get running() {
      return child !== undefined && child.exitCode === null && child.signalCode === null;
    },
    kill,
    async restart() {
      if (stopped) throw new Error('the redis server was stopped');
      await kill();
      await launch();
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      const current = child;
      if (current) {
        current.kill('SIGTERM');
        const timer = setTimeout(() => current.kill('SIGKILL'), 3_000);
        await exited(current);
        clearTimeout(timer);
        child = undefined;
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}
