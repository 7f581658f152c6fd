import { closeSync, openSync, renameSync, statSync, watch, type FSWatcher } from 'node:fs';
import { open, stat, type FileHandle } from 'node:fs/promises';
import { skippedMarker } from './log-cursor.js';

export interface BoundedLogOptions {
  /** The live log file, e.g. `<instance dir>/server.log`; the rotated one is `<path>.1`. */
  path: string;
  /** Rotate when the live file grows beyond this many bytes. */
  maxBytes: number;
  /** How often the size is checked while watching. Default 250 ms. */
  checkIntervalMs?: number;
  /** Also check soon after each change notification (inotify), not only on the timer. Default true. */
  watchChanges?: boolean;
}

const CHUNK = 64 * 1024;
const COPY_CHUNK = 1024 * 1024;
/** Never read more than this from one file to find the last lines. */
const MAX_TAIL_SCAN = 8 * 1024 * 1024;
/** Coalesces bursts of change notifications into one check. */
const CHANGE_DEBOUNCE_MS = 20;
/** At most this much of the live file per `readAfter`; the next read continues. */
const MAX_READ = 1024 * 1024;

/** A place in the log of one writer: rotations so far and a byte offset in the live file. */
export interface LogPosition {
  rotations: number;
  offset: number;
}

/** Lines read and where the next read continues. */
export interface LogChunk {
  lines: string[];
  position: LogPosition;
}

/** Where the rotated file's bytes came from: live-file range `[from, to)` sits at `at` in `<path>.1`. */
interface CopiedSegment {
  from: number;
  to: number;
  at: number;
}

/**
 * A log file that a child process writes directly (its stdout and stderr are
 * an `O_APPEND` descriptor of the file), kept bounded by copy-truncate
 * rotation: when the file exceeds `maxBytes`, its newest `maxBytes` (from a
 * line start) are copied to `<path>.1` and the file is truncated to 0. Thanks
 * to `O_APPEND` the writer's next write lands at the new end of the file.
 *
 * Why a file and not a pipe: the writer never blocks (nobody has to read), it
 * keeps working when the control plane is gone, and a restarted control plane
 * can pick the file up again. The price: the bound is enforced by polling
 * (every `checkIntervalMs`, sooner after change notifications, and on
 * demand), so the live file may briefly overshoot by what the writer prints
 * between two checks, and lines written between the copy and the truncation
 * are lost (the usual copy-truncate caveat; the window is one catch-up copy).
 * Disk use stays around `2 × maxBytes`.
 */
export class BoundedLog {
  readonly path: string;
  readonly rotatedPath: string;
  readonly maxBytes: number;
  private readonly checkIntervalMs: number;
  private readonly watchChanges: boolean;
  private timer: NodeJS.Timeout | undefined;
  private watcher: FSWatcher | undefined;
  private debounce: NodeJS.Timeout | undefined;
  private running: Promise<boolean> | undefined;
  private rotationCount = 0;
  /** What the last rotation copied, for readers whose position it overtook. */
  private lastRotation: CopiedSegment[] = [];
  /** Size of the previous writer's file that `openForWriter` moved to `<path>.1` (0 when none). */
  private inheritedBytes = 0;
  /** Rotations and position reads run one at a time, so a read never sees half a rotation. */
  private queue: Promise<unknown> = Promise.resolve();

  constructor(options: BoundedLogOptions) {
    if (!(options.maxBytes > 0)) throw new RangeError(`maxBytes must be positive (got ${options.maxBytes})`);
    this.path = options.path;
    this.rotatedPath = `${options.path}.1`;
    this.maxBytes = options.maxBytes;
    this.checkIntervalMs = options.checkIntervalMs ?? 250;
    this.watchChanges = options.watchChanges ?? true;
  }

  /** Rotations since the last `openForWriter()`. */
  get rotations(): number {
    return this.rotationCount;
  }

