/** An embedded control plane on a temp data dir, with the Drasi Server double as its executable. */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ExecutionContext } from 'ava';
import { createControlPlane, type EmbeddedControlPlaneOptions } from '../../src/embedded.js';
import { pidsWithArgument } from './processes.js';

import { takePorts } from './port-window.js';

export const doubleExecutable = fileURLToPath(new URL('../fixtures/drasi-server-double.mjs', import.meta.url));

/** Disjoint port ranges per control plane, so concurrent tests never compete (see port-window.ts). */
export function portRange(size = 20): { min: number; max: number } {
  return takePorts(size);
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
