/**
 * After a restart (of the control plane, or of a worker that came back), the
 * actors that believe their workload runs are checked against what their
 * workers actually run: one `workload.list` per worker (a restart of 10,000
 * instances is a handful of round trips), then an inspect of each instance
 * whose workload is not on its worker's list — or whose worker could not
 * list — which also brings the exit facts. A few instances of a worker (a
 * reconcile check) are inspected without a list. A workload that is gone is
 * reported to its actor as an exit (Failed, and restarted if desired
 * Running). An instance whose worker is lost is not checked: the worker watch
 * reports it lost (its workload is unknown, never assumed gone).
 */
import { WorkerLostError, errorMessage } from '../errors.js';
import type { PlatformType } from '../platforms/driver.js';
import type { InstanceActor } from './instance-actor.js';
import type { WorkloadClient } from './workload-client.js';
import { type Logger } from '../observability/logger.js';

export interface VerificationDeps {
  workloads: WorkloadClient;
  replySlackMs: number;
  log: Logger;
  /** The worker the actor's instance is placed on. */
  workerOf: (actor: InstanceActor) => string | undefined;
}

/**
 * Fewer actors of one worker than this are checked by an inspect each: a list
 * is as large as the worker's whole fleet, and a reconcile check of one
 * instance must not fetch 10,000 refs (nor a worker keep them).
 */
const LIST_FROM = 8;

export async function verifyRestoredWorkloads(actors: InstanceActor[], deps: VerificationDeps): Promise<void> {
  const byWorker = new Map<string, { platform: PlatformType; workerId: string; actors: InstanceActor[] }>();
  const single: { actor: InstanceActor; workerId: string }[] = [];
  for (const actor of actors) {
    const { platform } = actor.view.context.settings;
    const workerId = deps.workerOf(actor);
    if (!workerId) continue; // never placed: nothing can run
    const key = `${platform}\u0000${workerId}`;
    const group = byWorker.get(key) ?? { platform: platform as PlatformType, workerId, actors: [] };
    group.actors.push(actor);
    byWorker.set(key, group);
  }
  await Promise.all(
    [...byWorker.values()].map(async ({ platform, workerId, actors: group }) => {
      if (group.length < LIST_FROM) {
        for (const actor of group) single.push({ actor, workerId });
        return;
      }
      const running = await listOf(deps, platform, workerId);
      if (running === 'lost') return; // the worker watch reports these instances' worker lost
      for (const actor of group) {
        if (running?.get(actor.id) !== actor.view.context.workload?.workloadId) single.push({ actor, workerId });
      }
    }),
  );
  await Promise.all(single.map(({ actor, workerId }) => verifyOne(actor, workerId, deps)));
}

/** What one worker runs (instance id → workload id), or undefined when it is gone or cannot say. */
async function listOf(deps: VerificationDeps, platform: PlatformType, workerId: string): Promise<Map<string, string> | 'lost' | undefined> {
  try {
    const refs = await deps.workloads.send(platform, 'workload.list', '*', {}, { timeoutMs: deps.replySlackMs, workerId });
    return new Map(refs.map((ref) => [ref.instanceId, ref.workloadId]));
  } catch (error) {
    return error instanceof WorkerLostError ? 'lost' : undefined;
  }
}

/** Asks the worker whether one workload restored as Running still runs; reports it gone otherwise. */
async function verifyOne(actor: InstanceActor, workerId: string, deps: VerificationDeps): Promise<void> {
  const { context } = actor.view;
  const expected = context.workload;
  if (!expected) return;
  try {
    const state = await deps.workloads.send(context.settings.platform, 'workload.inspect', actor.id, {}, { timeoutMs: deps.replySlackMs, workerId });
    if (state.state === 'running' && state.ref.workloadId === expected.workloadId) return;
    const exit = state.state === 'exited' ? state.exit : undefined;
    actor.observe({
      type: 'workload.exited',
      workloadId: expected.workloadId,
      exitCode: exit?.exitCode ?? null,
      signal: exit?.signal ?? null,
      lastLogLines: exit?.lastLogLines ?? [],
      details: { ...(exit?.details ?? {}), foundAfterRestart: state.state },
    });
  } catch (error) {
    deps.log.warn(`instance ${actor.id}: could not verify its workload after restart: ${errorMessage(error)}`, { instanceId: actor.id });
  }
}
