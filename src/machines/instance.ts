/**
 * The lifecycle of one Drasi Server instance, as an XState v5 machine. It is
 * the single source of truth for what may happen next: a request it has no
 * transition for is refused (the HTTP layer answers 409 with the state).
 *
 * The machine is pure: side effects are the invoked actors `startWorkload`,
 * `stopWorkload` and `removeWorkload`, which the actor layer provides with
 * `machine.provide({ actors })`, and the clock is injected.
 *
 * Desired vs observed: requests change `desired`; a command in flight is never
 * abandoned — when it settles, the machine moves towards whatever is desired
 * by then (a stop during Starting waits for the start, then stops).
 */
import { assign, fromPromise, setup } from 'xstate';
import type { WorkloadRef } from '../platforms/driver.js';
import type {
  ApplyConfigurationInput,
  ApplyConfigurationOutput,
  DesiredState,
  Failure,
  HistoryEntry,
  InstanceContext,
  InstanceEvent,
  InstanceInput,
  InstanceStatus,
  ReportedBy,
  RestartPolicy,
  StartWorkloadInput,
  StopWorkloadInput,
  StopWorkloadOutput,
  WorkerLost,
} from './instance-types.js';

export * from './instance-types.js';

/** Bumped whenever the shape of the context or the states change (persisted snapshots carry it; see `instanceSnapshotMigrations`). */
export const instanceMachineVersion = 4;

/** The lost-worker facts a failed command carries (`WorkerLostError` details), if it failed because its worker is lost. */
export function workerLostFrom(error: unknown): WorkerLost | undefined {
  if (typeof error !== 'object' || error === null || !('details' in error)) return undefined;
  const details = error.details;
  if (typeof details !== 'object' || details === null || !('lostWorker' in details)) return undefined;
  const lost = details.lostWorker;
  if (typeof lost !== 'object' || lost === null || !('workerId' in lost) || !('since' in lost)) return undefined;
  return typeof lost.workerId === 'string' && typeof lost.since === 'string' ? { workerId: lost.workerId, since: lost.since } : undefined;
}

/** States in which a workload of the instance may run (or be starting, or stopping). */
const withWorkload: ReadonlySet<InstanceStatus> = new Set(['Starting', 'Running', 'Reconfiguring', 'Stopping', 'Deleting']);

export interface InstanceMachineDeps {
  /** Epoch milliseconds; injected so tests can use a simulated clock. */
  now: () => number;
}

function notProvided(name: string): never {
  throw new Error(`the "${name}" actor was not provided to the instance machine`);
}

/** How long a server must run before its earlier failures stop growing the backoff, unless the policy says. */
export const DEFAULT_RESET_AFTER_MS = 60_000;

/** Exponential backoff: initial * 2^(failures-1), capped. */
export function restartBackoffMs(failures: number, policy: RestartPolicy): number {
  const exponent = Math.max(0, failures - 1);
  return Math.min(policy.maxBackoffMs, policy.initialBackoffMs * 2 ** Math.min(exponent, 30));
}

/** Reads what a failed side effect told us (a DraasError's details, or a plain error). */
export function failureFrom(error: unknown, at: string, prefix = ''): Failure {
  const message = error instanceof Error ? error.message : String(error);
  const details =
    typeof error === 'object' && error !== null && 'details' in error && typeof error.details === 'object' && error.details !== null
      ? (error.details as Record<string, unknown>)
      : {};
  const failure: Failure = { reason: prefix + message, at };
  if (typeof details.exitCode === 'number' || details.exitCode === null) failure.exitCode = details.exitCode as number | null;
  if (typeof details.signal === 'string' || details.signal === null) failure.signal = details.signal as string | null;
  if (Array.isArray(details.lastLogLines)) failure.lastLogLines = details.lastLogLines.map(String);
  const code = typeof error === 'object' && error !== null && 'code' in error ? error.code : undefined;
  const { exitCode: _exitCode, signal: _signal, lastLogLines: _lines, ...rest } = details;
  if (typeof code === 'string' || Object.keys(rest).length > 0) {
    failure.details = { ...rest, ...(typeof code === 'string' ? { code } : {}) };
  }
  return failure;
}

