/**
 * A platform worker's series: the commands it handles (by type and outcome)
 * and how long its driver takes with them, the exits its driver observes,
 * and, read at scrape time, the workloads it runs and whether it takes
 * commands. Labelled by platform (a process may run a worker per platform),
 * never by instance.
 */
import { Counter, Histogram } from 'prom-client';
import type { MetricsRegistry } from './metrics.js';

/** Driver calls range from a process spawn (milliseconds) to a Kubernetes rollout waiting for a pod (minutes). */
const DRIVER_BUCKETS = [0.001, 0.005, 0.025, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];

function instruments(registry: MetricsRegistry['registry']) {
  const registers = [registry];
  return {
    commands: new Counter({
      name: 'draas_worker_commands_total',
      help: 'Workload commands this worker handled, by platform, command type and outcome (ok, or the problem code; internal: a crash)',
      labelNames: ['platform', 'command', 'outcome'] as const,
      registers,
    }),
    duration: new Histogram({
      name: 'draas_driver_call_duration_seconds',
      help: "How long the platform driver took with a workload command, by platform, command type and outcome",
      labelNames: ['platform', 'command', 'outcome'] as const,
      buckets: DRIVER_BUCKETS,
      registers,
    }),
    exits: new Counter({
      name: 'draas_worker_workload_exits_total',
      help: 'Workloads this worker saw exit, by platform and whether the exit was asked for (a stop) or not (a crash)',
      labelNames: ['platform', 'requested'] as const,
      registers,
    }),
  };
}

/** What a worker knows now, read at each scrape. */
export interface WorkerState {
  platform: string;
  /** Workloads the driver runs (as of the last heartbeat). */
  workloads(): number;
  /** Whether it takes commands (its platform answers). */
  available(): boolean;
}

export class WorkerMetrics {
  private readonly instruments: ReturnType<typeof instruments>;

  constructor(private readonly metrics: MetricsRegistry) {
    this.instruments = metrics.instruments('worker', instruments);
  }

  handled(platform: string, command: string, outcome: string, seconds: number): void {
    this.instruments.commands.inc({ platform, command, outcome });
    this.instruments.duration.observe({ platform, command, outcome }, seconds);
  }

  exited(platform: string, requested: boolean): void {
    this.instruments.exits.inc({ platform, requested: String(requested) });
  }

  watch(worker: WorkerState): void {
    this.metrics.stateGauge('draas_worker_workloads', 'Workloads the workers of this process run, by platform (as of their last heartbeat)', ['platform'])(() => [
      { labels: { platform: worker.platform }, value: worker.workloads() },
    ]);
    this.metrics.stateGauge('draas_worker_available', 'Workers of this process that take commands (their platform answers), by platform', ['platform'])(() => [
      { labels: { platform: worker.platform }, value: worker.available() ? 1 : 0 },
    ]);
  }
}
