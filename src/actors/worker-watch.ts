/**
 * Watches worker presence for the control plane: which workers that
 * instances are placed on are alive, which are lost (presence expired, or
 * withdrawn) and since when, and which came back. The control plane turns
 * each finding into `worker.lost` / `worker.returned` events for the
 * instances placed on that worker.
 *
 * A check that cannot read presence (Redis down) finds nothing; after such a
 * check, losses are not declared for `quietMs` (the workers' presence may
 * have expired during the outage and they re-announce within a heartbeat).
 */
import { errorMessage } from '../errors.js';
import type { WorkloadClient } from './workload-client.js';
import { type Logger } from '../observability/logger.js';

export interface WorkerWatchOptions {
  workloads: WorkloadClient;
  /** How often presence is checked. */
  intervalMs: number;
  /** How long after an unreadable presence no loss is declared (default: 3 × intervalMs, at least the presence TTL). */
  quietMs: number;
  now: () => number;
  /** Workers instances are placed on (a worker never seen alive by this control plane can be lost too). */
  placedWorkers: () => Iterable<{ workerId: string; platform: string }>;
  onLost: (workerId: string, since: number) => void;
  onReturned: (workerId: string) => void;
  /** After every check (for timeouts counted from a loss). */
  onChecked: () => void;
  log: Logger;
}

export class WorkerWatch {
  /** Workers seen alive, and their platform. */
  private readonly known = new Map<string, string>();
  private timer: NodeJS.Timeout | undefined;
  private checking: Promise<void> | undefined;
  private quietUntil = 0;

  constructor(private readonly options: WorkerWatchOptions) {}

  start(): void {
    this.timer ??= setInterval(() => void this.check(), this.options.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** A worker said it withdraws: lost at once, without waiting for its presence to go. */
  withdrawn(workerId: string, platform: string): void {
    if (this.options.workloads.lostSince(workerId) !== undefined) return;
    const since = this.options.workloads.markLost(workerId, platform, { withdrawn: true });
    this.options.log.info(`worker ${workerId} (${platform}) withdrew`, { workerId });
    this.options.onLost(workerId, since);
  }

  /** One presence check; never overlaps itself. */
  check(): Promise<void> {
    this.checking ??= this.checkOnce().finally(() => {
      this.checking = undefined;
    });
    return this.checking;
  }

  private async checkOnce(): Promise<void> {
    const { workloads, now } = this.options;
    let live;
    try {
      live = await workloads.liveWorkers();
    } catch (error) {
      this.quietUntil = now() + this.options.quietMs;
      this.options.log.warn(`worker presence unreadable (${errorMessage(error)}); no worker is declared lost for ${this.options.quietMs} ms`);
      return;
    }
    const alive = new Set(live.map((worker) => worker.workerId));
    for (const worker of live) {
      this.known.set(worker.workerId, worker.platform);
      if (workloads.lostSince(worker.workerId) !== undefined) {
        workloads.markReturned(worker.workerId);
        this.options.log.info(`worker ${worker.workerId} (${worker.platform}) is back`, { workerId: worker.workerId });
        this.options.onReturned(worker.workerId);
      }
    }
    if (now() >= this.quietUntil) {
      const candidates = new Map(this.known);
      for (const { workerId, platform } of this.options.placedWorkers()) candidates.set(workerId, platform);
      for (const [workerId, platform] of candidates) {
        if (alive.has(workerId) || workloads.lostSince(workerId) !== undefined) continue;
        const since = workloads.markLost(workerId, platform);
        this.options.log.warn(`worker ${workerId} (${platform}) is lost: its presence expired`, { workerId });
        this.options.onLost(workerId, since);
      }
    }
    this.options.onChecked();
  }
}
