/**
 * The component API of the memory driver's "servers", for model paths: one
 * HTTP listener on 127.0.0.1 serving, under `/i/<instance>`, the sources,
 * queries and reactions of each running instance as the Drasi Server
 * contract does (success envelopes, `?view=full`, 404s), loaded from the
 * config of its start. Every changing call is held at the gates (`apply`)
 * until the path lets it go; a `fail` answers 500 and changes nothing.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Gates } from './gates.js';

type Kind = 'sources' | 'queries' | 'reactions';
type Component = { id: string; status: string; config: Record<string, unknown> };
const kinds: readonly Kind[] = ['sources', 'queries', 'reactions'];

function statusOf(kind: Kind, config: Record<string, unknown>): string {
  const autoStart = config['autoStart'] ?? kind !== 'queries';
  return autoStart === true ? 'Running' : 'Stopped';
}

async function bodyOf(request: IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>;
}

export class ComponentServers {
  private readonly servers = new Map<string, Record<Kind, Map<string, Component>>>();
  /** Instances whose server takes reads and never answers them (a hung server). */
  private readonly stalled = new Set<string>();
  private readonly server: Server;
  private url = '';

  constructor(private readonly gates: Gates) {
    this.server = createServer((request, response) => {
      void this.handle(request).then(({ status, body }) => {
        response.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
      });
    });
  }

  async listen(): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  /** A server of the instance starts with the components of its config. */
  load(instanceId: string, config: Record<string, unknown>): void {
    const components = { sources: new Map(), queries: new Map(), reactions: new Map() } as Record<Kind, Map<string, Component>>;
    for (const kind of kinds) {
      const list = config[kind];
      for (const item of Array.isArray(list) ? (list as Record<string, unknown>[]) : []) {
        components[kind].set(String(item['id']), { id: String(item['id']), status: statusOf(kind, item), config: item });
      }
    }
    this.servers.set(instanceId, components);
    // A new server answers again.
    this.stalled.delete(instanceId);
  }

  endpoint(instanceId: string): string {
    return `${this.url}/i/${encodeURIComponent(instanceId)}`;
  }

  /** The generation the instance's server serves (its `gen-<n>` source), or undefined without one. */
  generationOf(instanceId: string): number | undefined {
    const id = [...(this.servers.get(instanceId)?.sources.keys() ?? [])].find((each) => each.startsWith('gen-'));
    return id === undefined ? undefined : Number(id.slice(4));
  }

  /** From now on the instance's server never answers a read (until a new server of it is loaded). */
  stall(instanceId: string): void {
    this.stalled.add(instanceId);
  }

  /** Deletes the generation source behind DRaaS's back (not held). */
  dropSource(instanceId: string): void {
    const generation = this.generationOf(instanceId);
    if (generation === undefined) throw new Error(`the server of ${instanceId} serves no generation to drop`);
    this.servers.get(instanceId)!.sources.delete(`gen-${generation}`);
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
  }

  private async handle(request: IncomingMessage): Promise<{ status: number; body: unknown }> {
    const ok = (data: unknown) => ({ status: 200, body: { success: true, data, error: null } });
    const error = (status: number, code: string, message: string) => ({ status, body: { code, message } });
    const url = new URL(request.url ?? '/', 'http://localhost');
    const match = /^\/i\/([^/]+)\/api\/v1\/(sources|queries|reactions)(?:\/([^/]+)(?:\/(start|stop))?)?$/.exec(url.pathname);
    if (!match) return error(404, 'NOT_FOUND', `no route for ${url.pathname}`);
    const instanceId = decodeURIComponent(match[1]!);
    const kind = match[2] as Kind;
    const id = match[3] === undefined ? undefined : decodeURIComponent(match[3]);
    const action = match[4];
    const components = this.servers.get(instanceId);
    if (!components) return error(503, 'UNAVAILABLE', `no server of ${instanceId} runs`);
    const list = components[kind];
    if (request.method === 'GET' && this.stalled.has(instanceId)) return new Promise(() => undefined);
    if (request.method === 'GET') {
      if (id === undefined) return ok([...list.values()].map(({ id: each, status }) => ({ id: each, status })));
      const found = list.get(id);
      if (!found) return error(404, 'NOT_FOUND', `${kind} '${id}' not found`);
      return ok(url.searchParams.get('view') === 'full' ? found : { id: found.id, status: found.status });
    }
    const body = request.method === 'POST' && id === undefined ? await bodyOf(request) : request.method === 'PUT' ? await bodyOf(request) : undefined;
    if ((await this.gates.hold('apply', instanceId)) !== 'ok') return error(500, 'INTERNAL_ERROR', 'the model test failed this call');
    if (id === undefined) {
      if (request.method !== 'POST' || !body) return error(405, 'METHOD_NOT_ALLOWED', `${request.method} on ${url.pathname}`);
      const created = String(body['id']);
      if (list.has(created)) return error(409, 'ALREADY_EXISTS', `${kind} '${created}' already exists`);
      list.set(created, { id: created, status: statusOf(kind, body), config: body });
      return ok({ id: created });
    }
    if (action !== undefined) {
      const found = list.get(id);
      if (!found) return error(404, 'NOT_FOUND', `${kind} '${id}' not found`);
      found.status = action === 'start' ? 'Running' : 'Stopped';
      return ok({ id });
    }
    if (request.method === 'DELETE') {
      if (!list.delete(id)) return error(404, 'NOT_FOUND', `${kind} '${id}' not found`);
      return ok({ id });
    }
    if (request.method === 'PUT' && body) {
      list.set(id, { id, status: statusOf(kind, body), config: body });
      return ok({ id });
    }
    return error(405, 'METHOD_NOT_ALLOWED', `${request.method} on ${url.pathname}`);
  }
}
