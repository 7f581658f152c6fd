import { closeSync, openSync, renameSync, statSync, watch, type FSWatcher } from 'node:fs';
import { open, stat, type FileHandle } from 'node:fs/promises';

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
    try {
      if (statSync(this.path).size > 0) renameSync(this.path, this.rotatedPath);
    } catch (error) {
      if (!isNotFound(error)) throw error;
    }
    this.rotationCount = 0;
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
      this.running = this.rotateIfNeeded().finally(() => {
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
        // Catch up with what the writer appended during the copy, so that the
        // window in which new lines can be lost (between the last read and the
        // truncation) is as short as possible.
        for (let pass = 0; pass < 4 && position - start < 2 * this.maxBytes; pass++) {
          const grown = (await source.stat()).size;
          if (grown <= position) break;
          position = await copyRange(source, target, Math.max(position, grown - this.maxBytes), grown);
        }
        await source.truncate(0);
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
export async function readLastLines(path: string, count: number): Promise<string[]> {
  if (!(count > 0)) return [];
  let handle: FileHandle;
  try {
    handle = await open(path, 'r');
  } catch (error) {
    if (isNotFound(error)) return [];
    throw error;
  }
  try {
    const size = (await handle.stat()).size;
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
