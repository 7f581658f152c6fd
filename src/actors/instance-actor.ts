/**
 * One running instance actor: the XState actor of the lifecycle machine plus
 * the request/reply plumbing the HTTP layer and the library API use. Nothing
 * else changes an instance's status: callers send events and await replies.
 */
import { createActor, type Actor } from 'xstate';
import { ConflictError, WorkerTimeoutError } from '../errors.js';
import type {
  InstanceContext,
  InstanceInput,
  InstanceObservationEvent,
  InstanceRequestEvent,
  InstanceStatus,
} from '../machines/instance-types.js';
import type { InstanceMachine } from '../machines/instance.js';
import type { RestorableSnapshot } from '../machines/instance-snapshot.js';
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
  /** Called after every change; `persisted()` yields the snapshot to save (call it when writing). */
  onSnapshot?: (persisted: () => unknown) => void;
  /** Called once per state change, after the change. */
  onTransition: (transition: StatusTransition) => void;
  onError: (error: unknown) => void;
}

export interface RequestWaitOptions {
  timeoutMs: number;
  signal?: AbortSignal;
}

export class InstanceActor {
  readonly id: string;
  private readonly actor: Actor<InstanceMachine>;
  private lastStatus: InstanceStatus;
  private readonly waiters = new Set<(view: SnapshotView) => void>();
  /** The last request the machine accepted: a request whose wish changes after it was superseded by this one. */
  private latestRequest: LatestRequest;

  constructor(options: InstanceActorOptions) {
    this.id = options.input.instanceId;
    this.actor = createActor(options.machine, {
      input: options.input,
      ...(options.snapshot ? { snapshot: options.snapshot } : {}),
    });
    this.lastStatus = options.snapshot?.value ?? 'Pending';
    this.actor.subscribe({
      next: (snapshot) => {
        const view = this.viewOf(snapshot.value as InstanceStatus, snapshot.context);
        if (view.status !== this.lastStatus) {
          const from = this.lastStatus;
          this.lastStatus = view.status;
          options.onTransition({ instanceId: this.id, from, to: view.status, context: view.context });
        }
        for (const waiter of [...this.waiters]) waiter(view);
        options.onSnapshot?.(this.persisted);
      },
      // An unhandled actor error would otherwise be re-thrown later and kill the process.
      error: (error) => options.onError(error),
    });
    this.actor.start();
    if (!options.snapshot) {
      // The initial Pending entry happened before we subscribed.
      options.onTransition({ instanceId: this.id, from: null, to: 'Pending', context: this.actor.getSnapshot().context });
      options.onSnapshot?.(this.persisted);
    }
  }

  private readonly persisted = () => this.actor.getPersistedSnapshot();

  /** After a restore: re-enters a state whose command or deadline was in flight. */
  recover(): void {
    this.actor.send({ type: 'instance.recover' });
  }

  private viewOf(status: InstanceStatus, context: InstanceContext): SnapshotView {
    return { status, context };
  }

  get view(): SnapshotView {
    const snapshot = this.actor.getSnapshot();
    return this.viewOf(snapshot.value as InstanceStatus, snapshot.context);
  }

  /** Whether the machine accepts the event in its current state. */
  can(event: InstanceRequestEvent | InstanceObservationEvent): boolean {
    return this.actor.getSnapshot().can(event);
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
      const finish = () => {
        this.waiters.delete(waiter);
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
      this.waiters.add(waiter);
      // Before the send: the waiters of earlier requests see this event's snapshot during it.
      this.latestRequest = event.type;
      this.actor.send(event);
      // The event may already have settled the request (e.g. start while Running).
      if (this.waiters.has(waiter)) waiter(this.view);
    });
  }

  /** Delivers a platform observation; returns whether the machine accepted it. */
  observe(event: InstanceObservationEvent): boolean {
    if (!this.can(event)) return false;
    this.actor.send(event);
    return true;
  }

  stop(): void {
    this.actor.stop();
  }
}
