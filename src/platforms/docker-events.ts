/**
 * The Docker Engine's event stream, narrowed to our containers: exits (die),
 * OOM kills and health changes, as typed events. Reconnects with capped
 * exponential backoff (reset on the first event after a reconnect) and
 * resumes from the time of the last event seen (`since`), so an exit during a
 * reconnect is delivered late rather than lost; `onResumed` lets the owner
 * reconcile anyway.
 */
import { dockerLabels, managedByValue } from './docker-container-spec.js';

export type DockerContainerEvent =
  | { action: 'start'; containerId: string; instanceId: string; timeNano: bigint }
  | { action: 'die'; containerId: string; instanceId: string; exitCode: number | null; timeNano: bigint }
  | { action: 'oom'; containerId: string; instanceId: string; timeNano: bigint }
  | { action: 'health'; containerId: string; instanceId: string; healthy: boolean; timeNano: bigint };

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** One decoded event object from the Engine → ours, or undefined for anything else. Pure. */
export function parseDockerEvent(raw: unknown): DockerContainerEvent | undefined {
  if (!isRecord(raw) || raw['Type'] !== 'container' || typeof raw['Action'] !== 'string') return undefined;
  const actor = raw['Actor'];
  if (!isRecord(actor) || typeof actor['ID'] !== 'string') return undefined;
  const attributes = isRecord(actor['Attributes']) ? actor['Attributes'] : {};
  if (attributes[dockerLabels.managedBy] !== managedByValue) return undefined;
  const instanceId = attributes[dockerLabels.instanceId];
  if (typeof instanceId !== 'string' || instanceId === '') return undefined;
  const containerId = actor['ID'];
  const timeNano = typeof raw['timeNano'] === 'number' ? BigInt(Math.trunc(raw['timeNano'])) : BigInt(Number(raw['time'] ?? 0)) * 1_000_000_000n;
  const action = raw['Action'];
  if (action === 'start') return { action, containerId, instanceId, timeNano };
  if (action === 'oom') return { action, containerId, instanceId, timeNano };
  if (action === 'die') {
    const code = Number(attributes['exitCode']);
    return { action, containerId, instanceId, exitCode: Number.isInteger(code) ? code : null, timeNano };
  }
  // "health_status: healthy" / "health_status: unhealthy" (only for images that define a HEALTHCHECK).
  const health = /^health_status:\s*(healthy|unhealthy)$/.exec(action);
  if (health) return { action: 'health', containerId, instanceId, healthy: health[1] === 'healthy', timeNano };
  return undefined;
}

/** Splits newline-delimited JSON as it arrives in chunks; keeps the unfinished tail. Pure. */
export class JsonLineSplitter {
  private buffer = '';

  push(chunk: string): unknown[] {
    this.buffer += chunk;
    const lines = this.buffer.split('\n');
    this.buffer = lines.pop() ?? '';
    const values: unknown[] = [];
    for (const line of lines) {
      if (line.trim() === '') continue;
      try {
        values.push(JSON.parse(line));
      } catch {
        // Not an event (the Engine only sends JSON objects); skip it rather than stop the stream.
      }
    }
    return values;
  }
}

/** The filters that narrow the Engine's stream to our containers. */
export const dockerEventFilters: { type: ['container']; label: string[] } = {
  type: ['container'],
  label: [`${dockerLabels.managedBy}=${managedByValue}`],
};

export interface DockerEventStreamOptions {
  /** Opens the Engine's event stream from `since` (whole seconds since the epoch). */
  open: (since: number | undefined) => Promise<NodeJS.ReadableStream>;
  onEvent: (event: DockerContainerEvent) => void;
  /** After a reconnect (not the first connect): the owner re-inspects what it tracks. */
  onResumed?: () => void;
  /** Connection state changes, with the reason when lost. */
  onConnection?: (connected: boolean, reason?: string) => void;
  /** Backoff between reconnects: 1 s doubling to 30 s by default; injectable for tests. */
  backoffMs?: (attempt: number) => number;
}

const defaultBackoff = (attempt: number) => Math.min(30_000, 1_000 * 2 ** attempt);

/** `since` in whole seconds, rounded down: the events of that second already seen are dropped on arrival. */
function sinceOf(timeNano: bigint): number {
  return Number(timeNano / 1_000_000_000n);
}

export class DockerEventStream {
  private stream: NodeJS.ReadableStream | undefined;
  private retry: NodeJS.Timeout | undefined;
  private lastTimeNano: bigint | undefined;
  private attempt = 0;
  private connectedOnce = false;
  private closed = false;
  /** Events at exactly `lastTimeNano` already delivered, so a resumed stream does not repeat them. */
  private readonly seenAtLast = new Set<string>();
  private readonly backoffMs: (attempt: number) => number;

  constructor(private readonly options: DockerEventStreamOptions) {
    this.backoffMs = options.backoffMs ?? defaultBackoff;
  }

  /** Connects; resolves once the first connection is up (rejects when it cannot be made). */
  async start(): Promise<void> {
    await this.connect();
  }

  private async connect(): Promise<void> {
    const since = this.lastTimeNano === undefined ? undefined : sinceOf(this.lastTimeNano);
    const stream = await this.options.open(since);
    if (this.closed) {
      destroy(stream);
      return;
    }
    this.stream = stream;
    const splitter = new JsonLineSplitter();
    stream.on('data', (chunk: Buffer | string) => {
      this.attempt = 0;
      for (const value of splitter.push(chunk.toString())) this.deliver(value);
    });
    let ended = false;
    const lost = (reason: string) => {
      if (ended) return;
      ended = true;
      if (this.stream === stream) this.stream = undefined;
      if (this.closed) return;
      this.options.onConnection?.(false, reason);
      this.scheduleReconnect();
    };
    stream.on('end', () => lost('the event stream ended'));
    stream.on('close', () => lost('the event stream closed'));
    stream.on('error', (error: Error) => lost(error.message));
    const resumed = this.connectedOnce;
    this.connectedOnce = true;
    this.options.onConnection?.(true);
    if (resumed) this.options.onResumed?.();
  }

  private deliver(value: unknown): void {
    const event = parseDockerEvent(value);
    if (!event) return;
    const key = `${event.containerId}/${event.action}`;
    if (this.lastTimeNano !== undefined && event.timeNano < this.lastTimeNano) return;
    if (event.timeNano === this.lastTimeNano) {
      if (this.seenAtLast.has(key)) return;
    } else {
      this.lastTimeNano = event.timeNano;
      this.seenAtLast.clear();
    }
    this.seenAtLast.add(key);
    this.options.onEvent(event);
  }

  private scheduleReconnect(): void {
    if (this.closed || this.retry) return;
    const wait = this.backoffMs(this.attempt++);
    this.retry = setTimeout(() => {
      this.retry = undefined;
      this.connect().catch((error: unknown) => {
        this.options.onConnection?.(false, error instanceof Error ? error.message : String(error));
        this.scheduleReconnect();
      });
    }, wait);
    this.retry.unref();
  }

  /** Idempotent. */
  close(): void {
    this.closed = true;
    if (this.retry) clearTimeout(this.retry);
    this.retry = undefined;
    if (this.stream) destroy(this.stream);
    this.stream = undefined;
  }
}

function destroy(stream: NodeJS.ReadableStream): void {
  const destroyable = stream as NodeJS.ReadableStream & { destroy?: () => void };
  destroyable.destroy?.();
}