function causeOf(eventType: string): string {
  // xstate.done.actor.startWorkload → startWorkload.done; xstate.after.… → timer
  const done = /^xstate\.done\.actor\.(\w+)/.exec(eventType);
  if (done) return `${done[1]}.done`;
  const failed = /^xstate\.error\.actor\.(\w+)/.exec(eventType);
  if (failed) return `${failed[1]}.error`;
  if (eventType.startsWith('xstate.after')) return 'deadline';
  if (eventType === 'xstate.init') return 'created';
  return eventType;
}

export function createInstanceMachine(deps: InstanceMachineDeps) {
  const iso = () => new Date(deps.now()).toISOString();

  /** Entry action of every state: records the transition in the bounded history. */
  const enter = (to: InstanceStatus) => ({ type: 'record' as const, params: { to } });
  const want = (desired: DesiredState, restartPending = false) => ({
    type: 'want' as const,
    params: { desired, restartPending },
  });

  /** The current workload has run at least the policy's healthy period: failures before it no longer count. */
  const ranHealthy = (context: InstanceContext): boolean =>
    context.workload !== null && deps.now() - Date.parse(context.workload.startedAt) >= (context.settings.restartPolicy.resetAfterMs ?? DEFAULT_RESET_AFTER_MS);

  /** What entering a state changes besides its history entry (given the context with that entry recorded). */
  const entryChanges: Partial<Record<InstanceStatus, (context: InstanceContext) => Partial<InstanceContext>>> = {
    Starting: (context) => ({
      observed: 'Starting',
      restartPending: false,
      retryAt: null,
      // Kept when re-entered on recovery: the deadline is absolute (`record` clears it elsewhere).
      startDeadline: context.startDeadline ?? deps.now() + context.settings.startTimeoutMs,
    }),
    Stopping: (context) => ({ observed: context.workerLost ? 'Unknown' : 'Running' }),
    Failed: (context) => ({
      retryAt:
        context.desired === 'Running'
          ? (context.retryAt ?? deps.now() + restartBackoffMs(context.consecutiveFailures, context.settings.restartPolicy))
          : null,
    }),
    Deleting: () => ({ restartPending: false }),
  };

  return setup({
    types: {
      context: {} as InstanceContext,
      events: {} as InstanceEvent,
      input: {} as InstanceInput,
    },
    actors: {
      startWorkload: fromPromise<WorkloadRef, StartWorkloadInput>(async () => notProvided('startWorkload')),
      stopWorkload: fromPromise<StopWorkloadOutput, StopWorkloadInput>(async () => notProvided('stopWorkload')),
      removeWorkload: fromPromise<StopWorkloadOutput, StopWorkloadInput>(async () => notProvided('removeWorkload')),
      applyConfiguration: fromPromise<ApplyConfigurationOutput, ApplyConfigurationInput>(async () => notProvided('applyConfiguration')),
    },
    actions: {
      record: assign(({ context, event }, params: { to: InstanceStatus }) => {
        const entry: HistoryEntry = { at: iso(), from: context.status, to: params.to, cause: causeOf(event.type) };
        if (params.to === 'Failed' && context.failure) entry.reason = context.failure.reason;
        else if (context.note) entry.reason = context.note;
        const history = [...context.history, entry];
        const recorded = {
          status: params.to,
          note: null,
          history: history.length > context.settings.historyLimit ? history.slice(-context.settings.historyLimit) : history,
          // A deadline belongs to its state; it survives only a re-entry of that state (recovery).
          startDeadline: params.to === 'Starting' ? context.startDeadline : null,
          retryAt: params.to === 'Failed' ? context.retryAt : null,
        };
        // The state's own entry changes, in the same assign: each assign makes XState build a whole snapshot.
        const entering = entryChanges[params.to];
        return entering ? { ...recorded, ...entering({ ...context, ...recorded }) } : recorded;
      }),
      want: assign((_, params: { desired: DesiredState; restartPending: boolean }) => ({
        desired: params.desired,
        restartPending: params.restartPending,
      })),
      // The first report of a loss is kept (its `since` is what workerLostTimeout counts from).
      markWorkerLost: assign(({ context, event }) => {
        if (event.type !== 'worker.lost') return {};
        const workerLost = context.workerLost?.workerId === event.workerId ? context.workerLost : { workerId: event.workerId, since: event.since };
        return { workerLost, observed: 'Unknown' as const };
      }),
      // A stop queued for a lost worker (`deferredTo`) leaves the workload as it was known: it may run until that
      // worker returns and stops it.
      // `settled`: the instance comes to rest Stopped, and its failures are behind it.
      recordStopped: assign(({ context, event }, params?: { settled: boolean }) => {
        const deferred = 'output' in event && typeof event.output === 'object' && event.output !== null && 'deferredTo' in event.output;
        const stopped = deferred ? { observed: 'Unknown' as const } : { observed: 'Stopped' as const, workload: null, workerLost: null };
        return params?.settled ? { ...stopped, failure: null, consecutiveFailures: 0 } : stopped;
      }),
      // The current workload exited while nobody asked (Running, or Reconfiguring it).
      recordCrash: assign({
        failure: ({ event }) => {
          if (event.type !== 'workload.exited') throw new Error('unreachable');
          const how = event.signal ? `signal ${event.signal}` : `code ${event.exitCode}`;
          // The platform's own word for it (Kubernetes: OOMKilled, CrashLoopBackOff, …) belongs in the headline.
          const platformReason = typeof event.details?.['reason'] === 'string' ? `: ${event.details['reason']}` : '';
          const failure: Failure = {
            reason: `workload exited unexpectedly with ${how}${platformReason}`,
            at: iso(),
            exitCode: event.exitCode,
            signal: event.signal,
            lastLogLines: event.lastLogLines,
          };
          if (event.details) failure.details = event.details;
          return failure;
        },
        observed: 'Exited',
        workload: null,
        // A crash after a period of health starts a new count: the backoff grows only while it keeps failing soon.
        consecutiveFailures: ({ context }) => (ranHealthy(context) ? 1 : context.consecutiveFailures + 1),
      }),
      // An apply that ended: the generation it applied runs now (an apply that needs a restart changed nothing).
      recordApplied: assign(({ context, event }) => {
        if (!('output' in event)) return {};
        const output = event.output as ApplyConfigurationOutput;
        if (output.outcome !== 'applied') return { note: `not applied without a restart: ${output.reasons.join('; ')}` };
        // (Run after the state's exit action: `reconfigure` is cleared by now; the generation tells what it was.)
        const what = output.generation === context.observedGeneration ? 'drift repaired' : `generation ${output.generation} applied without a restart`;
        return {
          observedGeneration: output.generation,
          // The same workload runs the applied generation now.
          workload: context.workload ? { ...context.workload, generation: output.generation } : null,
          note: output.summary.length > 0 ? `${what}: ${output.summary.join('; ')}` : what,
        };
      }),
      markWorkerReturned: assign(({ context }) => ({
        workerLost: null,
        // What was unknown is known again: the worker re-adopted what still runs (the control plane verifies a
        // Running one and reports an exit), and ran what was queued for it (a stop).
        observed: context.status === 'Running' ? ('Running' as const) : context.status === 'Stopped' ? ('Stopped' as const) : context.observed,
      })),
    },
    guards: {
      wantsRunning: ({ context }) => context.desired === 'Running',
      wantsStopped: ({ context }) => context.desired === 'Stopped',
      wantsDeleted: ({ context }) => context.desired === 'Deleted',
      restartPending: ({ context }) => context.restartPending,
      isCurrentWorkload: ({ context, event }) =>
        event.type === 'workload.exited' && context.workload?.workloadId === event.workloadId,
      // Config changes are accepted until the instance is being deleted; a generation never goes back.
      acceptsConfiguration: ({ context, event }) =>
        event.type === 'instance.configure' &&
        event.generation > context.generation &&
        context.status !== 'Deleting' &&
        context.status !== 'Deleted',
      appliesWhileRunning: ({ context, event }) =>
        event.type === 'instance.configure' && event.generation > context.generation && event.update === 'auto' && context.workerLost === null,
      restartsWhileRunning: ({ context, event }) =>
        event.type === 'instance.configure' && event.generation > context.generation && event.update === 'restart',
      isCurrentDrift: ({ context, event }) =>
        event.type === 'instance.drifted' && context.workload?.workloadId === event.workloadId && context.workerLost === null,
      // Applied, and nothing else asked for meanwhile (a stop, a delete, a restart).
      appliedAndWantsRunning: ({ context, event }) =>
        'output' in event && (event.output as ApplyConfigurationOutput).outcome === 'applied' && context.desired === 'Running' && !context.restartPending,
      // …and a newer generation came while it was applied (the one applied is older than what is configured now).
      configurationBehind: ({ context, event }) =>
        context.reconfigure === 'configuration' &&
        context.desired === 'Running' &&
        !context.restartPending &&
        'output' in event &&
        (event.output as ApplyConfigurationOutput).outcome === 'applied' &&
        (event.output as { generation: number }).generation < context.generation,
      reportsDown: ({ event }) => event.type === 'observed.report' && event.status !== 'Running',
      reportsRunning: ({ event }) => event.type === 'observed.report' && event.status === 'Running',
      // Only an instance that may have a workload on the lost worker is affected by the loss.
      mayRunOnLostWorker: ({ context }) =>
        context.status !== null && (withWorkload.has(context.status) || context.workload !== null || context.observed === 'Unknown'),
      lostTooLong: ({ event }) => event.type === 'worker.lost' && event.expired === true,
      lostWorkerReturned: ({ context, event }) => event.type === 'worker.returned' && context.workerLost?.workerId === event.workerId,
    },
    delays: {
      untilStartDeadline: ({ context }) => Math.max(0, (context.startDeadline ?? deps.now()) - deps.now()),
      untilRetry: ({ context }) => Math.max(0, (context.retryAt ?? deps.now()) - deps.now()),
    },
  }).createMachine({
    id: 'instance',
    initial: 'Pending',
    context: ({ input }) => ({
      instanceId: input.instanceId,
      settings: {
        platform: input.platform,
        startTimeoutMs: input.startTimeoutMs,
        restartPolicy: input.restartPolicy,
        historyLimit: input.historyLimit ?? 32,
      },
      status: null,
      desired: 'Stopped',
      observed: 'None',
      generation: input.generation ?? 1,
      observedGeneration: null,
      workload: null,
      lastWorkerId: null,
      failure: null,
      workerLost: null,
      consecutiveFailures: 0,
      restartPending: false,
      startDeadline: null,
      retryAt: null,
      history: [],
      reconfigure: null,
      drift: null,
      note: null,
    }),
    on: {
      'instance.configure': {
        guard: 'acceptsConfiguration',
        actions: assign({ generation: ({ event }) => event.generation }),
      },
      'worker.lost': { guard: 'mayRunOnLostWorker', actions: 'markWorkerLost' },
    },
    states: {
      Pending: {
        entry: enter('Pending'),
        on: {
          'instance.recover': { actions: enter('Pending') },
          'instance.start': { target: 'Starting', actions: want('Running') },
          // Nothing exists on a platform yet: no worker needs to be asked.
          'instance.delete': { target: 'Deleted', actions: want('Deleted') },
        },
      },
      Starting: {
        entry: enter('Starting'),
        invoke: {
          id: 'startWorkload',
          src: 'startWorkload',
          input: ({ context }) => ({
            instanceId: context.instanceId,
            generation: context.generation,
            deadline: context.startDeadline ?? deps.now() + context.settings.startTimeoutMs,
            previous: context.workload,
            workerLost: context.workerLost,
          }),
          onDone: [
            {
              guard: 'wantsDeleted',
              target: 'Deleting',
              actions: assign({ workload: ({ event }) => event.output, lastWorkerId: ({ event, context }) => event.output.workerId ?? context.lastWorkerId, observed: 'Running' }),
            },
            {
              guard: 'wantsStopped',
              target: 'Stopping',
              actions: assign({ workload: ({ event }) => event.output, lastWorkerId: ({ event, context }) => event.output.workerId ?? context.lastWorkerId, observed: 'Running' }),
            },
            {
              target: 'Running',
              actions: assign({
                workload: ({ event }) => event.output,
                lastWorkerId: ({ event, context }) => event.output.workerId ?? context.lastWorkerId,
                observedGeneration: ({ event }) => event.output.generation,
                observed: 'Running',
                failure: null,
                // A start that succeeded on the lost worker (it came back) or elsewhere (replacing it): nothing unknown remains.
                workerLost: null,
                // The failure count stays until the server has run healthy for a while (see `ranHealthy`).
              }),
            },
          ],
          onError: [
            { guard: 'wantsDeleted', target: 'Deleting' },
            {
              guard: 'wantsStopped',
              target: 'Stopped',
              actions: assign({
                observed: ({ event }) => (workerLostFrom(event.error) ? 'Unknown' : 'Failed'),
                workerLost: ({ event, context }) => workerLostFrom(event.error) ?? context.workerLost,
              }),
            },
            {
              target: 'Failed',
              actions: assign({
                failure: ({ event }) => failureFrom(event.error, iso(), 'start failed: '),
                // A start whose worker was lost may have launched a server there: unknown, not failed.
                observed: ({ event }) => (workerLostFrom(event.error) ? 'Unknown' : 'Failed'),
                workerLost: ({ event, context }) => workerLostFrom(event.error) ?? context.workerLost,
                consecutiveFailures: ({ context }) => context.consecutiveFailures + 1,
              }),
            },
          ],
        },
        after: {
          untilStartDeadline: [
            { guard: 'wantsDeleted', target: 'Deleting' },
            { guard: 'wantsStopped', target: 'Stopping' },
            {
              target: 'Failed',
              actions: assign({
                failure: ({ context }) => ({
                  reason: `start failed: not running within ${context.settings.startTimeoutMs} ms`,
                  at: iso(),
                }),
                observed: 'Unknown',
                consecutiveFailures: ({ context }) => context.consecutiveFailures + 1,
              }),
            },
          ],
        },
        on: {
          'instance.recover': { target: 'Starting', reenter: true },
          'instance.start': { actions: want('Running') },
          'instance.restart': { actions: want('Running') },
          'instance.stop': { actions: want('Stopped') },
          'instance.delete': { actions: want('Deleted') },
        },
      },
      Running: {
        entry: enter('Running'),
        on: {
          'instance.recover': { actions: enter('Running') },
          // Targetless but with an action, so that `can()` accepts it: starting what runs is success.
          'instance.start': { actions: want('Running') },
          'instance.stop': { target: 'Stopping', actions: want('Stopped') },
          'instance.restart': { target: 'Stopping', actions: want('Running', true) },
          'instance.delete': { target: 'Deleting', actions: want('Deleted') },
          'worker.lost': [
            {
              guard: 'lostTooLong',
              target: 'Failed',
              actions: [
                'markWorkerLost',
                assign({
                  failure: ({ context }) => ({
                    reason: `worker ${context.workerLost?.workerId ?? '?'} lost since ${context.workerLost?.since ?? '?'}, longer than the worker-lost timeout: starting it elsewhere`,
                    at: iso(),
                  }),
                  consecutiveFailures: ({ context }) => context.consecutiveFailures + 1,
                }),
              ],
            },
            { actions: 'markWorkerLost' },
          ],
          // Taken where an instance rests; one that is mid-command when its worker returns is told again once it rests.
          'worker.returned': { guard: 'lostWorkerReturned', actions: 'markWorkerReturned' },
          'workload.exited': { guard: 'isCurrentWorkload', target: 'Failed', actions: 'recordCrash' },
          'instance.configure': [
            {
              guard: 'appliesWhileRunning',
              target: 'Reconfiguring',
              actions: assign({
                generation: ({ event }) => event.generation,
                reconfigure: 'configuration',
                note: ({ event }) => `generation ${event.generation}: applying it to the running server`,
              }),
            },
            {
              guard: 'restartsWhileRunning',
              target: 'Stopping',
              actions: [
                want('Running', true),
                assign({
                  generation: ({ event }) => event.generation,
                  note: ({ event }) => `generation ${event.generation}: restarting with it (update strategy restart)`,
                }),
              ],
            },
            // Otherwise (update strategy manual) the root's transition records the generation only.
          ],
          'instance.drifted': {
            guard: 'isCurrentDrift',
            target: 'Reconfiguring',
            actions: assign({
              reconfigure: 'drift',
              drift: ({ event }) => ({ at: iso(), differences: event.differences }),
              note: ({ event }) => `drift: ${event.differences.join('; ')}`,
            }),
          },
          'observed.report': [
            { guard: 'reportsRunning', actions: assign({ observed: 'Running' }) },
            {
              guard: 'reportsDown',
              target: 'Failed',
              actions: assign({
                failure: ({ event }) => {
                  if (event.type !== 'observed.report') throw new Error('unreachable');
                  const said = event.message ? `: ${event.message}` : '';
                  const from = event.remoteAddress !== undefined ? ` from ${event.remoteAddress}` : '';
                  const reportedBy: ReportedBy = { source: event.source, ...(event.remoteAddress !== undefined ? { remoteAddress: event.remoteAddress } : {}) };
                  return { reason: `${event.source}${from} reported ${event.status}${said}`, at: iso(), reportedBy };
                },
                observed: ({ event }) => (event.type === 'observed.report' ? event.status : 'Unknown'),
                consecutiveFailures: ({ context }) => context.consecutiveFailures + 1,
              }),
            },
          ],
        },
      },
      Reconfiguring: {
        entry: enter('Reconfiguring'),
        exit: assign({ reconfigure: null }),
        invoke: {
          id: 'applyConfiguration',
          src: 'applyConfiguration',
          input: ({ context }) => ({
            instanceId: context.instanceId,
            workload: context.workload,
            cause: context.reconfigure ?? 'configuration',
            observedGeneration: context.observedGeneration,
          }),
          onDone: [
            { guard: 'configurationBehind', target: 'Reconfiguring', reenter: true, actions: ['recordApplied', assign({ reconfigure: 'configuration' })] },
            { guard: 'appliedAndWantsRunning', target: 'Running', actions: 'recordApplied' },
            // A restart is needed, or asked for, or the instance is to stop or go: Stopping takes it on from there.
            { target: 'Stopping', actions: ['recordApplied', assign({ restartPending: ({ context }) => context.desired === 'Running' })] },
          ],
          // Only an apply that got no answer fails (its worker lost, the transport down; see applyConfiguration):
          // the server runs what it ran, as far as is known.
          onError: [
            {
              guard: 'wantsRunning',
              target: 'Running',
              actions: assign({
                workerLost: ({ event, context }) => workerLostFrom(event.error) ?? context.workerLost,
                observed: ({ event, context }) => (workerLostFrom(event.error) ? 'Unknown' : context.observed),
                note: ({ event }) => `not applied: ${event.error instanceof Error ? event.error.message : String(event.error)}`,
              }),
            },
            {
              target: 'Stopping',
              actions: assign({
                workerLost: ({ event, context }) => workerLostFrom(event.error) ?? context.workerLost,
                note: ({ event }) => `not applied: ${event.error instanceof Error ? event.error.message : String(event.error)}`,
              }),
            },
          ],
        },
        on: {
          'instance.recover': { target: 'Reconfiguring', reenter: true },
          'instance.start': { actions: assign({ desired: 'Running' }) },
          'instance.stop': { actions: want('Stopped') },
          'instance.restart': { actions: want('Running', true) },
          'instance.delete': { actions: want('Deleted') },
          'workload.exited': { guard: 'isCurrentWorkload', target: 'Failed', actions: 'recordCrash' },
          // A change made while another is applied: applied after it (auto), or a restart once it is done.
          'instance.configure': [
            { guard: 'appliesWhileRunning', actions: assign({ generation: ({ event }) => event.generation, reconfigure: 'configuration' }) },
            {
              guard: 'restartsWhileRunning',
              actions: assign({ generation: ({ event }) => event.generation, restartPending: ({ context }) => context.desired === 'Running' }),
            },
          ],
        },
      },
      Stopping: {
        entry: enter('Stopping'),
        invoke: {
          id: 'stopWorkload',
          src: 'stopWorkload',
          input: ({ context }) => ({ instanceId: context.instanceId, workload: context.workload }),
          onDone: [
            { guard: 'wantsDeleted', target: 'Deleting', actions: 'recordStopped' },
            { guard: 'restartPending', target: 'Starting', actions: 'recordStopped' },
            { target: 'Stopped', actions: { type: 'recordStopped', params: { settled: true } } },
          ],
          onError: {
            target: 'Failed',
            actions: assign({
              failure: ({ event }) => failureFrom(event.error, iso(), 'stop failed: '),
              observed: 'Unknown',
              restartPending: false,
            }),
          },
        },
        on: {
          'instance.recover': { target: 'Stopping', reenter: true },
          'instance.stop': { actions: want('Stopped') },
          'instance.start': { actions: want('Running', true) },
          'instance.restart': { actions: want('Running', true) },
          'instance.delete': { actions: want('Deleted') },
        },
      },
      Stopped: {
        entry: enter('Stopped'),
        on: {
          'instance.recover': { actions: enter('Stopped') },
          'instance.start': { target: 'Starting', actions: want('Running') },
          'instance.restart': { target: 'Starting', actions: want('Running') },
          'instance.stop': { actions: want('Stopped') },
          'instance.delete': { target: 'Deleting', actions: want('Deleted') },
          'observed.report': { guard: 'reportsDown', actions: assign({ observed: ({ event }) => (event.type === 'observed.report' ? event.status : 'Unknown') }) },
          'worker.returned': { guard: 'lostWorkerReturned', actions: 'markWorkerReturned' },
        },
      },
      Failed: {
        entry: enter('Failed'),
        after: {
          untilRetry: { guard: 'wantsRunning', target: 'Starting' },
        },
        on: {
          'instance.recover': { target: 'Failed', reenter: true },
          'instance.start': { target: 'Starting', actions: want('Running') },
          'instance.restart': { target: 'Starting', actions: want('Running') },
          // The workload may be half alive (a stop that failed, a start that timed out): ask the worker.
          'instance.stop': { target: 'Stopping', actions: want('Stopped') },
          'instance.delete': { target: 'Deleting', actions: want('Deleted') },
          'observed.report': { guard: 'reportsDown', actions: assign({ observed: ({ event }) => (event.type === 'observed.report' ? event.status : 'Unknown') }) },
          'worker.returned': { guard: 'lostWorkerReturned', actions: 'markWorkerReturned' },
        },
      },
      Deleting: {
        entry: enter('Deleting'),
        invoke: {
          id: 'removeWorkload',
          src: 'removeWorkload',
          input: ({ context }) => ({ instanceId: context.instanceId, workload: context.workload }),
          onDone: { target: 'Deleted', actions: assign({ observed: 'None', workload: null }) },
          onError: {
            target: 'Failed',
            actions: assign({ failure: ({ event }) => failureFrom(event.error, iso(), 'delete failed: '), observed: 'Unknown' }),
          },
        },
        on: {
          'instance.recover': { target: 'Deleting', reenter: true },
          'instance.delete': { actions: want('Deleted') },
        },
      },
      Deleted: {
        type: 'final',
        entry: enter('Deleted'),
      },
    },
  });
}

export type InstanceMachine = ReturnType<typeof createInstanceMachine>;