  /**
   * Starts a fresh live file for a new writer and returns an `O_APPEND`
   * descriptor of it, to hand to the child as stdout and stderr. What the
   * previous writer left becomes the rotated file (so the previous run's last
   * lines stay readable). The caller closes the descriptor once the child has
   * it.
   */
  openForWriter(): number {
    this.inheritedBytes = 0;
    try {
      const size = statSync(this.path).size;
      if (size > 0) {
        renameSync(this.path, this.rotatedPath);
        this.inheritedBytes = size;
      }
    } catch (error) {
      if (!isNotFound(error)) throw error;
    }
    this.rotationCount = 0;
    this.lastRotation = [];
    return openSync(this.path, 'a');
  }

  /** Checks the size periodically and after changes until `stopWatching()`. Never keeps the process alive. */
  startWatching(): void {
    if (this.timer) return;
    this.timer = setInterval(() => this.check(), this.checkIntervalMs);
    this.timer.unref();
    if (!this.watchChanges) return;
    try {
      this.watcher = watch(this.path, { persistent: false }, () => this.onChange());
      this.watcher.on('error', () => this.closeWatcher());
    } catch {
      // Change notifications are an optimisation; the timer is enough.
      this.watcher = undefined;
    }
  }

  stopWatching(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    if (this.debounce) clearTimeout(this.debounce);
    this.debounce = undefined;
    this.closeWatcher();
  }

  /**
   * Rotates now if the live file is over the limit. Resolves true when it
   * rotated. Concurrent calls share one check.
   */
  enforce(): Promise<boolean> {
    if (!this.running) {
      this.running = this.exclusive(() => this.rotateIfNeeded()).finally(() => {
        this.running = undefined;
      });
    }
    return this.running;
  }

  /**
   * The newest `count` lines, newest last: from the live file and, when it
   * holds fewer, from the rotated one (unless `includeRotated` is false).
   */
  async tail(count: number, options: { includeRotated?: boolean } = {}): Promise<string[]> {
    if (!(count > 0)) return [];
    const current = await readLastLines(this.path, count);
    if (current.length >= count || options.includeRotated === false) return current;
    const older = await readLastLines(this.rotatedPath, count - current.length);
    return [...older, ...current];
  }

  /**
   * The newest `count` lines up to the end of the last complete line (the
   * end of the file when `final`: the writer is gone), and that position.
   */
  tailWithPosition(count: number, final: boolean): Promise<LogChunk> {
    return this.exclusive(async () => {
      const end = await completeEnd(this.path, final);
      const current = await readLastLines(this.path, count, end);
      const older = current.length < count && this.rotationCount > 0 ? await readLastLines(this.rotatedPath, count - current.length) : [];
      return { lines: [...older, ...current], position: { rotations: this.rotationCount, offset: end } };
    });
  }

  /**
   * The lines after `from`, each once, in order: when rotations overtook
   * `from`, first the rest from the rotated file (a marker where bytes were
   * not copied, or where more than one rotation passed), then the live file.
   * Only complete lines unless `final` (the writer is gone).
   */
  readAfter(from: LogPosition, final: boolean): Promise<LogChunk> {
    return this.exclusive(async () => {
      const lines: string[] = [];
      let offset = from.offset;
      if (from.rotations !== this.rotationCount) {
        if (from.rotations === this.rotationCount - 1 && this.lastRotation.length > 0) {
          lines.push(...(await this.rotatedRest(offset)));
        } else {
          lines.push(skippedMarker('log rotated more than once since the last read'));
        }
        offset = 0;
      }
      let live = await readLinesFrom(this.path, offset, final);
      if (!live) {
        // Shorter than the position without a rotation of ours: someone else truncated it.
        lines.push(skippedMarker('log truncated'));
        live = (await readLinesFrom(this.path, 0, final))!;
      }
      lines.push(...live.lines);
      return { lines, position: { rotations: this.rotationCount, offset: live.end } };
    });
  }

  /**
   * What the previous writer printed after `offset` of its live file, from the
   * rotated file `openForWriter` made of it; undefined when a rotation since
   * replaced that file.
   */
  readInherited(offset: number): Promise<string[] | undefined> {
    return this.exclusive(async () => {
      if (this.rotationCount > 0) return undefined;
      if (offset >= this.inheritedBytes) return [];
      return splitLines(await readRange(this.rotatedPath, offset, this.inheritedBytes));
    });
  }

