/**
 * Server-Sent Events for instance status changes (`GET /api/events`).
 *
 * All SSE clients of one HTTP app share one subscription to the control
 * plane's events (opened with the first client, kept while the app lives), so
 * a hundred browsers cost one Redis stream reader, not a hundred. Each client
 * gets its own bounded buffer: a client that stops reading while events keep
 * coming is sent an `overflow` event and disconnected (EventSource reconnects
 * on its own), instead of growing the control plane's memory without bound.
 */
import { PassThrough } from 'node:stream';
import type { InstanceEventEnvelope } from '../actors/control-plane.js';

type Listener = (event: InstanceEventEnvelope) => void;
type Subscribe = (listener: Listener) => Promise<() => Promise<void>>;

export class InstanceEventHub {
  private readonly clients = new Set<Listener>();
  private subscription: Promise<() => Promise<void>> | undefined;

  constructor(private readonly subscribe: Subscribe) {}

  /** Adds a client; resolves once events flow (rejects, e.g. 503, when the subscription cannot be opened). Returns `leave`. */
  async join(client: Listener): Promise<() => void> {
    if (!this.subscription) {
      this.subscription = this.subscribe((event) => {
        for (const listener of this.clients) listener(event);
      });
      // A failed subscription is not kept: the next client tries again.
      this.subscription.catch(() => (this.subscription = undefined));
    }
    await this.subscription;
    this.clients.add(client);
    return () => this.clients.delete(client);
  }
}

/** One SSE frame. `data` is JSON on one line, as EventSource expects. */
export function sseFrame(event: string, data: unknown, id?: string): string {
  return `${id !== undefined ? `id: ${id}\n` : ''}event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}

/** What a client sees of one status change. */
export function statusChangeData(event: InstanceEventEnvelope): Record<string, unknown> {
  return { instanceId: event.instanceId, at: event.timestamp, ...event.payload };
}

export interface EventStreamOptions {
  /** Only this instance's events. */
  instanceId?: string;
  /** A comment line this often keeps proxies from closing an idle stream (default 15 s). */
  keepAliveMs?: number;
  /** Bytes a client may fall behind before it is disconnected (default 1 MiB). */
  maxBufferedBytes?: number;
}

/**
 * Opens one client's stream: joins the hub, and ends (and leaves) when the
 * client goes away (`closed` resolves) or falls too far behind.
 */
export async function openEventStream(
  hub: InstanceEventHub,
  closed: Promise<unknown>,
  options: EventStreamOptions = {},
): Promise<PassThrough> {
  const maxBuffered = options.maxBufferedBytes ?? 1024 * 1024;
  const stream = new PassThrough();
  let leave: (() => void) | undefined;
  let keepAlive: NodeJS.Timeout | undefined;
  const end = () => {
    leave?.();
    leave = undefined;
    clearInterval(keepAlive);
    if (!stream.writableEnded) stream.end();
  };
  leave = await hub.join((event) => {
    if (stream.writableEnded) return;
    if (options.instanceId !== undefined && event.instanceId !== options.instanceId) return;
    if (stream.writableLength > maxBuffered) {
      stream.write(sseFrame('overflow', { reason: `the client fell more than ${maxBuffered} bytes behind; reconnect and read /api/status/recent-changes` }));
      end();
      return;
    }
    stream.write(sseFrame('status-changed', statusChangeData(event), event.eventId));
  });
  // EventSource waits this long before reconnecting.
  stream.write('retry: 2000\n\n');
  keepAlive = setInterval(() => stream.write(': keep-alive\n\n'), options.keepAliveMs ?? 15_000);
  keepAlive.unref();
  void closed.then(end);
  return stream;
}
