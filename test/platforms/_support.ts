/** Shared by the platform tests: the double's path, temp dirs, free ports, process cleanup. */
import { takePorts } from '../helpers/port-window.js';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ExecutionContext } from 'ava';
import { isPortBindable } from '../../src/platforms/port-allocator.js';
import { pidsWithArgument } from '../helpers/processes.js';

export const doubleExecutable = fileURLToPath(new URL('../fixtures/drasi-server-double.mjs', import.meta.url));

/** A temp dir removed after the test, after every process that mentions it on its command line was killed (with its group). */
export async function tempDir(t: ExecutionContext, prefix: string): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), prefix));
  t.teardown(async () => {
    killProcessesMentioning(dir);
    await rm(dir, { recursive: true, force: true, maxRetries: 3 });
  });
  return dir;
}

export function killProcessesMentioning(fragment: string): void {
  for (const pid of pidsWithArgument(fragment)) {
    for (const target of [-pid, pid]) {
      try {
        process.kill(target, 'SIGKILL');
      } catch {
        // gone, or not a group leader
      }
    }
  }
}

export function isGone(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return false;
  } catch (error) {
    return typeof error === 'object' && error !== null && 'code' in error && error.code === 'ESRCH';
  }
}

/** A port that is free now, from this test file's own window (port-window.ts), never the same twice in this process. */
export function portPicker(span: number): () => Promise<number> {
  const { min, max } = takePorts(span);
  let next = 0;
  return async () => {
    for (let i = 0; i < span; i++) {
      const port = min + (next++ % span);
      if (await isPortBindable(port)) return port;
    }
    throw new Error(`no free port in ${min}-${max}`);
  };
}

export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
