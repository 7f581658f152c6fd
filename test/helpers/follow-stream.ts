/** Reads a followed log (`GET …/logs?follow=true`) line by line in tests. */

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
