/**
 * The control plane's room for workers: which worker each owned instance is
 * placed on, what happens to its instances when a worker is lost or comes
 * back, and what workers report (exits, adoptions, withdrawals) as actor
 * events. The rules are in `workload-effects.ts` and docs/architecture.md
 * ("Placement and lost workers").
 */
import { errorMessage } from '../errors.js';
import type { PlatformType } from '../platforms/driver.js';
import type { InstanceRecord } from '../store/instance-store.js';
import type { EventEnvelope } from '../transport/envelope.js';
import type { InstanceActor } from './instance-actor.js';
import type { WorkloadClient } from './workload-client.js';
import type { WorkloadEvents } from './workload-commands.js';
import { parseWorkloadEvent } from './workload-schemas.js';
import { verifyRestoredWorkloads } from './workload-verification.js';
import { WorkerWatch } from './worker-watch.js';
import { type Logger } from '../observability/logger.js';

/** What the placements need of the control plane that owns the actors. */
export interface PlacementHost {
  actor(instanceId: string): InstanceActor | undefined;
  actors(): Iterable<InstanceActor>;
  /** Read-modify-write of an owned instance's record, serialized with other record changes, durable when it resolves. */
  updateRecord(instanceId: string, change: (record: InstanceRecord) => InstanceRecord): Promise<void>;
  /** Whether an instance id without an actor is one this replica would own (so a workload of it is an orphan). */
  isOrphan(instanceId: string): boolean;
}

export interface WorkerPlacementsOptions {
  workloads: WorkloadClient;
  host: PlacementHost;
  now: () => number;
  /** See `ControlPlaneOptions.workerLostTimeoutMs`. */
  workerLostTimeoutMs: number | null;
  workerCheckMs: number;
  stopGraceMs: number;
  replySlackMs: number;
  log: Logger;
}

export class WorkerPlacements {
  private readonly placed = new Map<string, { workerId: string; platform: PlatformType }>();
  private readonly watch: WorkerWatch;

  constructor(private readonly options: WorkerPlacementsOptions) {
    this.watch = new WorkerWatch({
      workloads: options.workloads,
      intervalMs: options.workerCheckMs,
      // After presence could not be read, workers get time to announce themselves again before any is called lost.
      quietMs: Math.max(3 * options.workerCheckMs, 10_000),
      now: options.now,
      placedWorkers: () => this.placed.values(),
      onLost: (workerId, since) => this.onWorkerLost(workerId, since),
      onReturned: (workerId) => void this.onWorkerReturned(workerId),
      onChecked: () => this.afterCheck(),
      log: options.log,
    });
  }

  start(): void {
    this.watch.start();
  }

  stop(): void {
    this.watch.stop();
  }

  /** The worker an instance is placed on (none before its first start, nor for a record written before placements existed). */
  placementOf(record: InstanceRecord): string | undefined {
    return record.placement?.workerId;
  }

  /** Stores an instance's placement (before its start is sent, so that a restarted control plane sends it to the same worker). */
  async place(instanceId: string, workerId: string): Promise<void> {
    let platform: PlatformType | undefined;
    await this.options.host.updateRecord(instanceId, (record) => {
      platform = record.platformType;
      return { ...record, placement: { workerId, placedAt: new Date(this.options.now()).toISOString() } };
    });
    if (platform) this.placed.set(instanceId, { workerId, platform });
  }

  /** Tracks an owned instance's placement (when its actor is spawned). */
  track(record: InstanceRecord): void {
    const workerId = this.placementOf(record);
    if (workerId !== undefined) this.placed.set(record.id, { workerId, platform: record.platformType });
  }

  /** Forgets an instance (deleted, or no longer owned). */
  forget(instanceId: string): void {
    this.placed.delete(instanceId);
  }

  /** Checks actors that believe their workload runs against their workers; a gone workload is reported to its actor. */
  verifyRunning(actors: InstanceActor[]): Promise<void> {
    return verifyRestoredWorkloads(actors, {
      workloads: this.options.workloads,
      replySlackMs: this.options.replySlackMs,
      log: this.options.log,
      workerOf: (actor) => this.placed.get(actor.id)?.workerId,
    });
  }

  /** What a worker published: exits and adoptions become actor events; a withdrawal makes the worker lost at once. */
  onWorkloadEvent(event: EventEnvelope): void {
    switch (event.type) {
      case 'worker.withdrawn': {
        const payload = parseWorkloadEvent('worker.withdrawn', event.payload);
        if (payload) this.watch.withdrawn(payload.workerId, payload.platform);
        return;
      }
      case 'workload.adopted': {
        const payload = parseWorkloadEvent('workload.adopted', event.payload);
        if (payload) this.onAdopted(event.instanceId, payload);
        return;
      }
      case 'workload.exited': {
        const payload = parseWorkloadEvent('workload.exited', event.payload);
        if (payload) this.onExited(event.instanceId, payload);
        return;
      }
    }
  }

