/**
 * Per-key ordering of file operations: the operations of one key (an
 * instance id) run one after another in call order, different keys run
 * concurrently. A queued operation that has not started yet and replaces the
 * same single file as a newer one is superseded by it (both callers settle
 * with the newer write): the file ends with the newest content either way,
 * with one write instead of many during a burst.
 *
 * At most `concurrency` steps run at once across all keys: a burst of writes
 * to thousands of ids must not open thousands of file descriptors (EMFILE
 * under the common limit of 1,024).
 */

/** Replace `path` with `content`, or remove it when `content` is null. */
export interface FileStep {
  path: string;
  content: string | null;
}

interface QueuedOperation {
  steps: FileStep[];
  started: boolean;
  promise: Promise<void>;
  resolve: () => void;
  reject: (error: unknown) => void;
}

export class KeyedFileQueue {
  private readonly queues = new Map<string, QueuedOperation[]>();
  private readonly drains = new Map<string, Promise<void>>();

  private running = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(
    private readonly perform: (step: FileStep) => Promise<void>,
    private readonly concurrency = 64,
  ) {}

  private async limited(step: FileStep): Promise<void> {
    if (this.running >= this.concurrency) await new Promise<void>((resolve) => this.waiting.push(resolve));
    else this.running++;
    try {
      await this.perform(step);
    } finally {
      // Hand the slot straight to the next waiter (the count stays), or free it.
      const next = this.waiting.shift();
      if (next) next();
      else this.running--;
    }
  }

  /** Runs `steps` in order after the key's earlier operations; stops at the first failing step. */
  enqueue(key: string, steps: FileStep[]): Promise<void> {
    let queue = this.queues.get(key);
    if (!queue) {
      queue = [];
      this.queues.set(key, queue);
    }
    const last = queue.at(-1);
    const only = steps.length === 1 ? steps[0] : undefined;
    if (only && last && !last.started && last.steps.length === 1 && last.steps[0]?.path === only.path) {
      last.steps = [only];
      return last.promise;
    }
    let resolve!: () => void;
    let reject!: (error: unknown) => void;
    const promise = new Promise<void>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    queue.push({ steps, started: false, promise, resolve, reject });
    if (!this.drains.has(key)) this.drains.set(key, this.drain(key, queue));
    return promise;
  }

  private async drain(key: string, queue: QueuedOperation[]): Promise<void> {
    for (let operation = queue[0]; operation; operation = queue[0]) {
      operation.started = true;
      try {
        for (const step of operation.steps) await this.limited(step);
        operation.resolve();
      } catch (error) {
        operation.reject(error);
      }
      queue.shift();
    }
    // Synchronous with the emptiness check above: no enqueue can slip in between.
    this.queues.delete(key);
    this.drains.delete(key);
  }

  /** Whether the key has operations queued or running. */
  busy(key: string): boolean {
    return this.drains.has(key);
  }

  /** Resolves once the key's queue has drained (never rejects). */
  settled(key: string): Promise<void> {
    return this.drains.get(key) ?? Promise.resolve();
  }

  /** Resolves once every operation queued before the call has finished. */
  async flushed(): Promise<void> {
    await Promise.all(this.drains.values());
  }

  /** Resolves once no key has work (keeps waiting while new work arrives). */
  async idle(): Promise<void> {
    while (this.drains.size > 0) await Promise.all(this.drains.values());
  }
}
