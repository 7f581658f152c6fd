/**
 * Level-triggered reconciliation: every instance this replica owns is
 * compared, now and then, with what its platform and its server report, and
 * a difference becomes an event for its actor (which repairs it through the
 * lifecycle machine: Running → Reconfiguring, or a restart).
 *
 * - Running: the workload must still run (else its exit is reported, as after
 *   a restart of the control plane), and the server's sources, queries and
 *   reactions must be exactly those of the generation it runs, in the wanted
 *   started/stopped state. A difference is drift (`instance.drifted`).
 * - Stopped (or Pending, or Failed without wanting to run): nothing of it may
 *   run on its worker; a workload found running against that desire is stopped.
 *
 * Each instance is checked once per interval, at an offset of its own (a hash
 * of its id), so that ten thousand instances spread over the interval instead
 * of firing together; a few checks run at once, and one slow or failing
 * instance never holds up the others. The last comparison of each instance is
 * kept for `GET /api/status/{id}/drift`.
 */
import { createHash } from 'node:crypto';
import { compareWithServer, type Difference } from '../drasi/component-plan.js';
import { DraasError, errorMessage } from '../errors.js';
import type { InstanceStatus } from '../machines/instance-types.js';
import { nameCall } from '../platforms/component-api.js';
import type { InstanceRecord } from '../store/instance-store.js';
import type { InstanceActor } from './instance-actor.js';
import type { WorkloadClient } from './workload-client.js';
import { runningDocument } from './workload-effects.js';
import { type Logger } from '../observability/logger.js';

/** What one check found. */
export interface DriftComparison {
  instanceId: string;
  /** ISO 8601. */
  checkedAt: string;
  /** The instance's status when checked. */
  status: InstanceStatus;
  /**
   * - `in-sync`: the server runs exactly its generation's components;
   * - `drifted`: it does not (see `differences`; `repair` names the calls that put it back);
   * - `workload-gone`: the workload no longer runs (its exit was reported);
   * - `unwanted-workload`: a workload ran although the instance should not run; it was stopped;
   * - `not-running`: nothing should run, and nothing runs;
   * - `not-comparable`: could not be compared (see `reason`), e.g. its platform's worker cannot reach the server.
   */
  outcome: 'in-sync' | 'drifted' | 'workload-gone' | 'unwanted-workload' | 'not-running' | 'not-comparable';
  /** The generation the server runs, that it was compared with (Running only). */
  generation?: number;
  differences: Difference[];
  repair: string[];
  reason?: string;
}

export interface ReconcilerHost {
  actor(instanceId: string): InstanceActor | undefined;
  actors(): Iterable<InstanceActor>;
  record(instanceId: string): Promise<InstanceRecord>;
  placementOf(record: InstanceRecord): string | undefined;
  /** Reports a Running instance's workload as gone when its worker no longer runs it (see `workload-verification.ts`). */
  verifyRunning(actors: InstanceActor[]): Promise<void>;
}

export interface ReconcilerOptions {
  host: ReconcilerHost;
  workloads: WorkloadClient;
  /** How often each instance is checked; null: only on demand (`check`). */
  intervalMs: number | null;
  stopGraceMs: number;
  replySlackMs: number;
  now: () => number;
  log: Logger;
  /** Checks at once (default 8). */
  concurrency?: number;
  /** Told each check's outcome (`error` when it threw), for metrics. */
  onResult?: (outcome: DriftComparison['outcome'] | 'error') => void;
}

/** The longest a check waits for its worker's answer, beyond the reply slack. */
export const CHECK_TIMEOUT_MS = 10_000;
const KEPT_DIFFERENCES = 50;

export class Reconciler {
  private readonly last = new Map<string, DriftComparison>();
  private readonly due = new Map<string, number>();
  private readonly inFlight = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  private running = 0;

  constructor(private readonly options: ReconcilerOptions) {}

