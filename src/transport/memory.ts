/**
 * The in-memory transport: one process, no persistence. Requests go to the
 * queue's consumers round-robin (exactly one handles each); a request made
 * while no consumer listens waits for one until its timeout, as it would on a
 * durable queue.
 */
import { WorkerTimeoutError } from '../errors.js';
import { deserializeError, serializeError, type CommandEnvelope, type EventEnvelope } from './envelope.js';
import type {
  Closeable,
  CommandHandler,
  ConsumeOptions,
  EventListener,
  PresenceRegistry,
  QueueStats,
  RequestOptions,
  Transport,
  WorkerPresence,
} from './transport.js';
import { queues } from './transport.js';

interface Pending {
  command: CommandEnvelope;
  settle: (outcome: { ok: true; result: unknown } | { ok: false; error: unknown }) => void;
}

class MemoryQueue {
  readonly consumers: CommandHandler[] = [];
  readonly backlog: Pending[] = [];
  /** Commands a handler runs now. */
  running = 0;
  private next = 0;

  dispatch(pending: Pending): void {
    if (this.consumers.length === 0) {
      this.backlog.push(pending);
      return;
    }
    const handler = this.consumers[this.next++ % this.consumers.length]!;
    // Run outside the caller's stack, as a remote consumer would.
    this.running += 1;
    queueMicrotask(() => {
      handler(pending.command)
        .finally(() => {
          this.running -= 1;
        })
        .then(
          (result) => pending.settle({ ok: true, result }),
          (error: unknown) => pending.settle({ ok: false, error }),
        );
    });
  }

  drain(): void {
    for (const pending of this.backlog.splice(0)) this.dispatch(pending);
  }
}

export class MemoryPresence implements PresenceRegistry {
  private readonly workers = new Map<string, { presence: WorkerPresence; expiresAt: number }>();
  constructor(private readonly now: () => number = Date.now) {}

  async announce(presence: Omit<WorkerPresence, 'lastSeen'>, ttlMs: number): Promise<void> {
    const now = this.now();
    this.workers.set(`${presence.platform}/${presence.workerId}`, {
      presence: { ...presence, lastSeen: new Date(now).toISOString() },
      expiresAt: now + ttlMs,
    });
  }

  async withdraw(platform: string, workerId: string): Promise<void> {
    this.workers.delete(`${platform}/${workerId}`);
  }

  async live(platform?: string): Promise<WorkerPresence[]> {
    const now = this.now();
    const result: WorkerPresence[] = [];
    for (const [key, entry] of this.workers) {
      if (entry.expiresAt <= now) {
        this.workers.delete(key);
        continue;
      }
      if (platform === undefined || entry.presence.platform === platform) result.push(entry.presence);
    }
    return result;
  }
}

export class MemoryTransport implements Transport {
  readonly presence: MemoryPresence;
  private readonly queues = new Map<string, MemoryQueue>();
  private readonly listeners = new Map<string, Set<EventListener>>();
  private closed = false;

  constructor(options: { now?: () => number } = {}) {
    this.presence = new MemoryPresence(options.now);
  }

  private queue(name: string): MemoryQueue {
    let queue = this.queues.get(name);
    if (!queue) {
      queue = new MemoryQueue();
      this.queues.set(name, queue);
    }
    return queue;
  }

  request(queueName: string, command: CommandEnvelope, options: RequestOptions): Promise<unknown> {
    if (this.closed) return Promise.reject(new Error('transport is closed'));
    // A promise-returning method rejects; it never throws synchronously.
    if (options.signal?.aborted) return Promise.reject(options.signal.reason);
    return new Promise((resolve, reject) => {
      let done = false;
      const finish = () => {
        done = true;
        clearTimeout(timer);
        options.signal?.removeEventListener('abort', onAbort);
      };
      const timer = setTimeout(() => {
        if (done) return;
        finish();
        reject(new WorkerTimeoutError(queueName, options.timeoutMs));
      }, options.timeoutMs);
      const onAbort = () => {
        if (done) return;
        finish();
        reject(options.signal?.reason ?? new Error('aborted'));
      };
      options.signal?.addEventListener('abort', onAbort, { once: true });
      this.queue(queueName).dispatch({
        // A copy, so that neither side can mutate what the other holds (as over a wire).
        command: structuredClone(command),
        settle: (outcome) => {
          if (done) return; // a late reply is dropped
          finish();
          if (outcome.ok) resolve(structuredClone(outcome.result));
          else reject(deserializeError(serializeError(outcome.error)));
        },
      });
    });
  }

  async send(queueName: string, command: CommandEnvelope): Promise<void> {
    if (this.closed) throw new Error('transport is closed');
    this.queue(queueName).dispatch({ command: structuredClone(command), settle: () => undefined });
  }

  /** Nothing outlives this process, so `redeliver` has nothing to decide here. */
  async consume(queueName: string, handler: CommandHandler, _options?: ConsumeOptions): Promise<Closeable> {
    const queue = this.queue(queueName);
    queue.consumers.push(handler);
    queue.drain();
    let closed = false;
    return {
      close: async () => {
        if (closed) return;
        closed = true;
        const index = queue.consumers.indexOf(handler);
        if (index >= 0) queue.consumers.splice(index, 1);
      },
    };
  }

  async publish(topic: string, event: EventEnvelope): Promise<void> {
    for (const listener of this.listeners.get(topic) ?? []) {
      try {
        listener(structuredClone(event));
      } catch {
        // A failing subscriber must not break the publisher or other subscribers.
      }
    }
  }

  async subscribe(topic: string, listener: EventListener): Promise<Closeable> {
    let set = this.listeners.get(topic);
    if (!set) {
      set = new Set();
      this.listeners.set(topic, set);
    }
    const wrapped: EventListener = (event) => listener(event);
    set.add(wrapped);
    return {
      close: async () => {
        set.delete(wrapped);
      },
    };
  }

  async healthy(): Promise<boolean> {
    return !this.closed;
  }

  /** Nothing is dead-lettered in memory: a crashed handler is answered with a `worker-error` at once. */
  async queueStats(): Promise<QueueStats[]> {
    const stats: QueueStats[] = [];
    for (const [name, queue] of this.queues) {
      const worker = queues.workerOf(name);
      if (worker) stats.push({ ...worker, depth: queue.backlog.length + queue.running, pending: queue.running, deadLettered: 0 });
    }
    return stats;
  }

  async close(): Promise<void> {
    this.closed = true;
    this.listeners.clear();
  }
}
