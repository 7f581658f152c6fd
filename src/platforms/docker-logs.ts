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