  start(): void {
    const interval = this.options.intervalMs;
    if (interval === null || interval <= 0 || this.timer) return;
    this.timer = setInterval(() => this.tick(), Math.max(10, Math.min(1_000, Math.floor(interval / 10))));
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** The last comparison of an instance, if one was made since this replica owns it. */
  lastComparison(instanceId: string): DriftComparison | undefined {
    return this.last.get(instanceId);
  }

  forget(instanceId: string): void {
    this.last.delete(instanceId);
    this.due.delete(instanceId);
  }

  /** Checks one instance now; a difference found is handed to its actor as for a periodic check. */
  async check(instanceId: string): Promise<DriftComparison> {
    const actor = this.options.host.actor(instanceId);
    if (!actor) throw new Error(`no actor for instance "${instanceId}"`);
    let comparison: DriftComparison;
    try {
      comparison = await this.compare(actor);
    } catch (error) {
      this.options.onResult?.('error');
      throw error;
    }
    this.options.onResult?.(comparison.outcome);
    this.last.set(instanceId, comparison);
    return comparison;
  }

  /** Starts the checks that are due, a few at a time. */
  private tick(): void {
    const interval = this.options.intervalMs;
    if (interval === null) return;
    const now = this.options.now();
    const limit = this.options.concurrency ?? 8;
    for (const actor of this.options.host.actors()) {
      if (this.running >= limit) return;
      const id = actor.id;
      let dueAt = this.due.get(id);
      if (dueAt === undefined) {
        dueAt = now + spreadOffset(id, interval);
        this.due.set(id, dueAt);
      }
      if (dueAt > now || this.inFlight.has(id)) continue;
      this.due.set(id, now + interval);
      this.inFlight.add(id);
      this.running += 1;
      void this.check(id)
        .catch((error: unknown) => this.options.log.error(`reconcile: instance ${id}: ${errorMessage(error)}`, { instanceId: id }))
        .finally(() => {
          this.inFlight.delete(id);
          this.running -= 1;
        });
    }
  }

  private async compare(actor: InstanceActor): Promise<DriftComparison> {
    const { status, context } = actor.view;
    const base = { instanceId: actor.id, checkedAt: new Date(this.options.now()).toISOString(), status, differences: [], repair: [] };
    if (status === 'Running' && context.workload && context.workerLost === null) return this.compareRunning(actor, base);
    const resting = status === 'Stopped' || status === 'Pending' || (status === 'Failed' && context.desired !== 'Running');
    if (resting) return this.compareResting(actor, base);
    return { ...base, outcome: 'not-comparable', reason: context.workerLost ? `its worker ${context.workerLost.workerId} is lost` : `it is ${status}` };
  }

  private async compareRunning(actor: InstanceActor, base: Omit<DriftComparison, 'outcome'>): Promise<DriftComparison> {
    const { context } = actor.view;
    const workload = context.workload!;
    const record = await this.options.host.record(actor.id);
    const workerId = this.options.host.placementOf(record);
    const generation = context.observedGeneration ?? workload.generation;
    const document = runningDocument(record, generation);
    if (workerId === undefined || !document) {
      return { ...base, outcome: 'not-comparable', generation, reason: `the configuration of generation ${generation}, which runs, is not recorded` };
    }
    let observed;
    try {
      observed = await this.options.workloads.send(record.platformType, 'workload.components', actor.id, { full: true }, { workerId, timeoutMs: CHECK_TIMEOUT_MS + this.options.replySlackMs });
    } catch (error) {
      // (A worker's error arrives as a DraasError with its code and details.)
      const reason = error instanceof DraasError && error.code === 'conflict' ? error.details['reason'] : undefined;
      if (reason === 'not-running') {
        await this.options.host.verifyRunning([actor]);
        return { ...base, outcome: 'workload-gone', generation, reason: errorMessage(error) };
      }
      if (reason === 'server-api-unreachable') {
        // The worker cannot ask the server; whether the workload runs it can still say.
        await this.options.host.verifyRunning([actor]);
        return { ...base, outcome: 'not-comparable', generation, reason: errorMessage(error) };
      }
      const serverFailed = error instanceof DraasError && error.code === 'workload-failed' && error.details['reason'] === 'server-api-failed';
      // No answer through the transport (Redis down, the worker slow or lost) says nothing about the server.
      if (!serverFailed) return { ...base, outcome: 'not-comparable', generation, reason: errorMessage(error) };
      // The server does not answer its API (or answers nonsense): a difference of its own, repaired by the apply (which restarts it).
      const message = `the server's API does not answer: ${errorMessage(error)}`;
      if (actor.view.status === 'Running' && actor.view.context.workload?.workloadId === workload.workloadId) {
        actor.observe({ type: 'instance.drifted', workloadId: workload.workloadId, differences: [message] });
      }
      return { ...base, outcome: 'drifted', generation, reason: message };
    }
    const report = compareWithServer(document, observed);
    if (!report.drifted) return { ...base, outcome: 'in-sync', generation };
    const comparison: DriftComparison = {
      ...base,
      outcome: 'drifted',
      generation,
      differences: report.differences.slice(0, KEPT_DIFFERENCES),
      repair: report.repair.map(nameCall),
    };
    // Components in motion (no repair yet) are judged at the next check.
    if (report.repair.length > 0 && actor.view.status === 'Running' && actor.view.context.workload?.workloadId === workload.workloadId) {
      const accepted = actor.observe({ type: 'instance.drifted', workloadId: workload.workloadId, differences: report.differences.map((difference) => difference.message) });
      this.options.log.warn(`reconcile: instance ${actor.id}: drift (${report.differences.length} difference(s))${accepted ? ', repairing' : ''}`, { instanceId: actor.id });
    }
    return comparison;
  }

  private async compareResting(actor: InstanceActor, base: Omit<DriftComparison, 'outcome'>): Promise<DriftComparison> {
    const record = await this.options.host.record(actor.id);
    const workerId = this.options.host.placementOf(record);
    if (workerId === undefined) return { ...base, outcome: 'not-running' };
    const timeoutMs = CHECK_TIMEOUT_MS + this.options.replySlackMs;
    let state;
    try {
      state = await this.options.workloads.send(record.platformType, 'workload.inspect', actor.id, {}, { workerId, timeoutMs });
    } catch (error) {
      return { ...base, outcome: 'not-comparable', reason: errorMessage(error) };
    }
    if (state.state !== 'running') return { ...base, outcome: 'not-running' };
    // Still resting now (not started meanwhile): what runs runs against the desire.
    const now = actor.view;
    if (now.status !== base.status || now.context.workload !== null) return { ...base, outcome: 'not-comparable', reason: `it became ${now.status} meanwhile` };
    const reason = `workload ${state.ref.workloadId} ran although the instance is ${base.status} (desired ${now.context.desired}); stopped`;
    this.options.log.warn(`reconcile: instance ${actor.id}: ${reason}`, { instanceId: actor.id });
    await this.options.workloads.send(record.platformType, 'workload.stop', actor.id, { graceMs: this.options.stopGraceMs }, { workerId, timeoutMs: this.options.stopGraceMs + timeoutMs });
    return { ...base, outcome: 'unwanted-workload', reason };
  }
}

/** A fixed offset in [0, interval) per instance id, so that checks spread over the interval. */
export function spreadOffset(instanceId: string, intervalMs: number): number {
  return createHash('sha1').update(instanceId).digest().readUInt32BE(0) % Math.max(1, Math.floor(intervalMs));
}
