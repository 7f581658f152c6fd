/**
 * Server-Sent Events for instance status changes (`GET /api/events`).
 *
 * Every event is one entry of the change log (the control plane's
 * `subscribe`, fed from the log by sequence): its `id:` is the entry's
 * sequence, so ids increase strictly and `GET /api/status/recent-changes`
 * shows the same entries. A client that reconnects with `Last-Event-ID` (or
 * `?lastEventId=`) first gets what it missed that the log still keeps; one
 * that is further behind than the log keeps gets a `reset` event — reload
 * the state, then follow on — whose id is where it follows on from.
 *
 * A comment line every `keepAliveMs` keeps proxies from closing an idle
 * stream and lets a client notice a dead connection (nothing for twice that
 * long: reconnect). A client that asks for `heartbeat` events gets one of
 * those instead: a browser's EventSource never sees comments, so a page could
 * not tell a quiet stream from a dead one. A heartbeat has no `id:`, so it
 * leaves the client's Last-Event-ID where it was. A client that stops reading while events keep coming is
 * sent an `overflow` event and disconnected (it reconnects and resumes from
 * its last id), instead of growing the control plane's memory without bound.
 */
import { PassThrough } from 'node:stream';
import type { InstanceEventEnvelope, StatusSubscribeOptions } from '../actors/control-plane.js';

export type SubscribeToChanges = (
  listener: (event: InstanceEventEnvelope) => void,
  options: StatusSubscribeOptions,
) => Promise<() => Promise<void>>;

/** One SSE frame. `data` is JSON on one line, as EventSource expects. */
export function sseFrame(event: string, data: unknown, id?: string | number): string {
  return `${id !== undefined ? `id: ${id}\n` : ''}event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}

/** What a client sees of one status change. */
export function statusChangeData(event: InstanceEventEnvelope): Record<string, unknown> {
  return { sequence: event.sequence, instanceId: event.instanceId, at: event.timestamp, ...event.payload };
}

/** Each change's frame, built once however many clients get it (subscribers share the event object). */
const frames = new WeakMap<InstanceEventEnvelope, string>();

function statusFrame(event: InstanceEventEnvelope): string {
  let frame = frames.get(event);
  if (frame === undefined) {
    frame = sseFrame('status-changed', statusChangeData(event), event.sequence);
    frames.set(event, frame);
  }
  return frame;
}

/** The event types a client may ask for; `reset` and `overflow` are control events, always sent. */
export const eventTypes = ['status-changed', 'heartbeat'] as const;
export type EventType = (typeof eventTypes)[number];

export interface EventStreamOptions {
  /** Only this instance's events. */
  instanceId?: string;
  /** The event types sent (default `status-changed` only); with `heartbeat`, a heartbeat event replaces the keep-alive comment. */
  types?: readonly EventType[];
  /** Resume after this sequence (the client's last event id); -1: an id this log never had (the client gets a reset). */
  after?: number;
  /** A comment line (or a heartbeat event) this often (default 15 s). */
  keepAliveMs?: number;
  /** Bytes a client may fall behind before it is disconnected (default 1 MiB). */
  maxBufferedBytes?: number;
}

/**
 * Opens one client's stream: subscribes, and ends (and unsubscribes) when the
 * client goes away (`closed` resolves) or falls too far behind. Rejects (e.g.
 * 503) when the subscription cannot be opened.
 */
export async function openEventStream(
  subscribe: SubscribeToChanges,
  closed: Promise<unknown>,
  options: EventStreamOptions = {},
): Promise<PassThrough> {
  const maxBuffered = options.maxBufferedBytes ?? 1024 * 1024;
  const types = new Set<EventType>(options.types ?? ['status-changed']);
  // The newest sequence this stream has heard of (every change passes the listener, filtered or not); for heartbeats.
  let newest: number | undefined;
  const stream = new PassThrough();
  let leave: (() => Promise<void>) | undefined;
  let keepAlive: NodeJS.Timeout | undefined;
  let ended = false;
  const end = () => {
    if (ended) return;
    ended = true;
    void leave?.();
    clearInterval(keepAlive);
    if (!stream.writableEnded) stream.end();
  };
  // EventSource waits this long before reconnecting. Written first: events may follow at once.
  stream.write('retry: 2000\n\n');
  const send = (frame: string) => {
    if (ended) return;
    if (stream.writableLength > maxBuffered) {
      stream.write(
        sseFrame('overflow', { reason: `the client fell more than ${maxBuffered} bytes behind; reconnect with Last-Event-ID to resume` }),
      );
      end();
      return;
    }
    stream.write(frame);
  };
  try {
    leave = await subscribe(
      (event) => {
        newest = Math.max(newest ?? 0, event.sequence);
        if (!types.has('status-changed')) return;
        if (options.instanceId === undefined || event.instanceId === options.instanceId) send(statusFrame(event));
      },
      {
        ...(options.after !== undefined ? { afterSequence: options.after } : {}),
        onStart: (after) => {
          if (after >= 0) newest = Math.max(newest ?? 0, after);
        },
        onReset: (reset) => {
          // The position the client had was not the log's: the log's newest is.
          newest = reset.newest;
          send(
            sseFrame(
              'reset',
              {
                reason: 'changes after your last event id are no longer kept: reload the state (GET /api/server/instances), then follow on',
                lastEventId: reset.after,
                oldestKept: reset.oldest ?? null,
                newest: reset.newest,
              },
              reset.newest,
            ),
          );
        },
      },
    );
  } catch (error) {
    stream.destroy();
    throw error;
  }
  if (ended) void leave();
  keepAlive = setInterval(
    types.has('heartbeat')
      ? // Through send: a client that stopped reading is let go here too. Sequence 0 is "no change yet": null.
        () => send(sseFrame('heartbeat', { at: new Date().toISOString(), newest: newest !== undefined && newest > 0 ? newest : null }))
      : () => stream.write(': keep-alive\n\n'),
    options.keepAliveMs ?? 15_000,
  );
  keepAlive.unref();
  void closed.then(end);
  return stream;
}
