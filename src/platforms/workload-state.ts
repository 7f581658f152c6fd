import { readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';

/**
 * `<instance dir>/workload.json`: which process runs an instance, written
 * once the server is healthy and removed when it exits or is stopped. The
 * pid plus the kernel's start time of that pid identify the process even
 * after pid reuse, so a restarted driver can re-adopt it.
 */
export const workloadStateSchema = z.object({
  instanceId: z.string(),
  pid: z.number().int().positive(),
  port: z.number().int().min(1).max(65535),
  generation: z.number().int(),
  /** ISO 8601. */
  startedAt: z.string(),
  /** Field 22 of `/proc/<pid>/stat` (clock ticks after boot); null where there is no /proc. */
  processStartTime: z.number().int().nullable(),
  /**
   * `starting` from the launch until the server is healthy, then `running`.
   * A restarted driver kills a server it finds still `starting`: the worker
   * that launched it died mid-start and nobody waits for that start any more.
   */
  phase: z.enum(['starting', 'running']).default('running'),
});

export type WorkloadStateFile = z.input<typeof workloadStateSchema>;

export const WORKLOAD_STATE_FILE = 'workload.json';

/**
 * Written and removed synchronously: a few hundred bytes to the page cache
 * (no fsync: the file outlives this process, not the host), on the path a
 * start or stop waits on, where each asynchronous step would cost a round
 * trip through the thread pool (a millisecond or more on a busy host).
 */
export function writeWorkloadState(dir: string, state: WorkloadStateFile): void {
  writeFileAtomically(path.join(dir, WORKLOAD_STATE_FILE), `${JSON.stringify(state, null, 2)}\n`);
}

/** A small file replaced whole (a temporary file renamed over it), synchronously: see `writeWorkloadState`. */
export function writeFileAtomically(file: string, content: string): void {
  const temporary = `${file}.${process.pid}.tmp`;
  writeFileSync(temporary, content);
  renameSync(temporary, file);
}

/** The state file, or undefined when it is missing or unreadable. */
export async function readWorkloadState(dir: string): Promise<z.output<typeof workloadStateSchema> | undefined> {
  return parseWorkloadState(await readFile(path.join(dir, WORKLOAD_STATE_FILE), 'utf8').catch(() => undefined));
}

function parseWorkloadState(text: string | undefined): z.output<typeof workloadStateSchema> | undefined {
  if (text === undefined) return undefined;
  try {
    const parsed = workloadStateSchema.safeParse(JSON.parse(text));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

/** Removes the state file (synchronously, see `writeWorkloadState`); with `pid`, only when it describes that process (a newer workload's file stays). */
export function removeWorkloadState(dir: string, pid?: number): void {
  if (pid !== undefined) {
    let text: string | undefined;
    try {
      text = readFileSync(path.join(dir, WORKLOAD_STATE_FILE), 'utf8');
    } catch {
      text = undefined;
    }
    const state = parseWorkloadState(text);
    if (state && state.pid !== pid) return;
  }
  rmSync(path.join(dir, WORKLOAD_STATE_FILE), { force: true });
}

/** The kernel's start time of `pid` (field 22 of /proc/<pid>/stat), or null when unknown. */
export function processStartTime(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may contain spaces and parentheses: count from the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const value = Number(fields[22 - 3]);
    return Number.isSafeInteger(value) ? value : null;
  } catch {
    return null;
  }
}

/**
 * The start time of `pid` when it is a live process (not a zombie), else null:
 * an exited process, and one whose start time cannot be read, count as gone.
 */
export function liveProcessStartTime(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (fields[0] === 'Z' || fields[0] === 'X') return null;
    const value = Number(fields[22 - 3]);
    return Number.isSafeInteger(value) ? value : null;
  } catch {
    return null;
  }
}

/** The arguments of `pid` (`/proc/<pid>/cmdline`), or undefined when unreadable. */
export function processCommandLine(pid: number): string[] | undefined {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter((arg) => arg !== '');
  } catch {
    return undefined;
  }
}

/** This boot of this host: process ids and start times mean something only within it. */
export function hostBootId(): string {
  try {
    return readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  } catch {
    return 'unknown';
  }
}

/**
 * A process workload's identity, as its ref carries it (`WorkloadRef.identity`):
 * which boot of which host, which pid, and that pid's kernel start time. Any
 * process driver on the same host can verify it before signalling the process.
 */
export interface ProcessIdentity {
  boot: string;
  pid: number;
  startTime: number;
}

export function encodeProcessIdentity(identity: ProcessIdentity): string {
  return `process:${identity.boot}:${identity.pid}:${identity.startTime}`;
}

export function decodeProcessIdentity(text: string | undefined): ProcessIdentity | undefined {
  const match = /^process:([^:]+):(\d+):(\d+)$/.exec(text ?? '');
  if (!match) return undefined;
  return { boot: match[1]!, pid: Number(match[2]), startTime: Number(match[3]) };
}

/**
 * Live processes whose command line names a config file under
 * `<instancesDir>/<instanceId>/config.yaml`: the servers of that directory,
 * whether or not a state file recorded them. Empty where there is no /proc.
 */
export function serversUnder(instancesDir: string): { pid: number; instanceId: string }[] {
  const prefix = instancesDir + path.sep;
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return [];
  }
  const found: { pid: number; instanceId: string }[] = [];
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    const config = processCommandLine(pid)?.find((arg) => arg.startsWith(prefix) && arg.endsWith(`${path.sep}config.yaml`));
    if (!config || liveProcessStartTime(pid) === null) continue;
    const instanceId = config.slice(prefix.length).split(path.sep)[0];
    if (instanceId) found.push({ pid, instanceId });
  }
  return found;
}
