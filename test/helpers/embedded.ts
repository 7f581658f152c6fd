/** An embedded control plane on a temp data dir, with the Drasi Server double as its executable. */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ExecutionContext } from 'ava';
import { createControlPlane, type EmbeddedControlPlaneOptions } from '../../src/embedded.js';
import { pidsWithArgument } from './processes.js';

export const doubleExecutable = fileURLToPath(new URL('../fixtures/drasi-server-double.mjs', import.meta.url));

let nextRange = 0;
/** Disjoint port ranges per control plane, so concurrent tests never compete. */
export function portRange(size = 20): { min: number; max: number } {
  // A 400-port window per test process (below the ephemeral range), 20 ranges of 20 within it.
  const min = 20000 + (process.pid % 30) * 400 + (nextRange++ % Math.floor(400 / size)) * size;
  return { min, max: min + size - 1 };
}

export async function embedded(t: ExecutionContext, options: EmbeddedControlPlaneOptions = {}) {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'draas-e2e-'));
  const draas = await createControlPlane({
    dataDir,
    drasiServer: doubleExecutable,
    ports: portRange(),
    startTimeoutMs: 10_000,
    stopGraceMs: 2_000,
    log: () => undefined,
    ...options,
  });
  t.teardown(async () => {
    // Kill whatever a failed test left behind, then remove the data dir.
    for (const pid of pidsWithArgument(dataDir)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    await draas.close();
    await rm(dataDir, { recursive: true, force: true });
  });
  return { draas, dataDir };
}
