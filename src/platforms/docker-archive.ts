/**
 * A minimal tar archive (ustar) of a few small files and directories: how the
 * rendered config enters a container (`PUT /containers/{id}/archive`). Pure.
 */

export type ArchiveEntry =
  | { type: 'directory'; path: string; mode?: number }
  | { type: 'file'; path: string; content: string | Uint8Array; mode?: number };

const BLOCK = 512;

function octal(value: number, width: number): string {
  // Width includes the terminating NUL.
  return value.toString(8).padStart(width - 1, '0') + '\0';
}

function header(entry: ArchiveEntry, size: number, mtime: number): Buffer {
  const name = entry.type === 'directory' && !entry.path.endsWith('/') ? `${entry.path}/` : entry.path;
  if (Buffer.byteLength(name) > 100) throw new RangeError(`archive path too long: ${name}`);
  const block = Buffer.alloc(BLOCK, 0);
  block.write(name, 0, 100, 'utf8');
  block.write(octal(entry.mode ?? (entry.type === 'directory' ? 0o755 : 0o644), 8), 100, 'ascii');
  block.write(octal(0, 8), 108, 'ascii');
  block.write(octal(0, 8), 116, 'ascii');
  block.write(octal(size, 12), 124, 'ascii');
  block.write(octal(mtime, 12), 136, 'ascii');
  block.write('        ', 148, 'ascii');
  block.write(entry.type === 'directory' ? '5' : '0', 156, 'ascii');
  block.write('ustar\u000000', 257, 'ascii');
  let sum = 0;
  for (const byte of block) sum += byte;
  block.write(octal(sum, 7) + ' ', 148, 'ascii');
  return block;
}

/** The archive bytes: each entry's header and content padded to 512 bytes, then two empty blocks. */
export function tarArchive(entries: readonly ArchiveEntry[], mtimeSeconds = 0): Buffer {
  const parts: Buffer[] = [];
  for (const entry of entries) {
    const content = entry.type === 'file' ? Buffer.from(entry.content) : Buffer.alloc(0);
    parts.push(header(entry, content.length, mtimeSeconds), content);
    const padding = (BLOCK - (content.length % BLOCK)) % BLOCK;
    if (padding > 0) parts.push(Buffer.alloc(padding, 0));
  }
  parts.push(Buffer.alloc(2 * BLOCK, 0));
  return Buffer.concat(parts);
}
