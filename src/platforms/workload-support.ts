/** Small helpers every driver needs: the config with its port, exit facts, bounded waits, grace periods, listeners, coalesced starts. */
import type { StopOptions, WorkloadEvent, WorkloadRef } from './driver.js';

/** Exit facts of a workload that never ran. */
export function noExit(): Record<string, unknown> {
  return { exitCode: null, signal: null, lastLogLines: [] };
}

/** The value of `promise` if it settles within `ms`, else undefined. */
export async function settleWithin<T>(promise: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** The line that best explains a failure: the last `Error: …` line, else the last non-empty one. */
export function lastErrorLine(lines: readonly string[]): string | undefined {
  for (let i = lines.length - 1; i >= 0; i--) {
    const line = lines[i]!;
    if (/^(Error|error)\b/.test(line.trim())) return line.trim();
  }
  for (let i = lines.length - 1; i >= 0; i--) {
    const line = lines[i]!.trim();
    if (line !== '') return line;
  }
  return undefined;
}

/** The config with `port` set; a new `port` key goes right after `host` (or `id`) so it reads naturally. */
export function withPort(config: Record<string, unknown>, port: number): Record<string, unknown> {
  if (Object.hasOwn(config, 'port')) return { ...config, port };
  const entries = Object.entries(config);
  const after = ['host', 'id'].map((key) => entries.findIndex(([name]) => name === key)).find((index) => index !== -1) ?? -1;
  entries.splice(after + 1, 0, ['port', port]);
  return Object.fromEntries(entries);
}

/** A driver's `watch` listeners; a listener's failure is its own. */
export class WorkloadListeners {
  private readonly listeners = new Set<(event: WorkloadEvent) => void>();

  add(listener: (event: WorkloadEvent) => void): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  emit(event: WorkloadEvent): void {
    for (const listener of [...this.listeners]) {
      try {
        listener(event);
      } catch {
        // A listener's failure is its own.
      }
    }
  }

  clear(): void {
    this.listeners.clear();
  }
}

/** One start per instance at a time: a second start while one runs gets the same promise. */
export function coalescedStart(starts: Map<string, Promise<WorkloadRef>>, instanceId: string, launch: () => Promise<WorkloadRef>): Promise<WorkloadRef> {
  const inFlight = starts.get(instanceId);
  if (inFlight) return inFlight;
  const start = launch().finally(() => starts.delete(instanceId));
  starts.set(instanceId, start);
  return start;
}

/** The grace period a stop asked for (never negative), else the driver's own. */
export function graceMsOf(options: Partial<StopOptions> | undefined, fallback: number): number {
  const asked = options?.graceMs;
  return typeof asked === 'number' && Number.isFinite(asked) ? Math.max(0, asked) : fallback;
}
