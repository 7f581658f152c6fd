/**
 * A raw HTTP client for the Kubernetes API double (tests of the wire
 * contract speak HTTP themselves, not through a client library), and a
 * reader of watch streams.
 */
export interface KubeEndpoint {
  url: string;
  token: string;
}

export interface KubeResponse {
  status: number;
  contentType: string;
  text: string;
  /** The parsed JSON body (undefined when the body is not JSON). */
  body: unknown;
}

/** `field(pod, 'status.containerStatuses.0.state')`: a path into parsed JSON, undefined where it leads nowhere. */
export function field(value: unknown, path: string): unknown {
  let current: unknown = value;
  for (const key of path.split('.')) {
    if (Array.isArray(current) && /^\d+$/.test(key)) current = current[Number(key)];
    else if (typeof current === 'object' && current !== null && !Array.isArray(current)) {
      const next: unknown = Object.hasOwn(current, key) ? Reflect.get(current, key) : undefined;
      current = next;
    }
    else return undefined;
  }
  return current;
}

export function items(list: unknown): unknown[] {
  const found = field(list, 'items');
  return Array.isArray(found) ? found : [];
}

export function names(list: unknown): string[] {
  return items(list).map((item) => String(field(item, 'metadata.name')));
}

export interface RequestOptions {
  body?: unknown;
  contentType?: string;
  token?: string | null;
  accept?: string;
}

export async function kubeRequest(endpoint: KubeEndpoint, method: string, path: string, options: RequestOptions = {}): Promise<KubeResponse> {
  const headers: Record<string, string> = {};
  const token = options.token === undefined ? endpoint.token : options.token;
  if (token !== null) headers.Authorization = `Bearer ${token}`;
  if (options.accept !== undefined) headers.Accept = options.accept;
  let body: string | undefined;
  if (options.body !== undefined) {
    headers['Content-Type'] = options.contentType ?? 'application/json';
    body = typeof options.body === 'string' ? options.body : JSON.stringify(options.body);
  }
  const response = await fetch(`${endpoint.url}${path}`, { method, headers, ...(body !== undefined ? { body } : {}) });
  const text = await response.text();
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  return { status: response.status, contentType: response.headers.get('content-type') ?? '', text, body: parsed };
}

export interface WatchEvent {
  type: string;
  object: unknown;
}

function parseEvent(line: string): WatchEvent {
  const parsed: unknown = JSON.parse(line);
  const type = field(parsed, 'type');
  if (typeof type !== 'string') throw new Error(`not a watch event: ${line}`);
  return { type, object: field(parsed, 'object') };
}

/** Reads a watch stream's events as they arrive. */
export class WatchReader {
  readonly events: WatchEvent[] = [];
  status = 0;
  /** Resolves when the server ends the stream (or it fails). */
  readonly ended: Promise<void>;
  private readonly controller = new AbortController();
  private wakeups: (() => void)[] = [];

  constructor(endpoint: KubeEndpoint, path: string) {
    this.ended = this.read(endpoint, path).finally(() => this.wake());
  }

  private async read(endpoint: KubeEndpoint, path: string): Promise<void> {
    try {
      const response = await fetch(`${endpoint.url}${path}`, { headers: { Authorization: `Bearer ${endpoint.token}` }, signal: this.controller.signal });
      this.status = response.status;
      if (response.body === null) return;
      const decoder = new TextDecoder();
      let buffer = '';
      for await (const chunk of response.body) {
        buffer += decoder.decode(chunk, { stream: true });
        let newline = buffer.indexOf('\n');
        while (newline >= 0) {
          const line = buffer.slice(0, newline);
          buffer = buffer.slice(newline + 1);
          if (line.trim() !== '') this.push(parseEvent(line));
          newline = buffer.indexOf('\n');
        }
      }
      if (buffer.trim() !== '') this.push(parseEvent(buffer));
    } catch (error) {
      if (!this.controller.signal.aborted) throw error;
    }
  }

  private push(event: WatchEvent): void {
    this.events.push(event);
    this.wake();
  }

  private wake(): void {
    const waiting = this.wakeups;
    this.wakeups = [];
    for (const wake of waiting) wake();
  }

  /** Waits for an event matching `predicate` (among those already received, too). */
  async next(predicate: (event: WatchEvent) => boolean, timeoutMs = 20_000): Promise<WatchEvent> {
    const deadline = Date.now() + timeoutMs;
    let ended = false;
    void this.ended.then(() => (ended = true));
    for (;;) {
      const found = this.events.find(predicate);
      if (found !== undefined) return found;
      if (ended) throw new Error(`watch ended without the expected event; got ${this.events.map((event) => event.type).join(', ')}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no matching watch event within ${timeoutMs} ms; got ${this.events.map((event) => event.type).join(', ')}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(left, 200));
        this.wakeups.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  close(): void {
    this.controller.abort();
  }
}

/** Polls `check` until it returns a value that is not undefined. */
export async function eventually<T>(check: () => Promise<T | undefined> | T | undefined, what: string, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