  /** Instances placed on a worker, with their actors. */
  private *placedOn(workerId: string): Generator<InstanceActor> {
    for (const [id, placement] of this.placed) {
      const actor = placement.workerId === workerId ? this.options.host.actor(id) : undefined;
      if (actor) yield actor;
    }
  }

  private onWorkerLost(workerId: string, since: number): void {
    const at = new Date(since).toISOString();
    for (const actor of this.placedOn(workerId)) actor.observe({ type: 'worker.lost', workerId, since: at });
  }

  private async onWorkerReturned(workerId: string): Promise<void> {
    const returned: InstanceActor[] = [];
    for (const actor of this.placedOn(workerId)) if (actor.observe({ type: 'worker.returned', workerId })) returned.push(actor);
    // It re-adopted what still runs and reported what died; a Running one is checked like after a restart.
    await this.verifyRunning(returned.filter((actor) => actor.view.status === 'Running'));
  }

  /**
   * After every presence check, level-triggered: an instance still marked
   * with a lost worker that is back (it was mid-command when the worker
   * returned) is told now; a Running instance whose worker has been lost longer
   * than the worker-lost timeout is started elsewhere.
   */
  private afterCheck(): void {
    const timeout = this.options.workerLostTimeoutMs;
    const now = this.options.now();
    const back: InstanceActor[] = [];
    for (const actor of this.options.host.actors()) {
      const lost = actor.view.context.workerLost;
      if (!lost) continue;
      if (this.options.workloads.lostSince(lost.workerId) === undefined && this.placed.get(actor.id)?.workerId === lost.workerId) {
        if (actor.observe({ type: 'worker.returned', workerId: lost.workerId }) && actor.view.status === 'Running') back.push(actor);
        continue;
      }
      if (timeout === null || actor.view.status !== 'Running' || now - Date.parse(lost.since) < timeout) continue;
      actor.observe({ type: 'worker.lost', workerId: lost.workerId, since: lost.since, expired: true });
    }
    if (back.length > 0) void this.verifyRunning(back);
  }

  /**
   * A worker (restarted, or back from a partition) took over a workload it
   * found running. One that is not its instance's current workload is stopped:
   * its instance is placed on another worker now, or wants nothing running.
   */
  private onAdopted(instanceId: string, { ref, workerId }: WorkloadEvents['workload.adopted']): void {
    const { host, workloads, stopGraceMs, replySlackMs, log } = this.options;
    // Ours by label but without a record: reported, never deleted (it may be another control plane's, or data someone wants).
    // Only the replica that owns the id, once its shard is loaded, can tell: the others have no actor for it either way.
    if (host.isOrphan(instanceId)) {
      log.warn(`orphan workload: ${ref.platform} ${ref.workloadId} of instance "${instanceId}" on worker ${workerId} has no instance record; left running`, { instanceId, workerId });
      return;
    }
    const actor = host.actor(instanceId);
    if (!actor) return;
    const { status, context } = actor.view;
    const placedOn = this.placed.get(instanceId)?.workerId;
    const current = placedOn === workerId && (context.workload?.workloadId === ref.workloadId || status === 'Starting' || status === 'Running');
    if (current) return;
    log.warn(`instance ${instanceId}: worker ${workerId} re-adopted ${ref.workloadId}, which is not the instance's current workload (${status}, placed on ${placedOn ?? 'no worker'}); stopping it`, { instanceId, workerId });
    void workloads
      .send(ref.platform, 'workload.stop', instanceId, { graceMs: stopGraceMs }, { workerId, timeoutMs: stopGraceMs + replySlackMs })
      .catch((error: unknown) => log.error(`instance ${instanceId}: could not stop ${ref.workloadId} on worker ${workerId}: ${errorMessage(error)}`, { instanceId, workerId }));
  }

  private onExited(instanceId: string, payload: WorkloadEvents['workload.exited']): void {
    if (payload.exit.requested) return;
    const actor = this.options.host.actor(instanceId);
    if (!actor) return;
    actor.observe({
      type: 'workload.exited',
      workloadId: payload.ref.workloadId,
      exitCode: payload.exit.exitCode,
      signal: payload.exit.signal,
      lastLogLines: payload.exit.lastLogLines,
      ...(payload.exit.details ? { details: payload.exit.details } : {}),
    });
  }
}
