/**
 * A container's log as lines. Without a TTY the Engine multiplexes stdout
 * and stderr into frames (8-byte header: stream, 3 zero bytes, big-endian
 * length); this module takes them apart. Pure.
 */

/** The payloads of multiplexed frames, in order; a truncated last frame is kept as far as it goes. */
export function demultiplex(buffer: Buffer): Buffer[] {
  const payloads: Buffer[] = [];
  let offset = 0;
  while (offset + 8 <= buffer.length) {
    const stream = buffer[offset]!;
    const size = buffer.readUInt32BE(offset + 4);
    // Not a frame header: the log was written with a TTY (raw bytes).
    if (stream > 2 || buffer[offset + 1] !== 0 || buffer[offset + 2] !== 0 || buffer[offset + 3] !== 0) {
      payloads.push(buffer.subarray(offset));
      return payloads;
    }
    payloads.push(buffer.subarray(offset + 8, Math.min(buffer.length, offset + 8 + size)));
    offset += 8 + size;
  }
  return payloads;
}

/** The newest `tail` lines of a multiplexed log (empty lines at the very end dropped). */
export function logLines(buffer: Buffer, tail: number): string[] {
  const text = Buffer.concat(demultiplex(buffer)).toString('utf8');
  const lines = text.split(/\r?\n/);
  while (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  return tail > 0 ? lines.slice(-tail) : [];
}

/** A line of a log read with `timestamps: true`; `timestamp` normalised to nine fraction digits, so that strings compare in time order. */
export interface TimestampedLine {
  timestamp: string;
  line: string;
}

/** Lines of a multiplexed log read with `timestamps: true` (each prefixed `<RFC 3339 nano> `). */
export function timestampedLines(buffer: Buffer): TimestampedLine[] {
  const text = Buffer.concat(demultiplex(buffer)).toString('utf8');
  const entries: TimestampedLine[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (line === '') continue;
    const space = line.indexOf(' ');
    const timestamp = normalizeTimestamp(space === -1 ? line : line.slice(0, space));
    // Not stamped (should not happen with timestamps on): kept, ordered as the oldest possible.
    entries.push(timestamp ? { timestamp, line: space === -1 ? '' : line.slice(space + 1) } : { timestamp: '', line });
  }
  return entries;
}

/** `2024-05-01T12:34:56.5Z` → `2024-05-01T12:34:56.500000000Z`; undefined when not a UTC RFC 3339 time. */
export function normalizeTimestamp(text: string): string | undefined {
  const match = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?Z$/.exec(text);
  if (!match) return undefined;
  return `${match[1]}.${(match[2] ?? '').padEnd(9, '0')}Z`;
}

/** The Engine's `since` (whole seconds, inclusive) at or before a normalised timestamp. */
export function sinceSeconds(timestamp: string): number {
  return Math.floor(Date.parse(`${timestamp.slice(0, 19)}Z`) / 1000);
}

/**
 * The lines after a cursor `(timestamp, count)` (the last line read and how
 * many lines with exactly that timestamp were read), from a read that starts
 * at or before `timestamp`; and the cursor after them. Exact while the Engine
 * stamps lines in the order it stores them (one stream, as Drasi Server logs).
 */
export function linesAfter(
  entries: readonly TimestampedLine[],
  after: { timestamp: string | null; count: number },
): { lines: string[]; timestamp: string | null; count: number } {
  const lines: string[] = [];
  let seenAtCursor = 0;
  for (const entry of entries) {
    if (after.timestamp !== null && entry.timestamp < after.timestamp) continue;
    if (after.timestamp !== null && entry.timestamp === after.timestamp && seenAtCursor++ < after.count) continue;
    lines.push(entry.line);
  }
  const last = entries.at(-1);
  if (!last || (after.timestamp !== null && last.timestamp < after.timestamp)) return { lines, ...after };
  return { lines, timestamp: last.timestamp, count: entries.filter((entry) => entry.timestamp === last.timestamp).length };
}
