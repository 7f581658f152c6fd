/**
 * One running instance actor: the XState actor of the lifecycle machine plus
 * the request/reply plumbing the HTTP layer and the library API use. Nothing
 * else changes an instance's status: callers send events and await replies.
 */
import { createActor, type Actor, type Subscription } from 'xstate';
import { ConflictError, DraasError, WorkerTimeoutError } from '../errors.js';
import type {
  InstanceContext,
  InstanceEvent,
  InstanceInput,
  InstanceObservationEvent,
  InstanceRequestEvent,
  InstanceStatus,
} from '../machines/instance-types.js';
import type { InstanceMachine } from '../machines/instance.js';
import { restingStateOf, type RestorableSnapshot } from '../machines/instance-snapshot.js';
import { machineSnapshotOf, stepAtRest, type InstanceMachineSnapshot } from './resting-step.js';
import { settlementFor, type LatestRequest, type SnapshotView } from './request-settlement.js';

export interface StatusTransition {
  instanceId: string;
  from: InstanceStatus | null;
  to: InstanceStatus;
  context: InstanceContext;
}

export interface InstanceActorOptions {
  machine: InstanceMachine;
  input: InstanceInput;
  /** Restores the actor from a persisted snapshot instead of starting it Pending. */
  snapshot?: RestorableSnapshot;
  /** Called after every change; `actor.persistedSnapshot()` yields the snapshot to save (call it when writing). */
  onSnapshot?: (actor: InstanceActor) => void;
  /** Called once per state change, after the change. */
  onTransition: (transition: StatusTransition) => void;
  onError: (error: unknown, actor: InstanceActor) => void;
}

export interface RequestWaitOptions {
  timeoutMs: number;
  signal?: AbortSignal;
}

/** An actor's state while it rests: XState's persisted snapshot (plain data), its context compacted. */
type RestingState = RestorableSnapshot;

/**
 * When idle actors are put to rest. An instance that is being worked on
 * (a lifecycle: create, start, stop, delete in quick succession) keeps its
 * XState actor between events — making it again for every event costs more
 * than the actor — so an idle actor rests once it has been idle for
 * `IDLE_MS`, checked by one timer for all of them. So that a fleet created
 * or touched in a burst never holds many live actors, no more than
 * `MAX_AWAKE` idle ones stay awake: beyond that the longest idle rest at
 * once (after the current synchronous work, in one microtask).
 */
const IDLE_MS = 1_000;
const MAX_AWAKE = 128;

class RestScheduler {
  /** Idle awake actors, longest idle first (a rescheduled actor moves to the end), with when each became idle. */
  private readonly idle = new Map<InstanceActor, number>();
  private timer: NodeJS.Timeout | undefined;
  private trimming = false;

  schedule(actor: InstanceActor): void {
    this.idle.delete(actor);
    this.idle.set(actor, performance.now());
    this.timer ??= setTimeout(() => this.sweep(), IDLE_MS).unref();
    if (this.idle.size > MAX_AWAKE && !this.trimming) {
      this.trimming = true;
      queueMicrotask(() => this.trim());
    }
  }

  private trim(): void {
    this.trimming = false;
    for (const actor of this.idle.keys()) {
      if (this.idle.size <= MAX_AWAKE) break;
      this.idle.delete(actor);
      actor.rest();
    }
  }

  private sweep(): void {
    this.timer = undefined;
    const now = performance.now();
    for (const [actor, since] of this.idle) {
      const left = since + IDLE_MS - now;
      if (left > 0) {
        this.timer = setTimeout(() => this.sweep(), left).unref();
        return;
      }
      this.idle.delete(actor);
      actor.rest();
    }
  }

  /** Rests every idle actor now (tests, and whoever needs the memory back at once). */
  restAll(): void {
    for (const actor of [...this.idle.keys()]) {
      this.idle.delete(actor);
      actor.rest();
    }
  }
}

export const restScheduler = new RestScheduler();

/** The states of `machine` with nothing in flight: no invoked side effect, no delayed transition. */
const restingStatesOf = new WeakMap<InstanceMachine, ReadonlySet<string>>();

function restingStates(machine: InstanceMachine): ReadonlySet<string> {
  let states = restingStatesOf.get(machine);
  if (!states) {
    states = new Set(
      Object.entries(machine.root.states)
        .filter(([, node]) => node.type === 'atomic' && node.invoke.length === 0 && node.after.length === 0)
        .map(([name]) => name),
    );
    restingStatesOf.set(machine, states);
  }
  return states;
}

