/**
 * Watches the replicas that forwarded calls are waiting on, so that a call
 * whose owner died is answered when the death shows (its heartbeat lapsed),
 * not when the call times out. One read of the live replicas per interval,
 * however many calls wait; none while nothing waits.
 *
 * Deliberately left out: judging liveness itself (the heartbeats are
 * ownership's, see leased-ownership.ts). While the live list cannot be read
 * (Redis down), nobody is declared dead: the call's own timeout applies.
 */
export class ReplicaLiveness {
  private readonly waiting = new Map<string, Set<() => void>>();
  private timer: NodeJS.Timeout | undefined;
  private polling = false;

  /** `liveReplicas` lists the replicas alive now; it is read every `everyMs` while anything is watched. */
  constructor(
    private readonly liveReplicas: () => Promise<string[]>,
    private readonly everyMs: number,
  ) {}

  /** Calls `onDead` once, when `replicaId` is seen not alive. Returns the function that stops watching. */
  watch(replicaId: string, onDead: () => void): () => void {
    let listeners = this.waiting.get(replicaId);
    if (!listeners) this.waiting.set(replicaId, (listeners = new Set()));
    listeners.add(onDead);
    if (!this.timer) {
      this.timer = setInterval(() => void this.poll(), this.everyMs);
      this.timer.unref();
    }
    return () => {
      listeners.delete(onDead);
      if (listeners.size === 0 && this.waiting.get(replicaId) === listeners) this.waiting.delete(replicaId);
      this.stopWhenIdle();
    };
  }

  private async poll(): Promise<void> {
    if (this.polling) return;
    this.polling = true;
    try {
      const live = new Set(await this.liveReplicas());
      for (const [replicaId, listeners] of [...this.waiting]) {
        if (live.has(replicaId)) continue;
        this.waiting.delete(replicaId);
        for (const onDead of listeners) onDead();
      }
    } catch {
      // Unknown is not dead: see the module comment.
    } finally {
      this.polling = false;
      this.stopWhenIdle();
    }
  }

  private stopWhenIdle(): void {
    if (this.waiting.size > 0 || !this.timer) return;
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Stops polling; whatever waits is left to its own timeout. Idempotent. */
  close(): void {
    this.waiting.clear();
    this.stopWhenIdle();
  }
}