  /** The lines the last rotation copied from `offset` on, with a marker for bytes it did not copy. */
  private async rotatedRest(offset: number): Promise<string[]> {
    const parts: Buffer[] = [];
    let skipped = 0;
    let position = offset;
    for (const segment of this.lastRotation) {
      if (segment.to <= position) continue;
      if (position < segment.from) {
        skipped += segment.from - position;
        position = segment.from;
      }
      parts.push(await readRange(this.rotatedPath, segment.at + position - segment.from, segment.at + segment.to - segment.from));
      position = segment.to;
    }
    const lines = splitLines(Buffer.concat(parts));
    return skipped > 0 ? [skippedMarker('log rotated', skipped), ...lines] : lines;
  }

  private exclusive<T>(task: () => Promise<T>): Promise<T> {
    const run = this.queue.then(task, task);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private check(): void {
    this.enforce().catch(() => undefined);
  }

  private onChange(): void {
    if (this.debounce || !this.timer) return;
    this.debounce = setTimeout(() => {
      this.debounce = undefined;
      this.check();
    }, CHANGE_DEBOUNCE_MS);
    this.debounce.unref();
  }

  private closeWatcher(): void {
    try {
      this.watcher?.close();
    } catch {
      // already closed
    }
    this.watcher = undefined;
  }

  private async rotateIfNeeded(): Promise<boolean> {
    let size: number;
    try {
      size = (await stat(this.path)).size;
    } catch (error) {
      if (isNotFound(error)) return false;
      throw error;
    }
    if (size <= this.maxBytes) return false;
    const source = await open(this.path, 'r+');
    try {
      const start = await lineStartAtOrAfter(source, size - this.maxBytes, size);
      const target = await open(this.rotatedPath, 'w');
      try {
        let position = await copyRange(source, target, start, size);
        const segments: CopiedSegment[] = [{ from: start, to: position, at: 0 }];
        // Catch up with what the writer appended during the copy, so that the
        // window in which new lines can be lost (between the last read and the
        // truncation) is as short as possible.
        for (let pass = 0; pass < 4 && position - start < 2 * this.maxBytes; pass++) {
          const grown = (await source.stat()).size;
          if (grown <= position) break;
          const from = Math.max(position, grown - this.maxBytes);
          const at = segments.reduce((sum, segment) => sum + segment.to - segment.from, 0);
          position = await copyRange(source, target, from, grown);
          segments.push({ from, to: position, at });
        }
        await source.truncate(0);
        this.lastRotation = segments;
      } finally {
        await target.close();
      }
    } finally {
      await source.close();
    }
    this.rotationCount++;
    return true;
  }
}

/**
 * The last `count` lines of a file, newest last, reading only its tail (at
 * most 8 MiB). A missing file has no lines. A final line without a newline
 * counts; a first line cut by the scan limit does not.
 */
export async function readLastLines(path: string, count: number, end?: number): Promise<string[]> {
  if (!(count > 0)) return [];
  let handle: FileHandle;
  try {
    handle = await open(path, 'r');
  } catch (error) {
    if (isNotFound(error)) return [];
    throw error;
  }
  try {
    const size = Math.min((await handle.stat()).size, end ?? Number.POSITIVE_INFINITY);
    const chunks: Buffer[] = [];
    let position = size;
    let newlines = 0;
    let scanned = 0;
    while (position > 0 && scanned < MAX_TAIL_SCAN) {
      const length = Math.min(CHUNK, position);
      position -= length;
      const buffer = Buffer.alloc(length);
      const { bytesRead } = await handle.read(buffer, 0, length, position);
      const chunk = buffer.subarray(0, bytesRead);
      chunks.unshift(chunk);
      scanned += bytesRead;
      for (const byte of chunk) if (byte === 0x0a) newlines++;
      // count lines need count newlines before them (plus possibly a trailing one).
      if (newlines > count) break;
    }
    const text = Buffer.concat(chunks).toString('utf8');
    const lines = text.split('\n');
    if (lines.at(-1) === '') lines.pop();
    if (position > 0) lines.shift();
    return lines.slice(-count).map((line) => (line.endsWith('\r') ? line.slice(0, -1) : line));
  } finally {
    await handle.close();
  }
}

/** Lines of a buffer (`\r\n` or `\n`); a last line without a newline counts. */
function splitLines(buffer: Buffer): string[] {
  if (buffer.length === 0) return [];
  const lines = buffer.toString('utf8').split('\n');
  if (lines.at(-1) === '') lines.pop();
  return lines.map((line) => (line.endsWith('\r') ? line.slice(0, -1) : line));
}

/** Bytes `[from, to)` of a file (fewer when it is shorter; none when it is missing). */
async function readRange(path: string, from: number, to: number): Promise<Buffer> {
  if (to <= from) return Buffer.alloc(0);
  let handle: FileHandle;
  try {
    handle = await open(path, 'r');
  } catch (error) {
    if (isNotFound(error)) return Buffer.alloc(0);
    throw error;
  }
  try {
    const buffer = Buffer.alloc(to - from);
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, from);
    return buffer.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
}

/** The end of the last complete line of a file (its size when `final`; 0 when missing). */
async function completeEnd(path: string, final: boolean): Promise<number> {
  let size: number;
  try {
    size = (await stat(path)).size;
  } catch (error) {
    if (isNotFound(error)) return 0;
    throw error;
  }
  if (final || size === 0) return size;
  const from = Math.max(0, size - CHUNK);
  const newline = (await readRange(path, from, size)).lastIndexOf(0x0a);
  // A line longer than the scan counts as complete so far: a position must always exist.
  return newline === -1 ? (from === 0 ? 0 : size) : from + newline + 1;
}

/**
 * The complete lines from `offset` on (at most `MAX_READ` bytes; all of it
 * when `final`), and where they end; undefined when the file is shorter than
 * `offset`. A missing file has no lines.
 */
async function readLinesFrom(path: string, offset: number, final: boolean): Promise<{ lines: string[]; end: number } | undefined> {
  let size: number;
  try {
    size = (await stat(path)).size;
  } catch (error) {
    if (isNotFound(error)) return offset === 0 ? { lines: [], end: 0 } : undefined;
    throw error;
  }
  if (size < offset) return undefined;
  const bytes = await readRange(path, offset, Math.min(size, offset + MAX_READ));
  const newline = bytes.lastIndexOf(0x0a);
  // Without a newline in a full read, the line is longer than a read: deliver it in pieces.
  const length = final || (newline === -1 && bytes.length === MAX_READ) ? bytes.length : newline + 1;
  return { lines: splitLines(bytes.subarray(0, length)), end: offset + length };
}

/** Offset of the first line that starts at or after `offset` (or `offset` itself when no newline is near). */
async function lineStartAtOrAfter(handle: FileHandle, offset: number, size: number): Promise<number> {
  if (offset <= 0) return 0;
  const buffer = Buffer.alloc(Math.min(CHUNK, size - offset + 1));
  const { bytesRead } = await handle.read(buffer, 0, buffer.length, offset - 1);
  const newline = buffer.subarray(0, bytesRead).indexOf(0x0a);
  return newline === -1 ? offset : offset - 1 + newline + 1;
}

/** Copies `[from, to)` of `source` to the end of `target`; returns where it stopped. */
async function copyRange(source: FileHandle, target: FileHandle, from: number, to: number): Promise<number> {
  const buffer = Buffer.alloc(Math.min(COPY_CHUNK, Math.max(1, to - from)));
  let position = from;
  while (position < to) {
    const { bytesRead } = await source.read(buffer, 0, Math.min(buffer.length, to - position), position);
    if (bytesRead === 0) break;
    await target.write(buffer, 0, bytesRead);
    position += bytesRead;
  }
  return position;
}

function isNotFound(error: unknown): boolean {
  return typeof error === 'object' && error !== null && 'code' in error && error.code === 'ENOENT';
}

/** Closes a descriptor, ignoring one that is already closed. */
export function closeQuietly(fd: number): void {
  try {
    closeSync(fd);
  } catch {
    // already closed
  }
}
