/**
 * The HTTP endpoint the controlled launcher asks (`GET /launch/<id>`,
 * `GET /stop/<id>`, and the server double before each component call,
 * `GET /apply/<id>`): each question is held at the gates and answered with the
 * verdict the path gives (`ok` or `fail`). Listens on 127.0.0.1 only.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Gates } from './gates.js';

export async function controlServer(gates: Gates): Promise<{ url: string; close: () => Promise<void> }> {
  const server = createServer((request, response) => {
    const match = /^\/(launch|stop|apply)\/([^/]+)$/.exec(request.url ?? '');
    if (request.method !== 'GET' || !match) {
      response.writeHead(404).end();
      return;
    }
    const kind = match[1] === 'launch' ? 'start' : match[1] === 'stop' ? 'stop' : 'apply';
    void gates.hold(kind, decodeURIComponent(match[2]!)).then((verdict) => response.writeHead(200).end(verdict));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    close: async () => {
      gates.releaseAll();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