/**
 * Memory: most instances are idle (Pending, Running, Stopped: no side effect
 * or timer in flight). An idle instance keeps no XState actor — only its
 * state as plain data (`resting`); the first event that needs the machine
 * makes the XState actor again from that state (XState restores without
 * running entry actions, exactly as after a restart), and once the actor is
 * idle again it is put back to rest. Nothing observable changes: the same
 * snapshots, transitions and saves happen; an idle actor costs a fraction of
 * a live one (its actor system, mailbox and closures are gone).
 */
export class InstanceActor {
  readonly id: string;
  private readonly machine: InstanceMachine;
  private readonly onSnapshot: ((actor: InstanceActor) => void) | undefined;
  private readonly onTransition: (transition: StatusTransition) => void;
  private readonly onError: (error: unknown, actor: InstanceActor) => void;
  /** The XState actor while the instance is not at rest. */
  private actor: Actor<InstanceMachine> | undefined;
  private subscription: Subscription | undefined;
  /** The state while at rest (no XState actor). Exactly one of `actor` and `resting` is set until `stop`. */
  private resting: RestingState | undefined;
  private stopped = false;
  /** A step taken at rest is being reported (`deliver`); events sent meanwhile wait in `queued`. */
  private stepping = false;
  private queued: InstanceEvent[] | undefined;
  private lastStatus: InstanceStatus;
  /** Requests waiting for their answer, each with how to give it up; made with the first one. */
  private waiters: Map<(view: SnapshotView) => void, (error: Error) => void> | undefined;
  /** The last request the machine accepted: a request whose wish changes after it was superseded by this one. */
  private latestRequest: LatestRequest;

  constructor(options: InstanceActorOptions) {
    this.id = options.input.instanceId;
    this.machine = options.machine;
    this.onSnapshot = options.onSnapshot;
    this.onTransition = options.onTransition;
    this.onError = options.onError;
    const { snapshot } = options;
    this.lastStatus = snapshot?.value ?? 'Pending';
    if (snapshot && this.canRest(snapshot)) {
      // Restored idle: no XState actor until an event needs one.
      this.resting = restingStateOf(snapshot);
      return;
    }
    const actor = createActor(options.machine, { input: options.input, ...(snapshot ? { snapshot } : {}) });
    this.attach(actor);
    actor.start();
    if (!snapshot) {
      // The initial Pending entry happened before we subscribed.
      options.onTransition({ instanceId: this.id, from: null, to: 'Pending', context: actor.getSnapshot().context });
      this.onSnapshot?.(this);
      restScheduler.schedule(this);
    }
  }

  private attach(actor: Actor<InstanceMachine>): void {
    this.actor = actor;
    this.subscription = actor.subscribe({
      next: (snapshot) => this.emitted(snapshot),
      // An unhandled actor error would otherwise be re-thrown later and kill the process.
      error: (error) => this.onError(error, this),
    });
  }

  /** What an XState actor's subscriber does with each snapshot (also run for a step taken at rest). */
  private emitted(snapshot: InstanceMachineSnapshot): void {
    const view = this.viewOf(snapshot.value as InstanceStatus, snapshot.context);
    if (view.status !== this.lastStatus) {
      const from = this.lastStatus;
      this.lastStatus = view.status;
      this.onTransition({ instanceId: this.id, from, to: view.status, context: view.context });
    }
    if (this.waiters) for (const waiter of [...this.waiters.keys()]) waiter(view);
    this.onSnapshot?.(this);
    if (this.actor && this.canRest(snapshot)) restScheduler.schedule(this);
  }

  /**
   * Sends an event: at rest, taken there when the step is pure data and ends
   * at rest (`resting-step.ts`), else by the XState actor, made for it.
   */
  private deliver(event: InstanceEvent): void {
    if (this.stepping) {
      // Sent while this actor's step is being reported: after it, as an XState mailbox would.
      (this.queued ??= []).push(event);
      return;
    }
    const resting = this.resting;
    const next = resting && !this.stopped ? stepAtRest(this.machine, resting, event, (snapshot) => this.canRest(snapshot)) : undefined;
    if (!next) {
      this.live().send(event);
      return;
    }
    this.resting = restingStateOf(next);
    this.stepping = true;
    try {
      this.emitted(next);
    } finally {
      this.stepping = false;
    }
    const queued = this.queued;
    this.queued = undefined;
    for (const later of queued ?? []) this.deliver(later);
  }

  /** The XState actor, made again from the resting state when the instance rests. */
  private live(): Actor<InstanceMachine> {
    if (this.actor) return this.actor;
    const resting = this.resting as RestingState;
    // The input only seeds a fresh actor; a restored one takes its context from the snapshot (the same facts).
    const { instanceId, generation, settings } = resting.context;
    const actor = createActor(this.machine, { snapshot: resting, input: { instanceId, generation, ...settings } });
    // Stopped for good: an actor never started answers `can`, and what is sent to it is never processed.
    if (this.stopped) return actor;
    actor.start();
    // Subscribed after the start: the start re-emits the resting state, which is no change.
    this.attach(actor);
    this.resting = undefined;
    restScheduler.schedule(this);
    return actor;
  }

