/**
 * Reading a pod's log through the API (`pods/{name}/log`), as lines, with
 * timestamps when a cursor needs them. client-node's `Log` is used rather
 * than the generated `readNamespacedPodLog` because only it passes
 * `sinceTime`, which lets a follow read just the new part of the log.
 */
import { Writable } from 'node:stream';
import type { KubeConfig } from '@kubernetes/client-node';
import { Log } from '@kubernetes/client-node';
import { normalizeTimestamp, type TimestampedLine } from './docker-logs.js';
import { serverContainerName } from './kubernetes-objects.js';

/** Longest a log read may take before it is given up. */
const READ_TIMEOUT_MS = 10_000;

export interface PodLogQuery {
  namespace: string;
  pod: string;
  /** The previous (terminated) container's log instead of the current one's. */
  previous?: boolean;
  tailLines?: number;
  timestamps?: boolean;
  /** RFC 3339; whole seconds are what the API honours (inclusive). */
  sinceTime?: string;
}

export class PodLogReader {
  private readonly log: Log;

  constructor(config: KubeConfig) {
    this.log = new Log(config);
  }

  /**
   * The log text; rejects with the API's error (404 no pod, 400 no such
   * container state). With `follow`, the text until the container ends (the
   * API ends the stream then), or what came within `followMs`.
   */
  async text(query: PodLogQuery, follow?: { followMs: number }): Promise<string> {
    const chunks: Buffer[] = [];
    let finish: () => void = () => undefined;
    let fail: (error: Error) => void = () => undefined;
    const finished = new Promise<void>((resolve, reject) => {
      finish = resolve;
      fail = reject;
    });
    const sink = new Writable({
      write(chunk: Buffer | string, _encoding, callback) {
        chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk));
        callback();
      },
    });
    sink.on('finish', () => finish());
    sink.on('error', (error) => fail(error));
    const controller = await this.log.log(query.namespace, query.pod, serverContainerName, sink, {
      follow: follow !== undefined,
      ...(query.previous ? { previous: true } : {}),
      ...(query.tailLines !== undefined ? { tailLines: query.tailLines } : {}),
      ...(query.timestamps ? { timestamps: true } : {}),
      ...(query.sinceTime !== undefined ? { sinceTime: query.sinceTime } : {}),
    });
    const timer = setTimeout(() => {
      controller.abort();
      if (follow) finish();
      else fail(new Error(`no complete log of pod ${query.pod} within ${READ_TIMEOUT_MS} ms`));
    }, follow?.followMs ?? READ_TIMEOUT_MS);
    try {
      await finished;
    } finally {
      clearTimeout(timer);
    }
    return Buffer.concat(chunks).toString('utf8');
  }

  async lines(query: PodLogQuery): Promise<string[]> {
    return plainLines(await this.text({ ...query, timestamps: false }));
  }

  async stampedLines(query: PodLogQuery): Promise<TimestampedLine[]> {
    return stampedLines(await this.text({ ...query, timestamps: true }));
  }

  /** Follows the log until the container ends (at most `followMs`): a stopping server's last lines, however soon its pod is deleted. */
  async followToEnd(query: PodLogQuery, followMs: number): Promise<TimestampedLine[]> {
    return stampedLines(await this.text({ ...query, timestamps: true }, { followMs }));
  }
}

/** Lines of a log text; an empty last line (the final newline) dropped. Pure. */
export function plainLines(text: string): string[] {
  const lines = text.split('\n').map((line) => (line.endsWith('\r') ? line.slice(0, -1) : line));
  if (lines.at(-1) === '') lines.pop();
  return lines;
}

/** Lines of a log read with `timestamps=true` (each `<RFC 3339 nano> <line>`), timestamps normalised to compare as strings. Pure. */
export function stampedLines(text: string): TimestampedLine[] {
  return plainLines(text).map((line) => {
    const space = line.indexOf(' ');
    const timestamp = normalizeTimestamp(space === -1 ? line : line.slice(0, space));
    return timestamp ? { timestamp, line: space === -1 ? '' : line.slice(space + 1) } : { timestamp: '', line };
  });
}

/** `sinceTime` for a read that must include `timestamp` (a normalised one): its whole second. */
export function sinceTimeOf(timestamp: string): string {
  return `${timestamp.slice(0, 19)}Z`;
}
