/**
 * Ports for the Drasi Servers that tests launch. ava runs every test file in
 * its own process, many at once; each process claims a window of 500 ports of
 * its own with a lock file (created exclusively, removed at exit, taken over
 * when its owner is dead), so concurrent files never hand out the same port.
 * Windows lie in 10000-31999, below the ephemeral range (32768+) where the
 * kernel picks the local ports of outgoing connections and port-0 listeners.
 */
import { mkdirSync, openSync, readFileSync, unlinkSync, writeSync, closeSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { isAlive } from './processes.js';

const WINDOW = 500;
const FIRST = 10_000;
const WINDOWS = 44;
const lockDir = path.join(os.tmpdir(), 'draas-test-port-windows');

let claimed: number | undefined;
let cursor = 0;

function tryClaim(window: number): boolean {
  const lock = path.join(lockDir, `${window}.lock`);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(lock, 'wx');
      writeSync(fd, String(process.pid));
      closeSync(fd);
      process.once('exit', () => {
        try {
          unlinkSync(lock);
        } catch {
          // already gone
        }
      });
      return true;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      let owner = NaN;
      try {
        owner = Number(readFileSync(lock, 'utf8'));
      } catch {
        // removed meanwhile: try again
      }
      if (Number.isInteger(owner) && owner > 0 && isAlive(owner)) return false;
      try {
        unlinkSync(lock); // its owner died without cleaning up
      } catch {
        // someone else took it over first
      }
    }
  }
  return false;
}

function window(): number {
  if (claimed !== undefined) return claimed;
  mkdirSync(lockDir, { recursive: true });
  const start = process.pid % WINDOWS;
  for (let i = 0; i < WINDOWS; i++) {
    const candidate = (start + i) % WINDOWS;
    if (tryClaim(candidate)) return (claimed = candidate);
  }
  throw new Error(`all ${WINDOWS} test port windows are taken (${lockDir})`);
}

/**
 * `size` consecutive ports of this process's window, not handed out before;
 * after the window is used up it starts over (earlier tests have released
 * their ports by then).
 */
export function takePorts(size: number): { min: number; max: number } {
  if (size < 1 || size > WINDOW) throw new RangeError(`a test may take 1 to ${WINDOW} ports, asked for ${size}`);
  if (cursor + size > WINDOW) cursor = 0;
  const min = FIRST + window() * WINDOW + cursor;
  cursor += size;
  return { min, max: min + size - 1 };
}