  /** Whether nothing is in flight in this state: no invoked side effect, no timer, not stopped or failed. */
  private canRest(snapshot: { status: string; value: unknown; children: object }): boolean {
    return snapshot.status === 'active' && restingStates(this.machine).has(snapshot.value as string) && Object.keys(snapshot.children).length === 0;
  }

  /** Drops the XState actor if the instance is idle (see the class comment). Called by the rest scheduler. */
  rest(): void {
    const actor = this.actor;
    if (!actor || this.stopped || !this.canRest(actor.getSnapshot())) return;
    this.resting = restingStateOf(actor.getSnapshot());
    this.subscription?.unsubscribe();
    this.subscription = undefined;
    this.actor = undefined;
    actor.stop();
  }

  /** Whether the instance rests (holds no XState actor; see the class comment). */
  get atRest(): boolean {
    return this.resting !== undefined;
  }

  /** The persisted form of the current state (XState's `getPersistedSnapshot`), for the snapshot writer. */
  persistedSnapshot(): unknown {
    return this.actor ? this.actor.getPersistedSnapshot() : this.resting;
  }

  /** After a restore: re-enters a state whose command or deadline was in flight. */
  recover(): void {
    this.deliver({ type: 'instance.recover' });
  }

  private viewOf(status: InstanceStatus, context: InstanceContext): SnapshotView {
    return { status, context };
  }

  get view(): SnapshotView {
    if (this.resting) return this.viewOf(this.resting.value, this.resting.context);
    const snapshot = (this.actor as Actor<InstanceMachine>).getSnapshot();
    return this.viewOf(snapshot.value as InstanceStatus, snapshot.context);
  }

  /** Whether the machine accepts the event in its current state. */
  can(event: InstanceRequestEvent | InstanceObservationEvent): boolean {
    return this.resting ? machineSnapshotOf(this.machine, this.resting).can(event) : (this.actor as Actor<InstanceMachine>).getSnapshot().can(event);
  }

  /**
   * Sends a request and resolves with the snapshot that answers it. Refused
   * in the current state → ConflictError naming the state.
   */
  request(event: InstanceRequestEvent, options: RequestWaitOptions): Promise<SnapshotView> {
    if (!this.can(event)) {
      const state = this.view.status;
      return Promise.reject(
        new ConflictError(`cannot ${event.type.replace('instance.', '')} instance "${this.id}" while it is ${state}`, { state }),
      );
    }
    const settle = settlementFor(event);
    return new Promise<SnapshotView>((resolve, reject) => {
      const waiters = (this.waiters ??= new Map());
      const finish = () => {
        waiters.delete(waiter);
        clearTimeout(timer);
        options.signal?.removeEventListener('abort', onAbort);
      };
      const waiter = (view: SnapshotView) => {
        const outcome = settle(view, this.latestRequest);
        if (!outcome) return;
        finish();
        if (outcome.ok) resolve(view);
        else reject(outcome.error);
      };
      const timer = setTimeout(() => {
        finish();
        reject(new WorkerTimeoutError(`instance ${this.id}`, options.timeoutMs));
      }, options.timeoutMs);
      const onAbort = () => {
        finish();
        reject(options.signal?.reason ?? new Error('aborted'));
      };
      options.signal?.addEventListener('abort', onAbort, { once: true });
      waiters.set(waiter, (error: Error) => {
        finish();
        reject(error);
      });
      // Before the send: the waiters of earlier requests see this event's snapshot during it.
      this.latestRequest = event.type;
      this.deliver(event);
      // The event may already have settled the request (e.g. start while Running).
      if (waiters.has(waiter)) waiter(this.view);
    });
  }

  /** Delivers a platform observation; returns whether the machine accepted it. */
  observe(event: InstanceObservationEvent): boolean {
    if (!this.can(event)) return false;
    this.deliver(event);
    return true;
  }

  /**
   * Stops acting (the control plane closes, or the instance is deleted or no
   * longer owned here). A request still waiting is answered now with a
   * retryable 503 rather than at its timeout: nothing here will settle it.
   */
  stop(): void {
    // A request the last state answers gets that answer (a delete stops its actor on reaching Deleted).
    const last = this.waiters?.size ? this.view : undefined;
    this.stopped = true;
    this.actor?.stop();
    if (!this.waiters || !last) return;
    for (const waiter of [...this.waiters.keys()]) waiter(last);
    const stopped = new DraasError('unavailable', `instance ${this.id}: this control plane stopped acting for it before the request was answered; retry`);
    for (const abandon of [...this.waiters.values()]) abandon(stopped);
  }
}
