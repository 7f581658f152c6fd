/**
 * The commands a platform worker understands and the events it publishes:
 * the typed contract between the control plane and the workers.
 */
import type { ComponentCall, ObservedComponents } from '../drasi/component-plan.js';
import type { ApplyComponentCallsResult } from '../platforms/component-api.js';
import type { LogRead, StopOutcome, WorkloadExit, WorkloadRef, WorkloadSpec, WorkloadState } from '../platforms/driver.js';

export interface WorkloadCommands {
  'workload.start': { payload: WorkloadSpec; result: WorkloadRef };
  'workload.stop': { payload: { graceMs: number }; result: StopOutcome };
  'workload.remove': { payload: { graceMs: number }; result: { removed: true } };
  'workload.inspect': { payload: Record<string, never>; result: WorkloadState };
  /** The newest lines; with `after` (a cursor, or null to start at the tail) a cursor read: `PlatformDriver.readLogs`. */
  'workload.logs': { payload: { tail: number; after?: string | null }; result: { lines: string[]; cursor?: LogRead['cursor'] } };
  /** Every workload the worker runs (sent to one worker's own queue, with instance id `*`). */
  'workload.list': { payload: Record<string, never>; result: WorkloadRef[] };
  /** What the running server reports about its sources, queries and reactions (`full`: with each one's config). */
  'workload.components': { payload: { full: boolean }; result: ObservedComponents };
  /** Runs component API calls against the running server, in order, stopping at the first that fails. */
  'workload.apply': { payload: { calls: ComponentCall[] }; result: ApplyComponentCallsResult };
}

export type WorkloadCommandType = keyof WorkloadCommands;
export const workloadCommandTypes: readonly WorkloadCommandType[] = [
  'workload.start',
  'workload.stop',
  'workload.remove',
  'workload.inspect',
  'workload.logs',
  'workload.list',
  'workload.components',
  'workload.apply',
];

export function isWorkloadCommandType(type: string): type is WorkloadCommandType {
  return (workloadCommandTypes as readonly string[]).includes(type);
}

/** Published by a worker on `topics.workloadEvents`. */
export interface WorkloadEvents {
  'workload.exited': { ref: WorkloadRef; exit: WorkloadExit; workerId: string };
  'workload.health': { ref: WorkloadRef; healthy: boolean; workerId: string };
  /** A long start's progress (e.g. an image pull), for people watching. */
  'workload.progress': { message: string; workerId: string };
  /** A workload a restarted worker found running and took over. */
  'workload.adopted': { ref: WorkloadRef; workerId: string };
  /** A worker that shuts down cleanly says so before its presence goes, so nothing more is sent to it. */
  'worker.withdrawn': { workerId: string; platform: string };
}
