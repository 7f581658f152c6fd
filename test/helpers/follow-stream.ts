/** Reads a followed log (`GET …/logs?follow=true`) line by line in tests. */
import type { ExecutionContext } from 'ava';

export interface FollowedLog {
  status: number;
  contentType: string;
  /** Every line received so far. */
  readonly lines: string[];
  /** Resolves once a line matches (with its index), or rejects when the stream ends first. */
  until(match: (line: string) => boolean): Promise<number>;
  /** Resolves once the server ended the stream. */
  ended(): Promise<void>;
  /** Goes away like a client that closes the connection. */
  disconnect(): void;
}

export async function followLog(url: string): Promise<FollowedLog> {
  const abort = new AbortController();
  const response = await fetch(url, { signal: abort.signal });
  const lines: string[] = [];
  const waiters: (() => void)[] = [];
  let done = false;
  const wake = () => {
    for (const waiter of waiters.splice(0)) waiter();
  };
  const pump = (async () => {
    const decoder = new TextDecoder();
    let partial = '';
    try {
      for await (const chunk of response.body as AsyncIterable<Uint8Array>) {
        const parts = (partial + decoder.decode(chunk, { stream: true })).split('\n');
        partial = parts.pop()!;
        lines.push(...parts);
        wake();
      }
    } catch {
      // disconnected
    } finally {
      done = true;
      wake();
    }
  })();
  const until = async (match: (line: string) => boolean): Promise<number> => {
    for (;;) {
      const index = lines.findIndex(match);
      if (index !== -1) return index;
      if (done) throw new Error(`the stream ended without a matching line; got:\n${lines.join('\n')}`);
      await new Promise<void>((resolve) => waiters.push(resolve));
    }
  };
  return {
    status: response.status,
    contentType: response.headers.get('content-type') ?? '',
    lines,
    until,
    ended: () => pump,
    disconnect: () => abort.abort(),
  };
}

/** The heartbeat numbers of the double's lines, in the order received. */
export function heartbeats(lines: readonly string[]): number[] {
  return lines.flatMap((line) => {
    const match = /heartbeat #(\d+):/.exec(line);
    return match ? [Number(match[1])] : [];
  });
}

/** Every number once, in order: each one more than the one before. */
export function consecutive(numbers: readonly number[]): boolean {
  return numbers.every((value, index) => index === 0 || value === numbers[index - 1]! + 1);
}

/**
 * The shape of a followed double's log from its first heartbeat on: `H` a
 * heartbeat, `E` the echo line, `?` anything else. Every heartbeat followed by
 * exactly one echo reads `/^(HE)+H?E?$/`.
 */
export function heartbeatPattern(lines: readonly string[], echo: string): string {
  const first = lines.findIndex((line) => line.includes('heartbeat #'));
  return lines
    .slice(first)
    .map((line) => (line === echo ? 'E' : line.includes('heartbeat #') ? 'H' : '?'))
    .join('');
}

/**
 * Waits for `count` more heartbeats of the double after the first one that
 * arrives, then checks that every heartbeat came once, in order, each
 * followed by exactly one `echo` line.
 */
export async function expectEveryHeartbeatOnce(t: ExecutionContext, log: FollowedLog, count: number, echo: string): Promise<void> {
  const first = await log.until((line) => line.includes('heartbeat #'));
  const number = heartbeats([log.lines[first]!])[0]!;
  await log.until((line) => line.includes(`heartbeat #${number + count}:`));
  const beats = heartbeats(log.lines);
  t.true(consecutive(beats), `every heartbeat once, in order: ${beats.join(',')}`);
  t.regex(heartbeatPattern(log.lines, echo), /^(HE)+H?E?$/, 'each heartbeat followed by exactly one identical line');
}
