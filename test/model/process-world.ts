/**
 * The process platform for model paths: a real process worker and driver on
 * a temp data dir, whose servers are the Drasi Server double started by the
 * controlled launcher (its launch and its graceful stop wait for the path's
 * verdict). The real workloads are read from /proc and from the servers
 * themselves: a server serves when its port answers, and its generation is
 * the one in the id of the source it serves (`gen-<n>`, set by each
 * configuration patch of the path).
 */
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startPlatformWorker } from '../../src/platform-workers.js';
import { MemoryInstanceStore } from '../../src/store/instance-store.js';
import { MemoryTransport } from '../../src/transport/memory.js';
import { portRange } from '../helpers/embedded.js';
import { pidsWithArgument, waitFor } from '../helpers/processes.js';
import { controlServer } from './control-server.js';
import type { Gates } from './gates.js';
import { modelWorkerId } from './lifecycle-paths.js';
import type { PathWorld, Server } from './run-path.js';

export const launcher = fileURLToPath(new URL('./controlled-server.mjs', import.meta.url));

function portOf(pid: number): number | undefined {
  try {
    const args = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    const index = args.indexOf('--port');
    return index >= 0 ? Number(args[index + 1]) : undefined;
  } catch {
    return undefined;
  }
}

/** The generation a server serves (from its source id), or undefined when it does not answer. */
export async function servedGeneration(port: number): Promise<number | undefined> {
  try {
    const response = await fetch(`http://127.0.0.1:${port}/api/v1/sources`, { signal: AbortSignal.timeout(2_000) });
    const body = (await response.json()) as { data?: { id: string }[] };
    const id = body.data?.map((source) => source.id).find((each) => each.startsWith('gen-'));
    return id ? Number(id.slice(4)) : undefined;
  } catch {
    return undefined;
  }
}

/** Deletes the generation source a server serves, behind DRaaS's back (the double lets it through its gate). */
export async function dropServedSource(port: number): Promise<void> {
  const generation = await servedGeneration(port);
  if (generation === undefined) throw new Error(`the server on port ${port} serves no generation to drop`);
  const response = await fetch(`http://127.0.0.1:${port}/api/v1/sources/gen-${generation}`, { method: 'DELETE', headers: { 'x-double-ungated': '1' }, signal: AbortSignal.timeout(5_000) });
  if (response.status !== 200) throw new Error(`DELETE of source gen-${generation} answered ${response.status}: ${await response.text()}`);
}

export async function processWorld(gates: Gates, stopGraceMs: number): Promise<PathWorld> {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'draas-model-'));
  const control = await controlServer(gates);
  const transport = new MemoryTransport();
  const settings = { platform: 'process', workerId: modelWorkerId, dataDir, drasiServer: launcher, ports: portRange(10), stopGraceMs, heartbeatMs: 60_000 } as const;
  // Its presence never expires within a path: the worker is lost only when it closes (withdraws); it returns as a restarted worker would.
  let worker = await startPlatformWorker(transport, settings);
  const instanceDir = (name: string) => path.join(dataDir, 'instances', name);
  return {
    transport,
    store: new MemoryInstanceStore(),
    createFields: (name) => ({ environment: { MODEL_CONTROL_URL: control.url, MODEL_INSTANCE: name } }),
    servers: async (name) => {
      const servers: Server[] = [];
      for (const pid of pidsWithArgument(instanceDir(name))) {
        const port = portOf(pid);
        const generation = port === undefined ? undefined : await servedGeneration(port);
        if (generation !== undefined) servers.push({ workloadId: String(pid), generation });
      }
      return servers;
    },
    workloadCount: async (name) => pidsWithArgument(instanceDir(name)).length,
    kill: async (_name, workloadId) => {
      process.kill(Number(workloadId), 'SIGKILL');
    },
    drift: async (name) => {
      const ports = pidsWithArgument(instanceDir(name)).map(portOf).filter((port): port is number => port !== undefined);
      if (ports.length !== 1) throw new Error(`drift: ${ports.length} servers of ${name}`);
      await dropServedSource(ports[0]!);
    },
    loseWorker: () => worker.close(),
    returnWorker: async () => {
      worker = await startPlatformWorker(transport, settings);
    },
    close: async () => {
      await worker.close();
      await control.close();
      await transport.close();
      for (const pid of pidsWithArgument(dataDir)) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
      // A killed server may still be writing its log for a moment.
      await waitFor(() => pidsWithArgument(dataDir).length === 0, 10_000, `the servers under ${dataDir} are gone`);
      await rm(dataDir, { recursive: true, force: true, maxRetries: 5, retryDelay: 100 });
    },
  };
}
