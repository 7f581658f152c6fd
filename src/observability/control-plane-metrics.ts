/**
 * The control plane's series: what it is asked and how long that takes,
 * how instances move, how long worker commands take to come back, what the
 * reconciler finds (all counted as they happen); and, read at scrape time,
 * its instances, the workers, the command queues, lease ownership and its
 * open streams. No label carries an instance id: a fleet of thousands must
 * not make thousands of series per metric.
 */
import { Counter, Histogram } from 'prom-client';
import type { OperationId } from '../http/operations.js';
import type { PlatformView } from '../api/platform-view.js';
import type { InstanceStatus } from '../machines/instance-types.js';
import type { OwnershipView } from '../actors/ownership.js';
import type { QueueStats, WorkerPresence } from '../transport/transport.js';
import type { MetricsRegistry } from './metrics.js';

/** The operations whose requests are counted and timed (their catalog ids). */
export type LifecycleOperation = Extract<
  OperationId,
  'createInstance' | 'startInstance' | 'stopInstance' | 'restartInstance' | 'deleteInstance' | 'patchConfiguration' | 'reconcileInstance'
>;

/** What the control plane knows now, read at each scrape. */
export interface ControlPlaneState {
  /** The instances this control plane (replica) owns. */
  instances(): Iterable<{ platform: string; status: InstanceStatus; desired: string; consecutiveFailures: number }>;
  workers(): Promise<WorkerPresence[]>;
  ownership(): Promise<OwnershipView>;
  /** Command queue statistics, when the transport keeps any. */
  queues(): Promise<QueueStats[]>;
  ready(): Promise<boolean>;
  /** Each platform with its circuit breakers, as `GET /api/platforms` shows them. */
  platforms(): Promise<PlatformView[]>;
}

/** A breaker's state as a number: what an alert compares. */
const circuitLevels = { closed: 0, 'half-open': 1, open: 2 } as const;

/** Consecutive failed starts or crashes from which an instance counts as crash-looping. */
export const CRASH_LOOP_FAILURES = 3;

/** Lifecycle requests last from milliseconds (a refusal) to minutes (a start that waits for /health). */
const LIFECYCLE_BUCKETS = [0.005, 0.025, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];
const COMMAND_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

function counters(registry: MetricsRegistry['registry']) {
  const registers = [registry];
  return {
    lifecycleRequests: new Counter({
      name: 'draas_lifecycle_requests_total',
      help: 'Lifecycle requests made of this control plane (REST or library), by operation id and outcome (ok, or the problem code)',
      labelNames: ['operation', 'outcome'] as const,
      registers,
    }),
    lifecycleDuration: new Histogram({
      name: 'draas_lifecycle_request_duration_seconds',
      help: 'How long lifecycle requests took until answered, by operation id and outcome',
      labelNames: ['operation', 'outcome'] as const,
      buckets: LIFECYCLE_BUCKETS,
      registers,
    }),
    transitions: new Counter({
      name: 'draas_status_transitions_total',
      help: 'Instance status changes made by this control plane, by the status left (none: a new or rehydrated instance) and entered',
      labelNames: ['from', 'to'] as const,
      registers,
    }),
    reconciles: new Counter({
      name: 'draas_reconcile_checks_total',
      help: 'Comparisons of an instance with what runs, by outcome (in-sync, drifted, workload-gone, unwanted-workload, not-running, not-comparable, error)',
      labelNames: ['outcome'] as const,
      registers,
    }),
    commandRoundTrip: new Histogram({
      name: 'draas_command_round_trip_seconds',
      help: "Workload commands from being sent to a worker's queue to its reply, by platform, command type and outcome",
      labelNames: ['platform', 'command', 'outcome'] as const,
      buckets: COMMAND_BUCKETS,
      registers,
    }),
  };
}

/** `read`, shared by the calls made within `ms` of the one that started it (the gauges of one scrape). */
function sharedRead<T>(read: () => Promise<T>, ms = 1_000): () => Promise<T> {
  let last: { at: number; value: Promise<T> } | undefined;
  return () => {
    const now = performance.now();
    if (last === undefined || now - last.at > ms) last = { at: now, value: read() };
    return last.value;
  };
}

export class ControlPlaneMetrics {
  private readonly counters: ReturnType<typeof counters>;

  constructor(private readonly metrics: MetricsRegistry) {
    this.counters = metrics.instruments('control-plane', counters);
  }

  lifecycle(operation: LifecycleOperation, outcome: string, seconds: number): void {
    this.counters.lifecycleRequests.inc({ operation, outcome });
    this.counters.lifecycleDuration.observe({ operation, outcome }, seconds);
  }

  transition(from: InstanceStatus | null, to: InstanceStatus): void {
    this.counters.transitions.inc({ from: from ?? 'none', to });
  }

  reconciled(outcome: string): void {
    this.counters.reconciles.inc({ outcome });
  }

  commandRoundTrip(platform: string, command: string, outcome: string, seconds: number): void {
    this.counters.commandRoundTrip.observe({ platform, command, outcome }, seconds);
  }

  /** Registers the gauges read from the control plane's state at each scrape. */
  watch(live: ControlPlaneState): void {
    const m = this.metrics;
    // Several gauges read the same lease table and queues: one read of each per scrape.
    const state: ControlPlaneState = {
      instances: () => live.instances(),
      workers: () => live.workers(),
      ready: () => live.ready(),
      ownership: sharedRead(() => live.ownership()),
      queues: sharedRead(() => live.queues()),
      platforms: () => live.platforms(),
    };
    m.stateGauge('draas_ready', 'Whether this control plane serves requests (its store and transport answer): 1 or 0', [])(async () => [
      { labels: {}, value: (await state.ready()) ? 1 : 0 },
    ]);
    m.stateGauge('draas_instances', 'Instances this control plane owns, by platform and status', ['platform', 'status'])(() => {
      const counts = new Map<string, { platform: string; status: string; value: number }>();
      for (const { platform, status } of state.instances()) {
        const key = `${platform}/${status}`;
        const entry = counts.get(key) ?? { platform, status, value: 0 };
        entry.value += 1;
        counts.set(key, entry);
      }
      return [...counts.values()].map(({ platform, status, value }) => ({ labels: { platform, status }, value }));
    });
    m.stateGauge(
      'draas_instances_crash_looping',
      `Instances that should run and failed to start or crashed at least ${CRASH_LOOP_FAILURES} times in a row, by platform`,
      ['platform'],
    )(() => {
      const counts = new Map<string, number>();
      for (const { platform, desired, consecutiveFailures } of state.instances()) {
        if (desired === 'Running' && consecutiveFailures >= CRASH_LOOP_FAILURES) counts.set(platform, (counts.get(platform) ?? 0) + 1);
      }
      return [...counts].map(([platform, value]) => ({ labels: { platform }, value }));
    });
    m.stateGauge('draas_workers', 'Live platform workers (a fresh presence), by platform and whether they take commands', ['platform', 'available'])(async () => {
      const counts = new Map<string, { platform: string; available: string; value: number }>();
      for (const worker of await state.workers()) {
        const available = String(worker.available);
        const key = `${worker.platform}/${available}`;
        const entry = counts.get(key) ?? { platform: worker.platform, available, value: 0 };
        entry.value += 1;
        counts.set(key, entry);
      }
      return [...counts.values()].map(({ platform, available, value }) => ({ labels: { platform, available }, value }));
    });
    m.stateGauge('draas_shards_owned', 'Lease shards this control-plane replica owns (one shard, always, without replicas)', [])(async () => {
      const view = await state.ownership();
      return [{ labels: {}, value: view.replicas.find((replica) => replica.replicaId === view.replicaId)?.shards.length ?? 0 }];
    });
    m.stateGauge('draas_shards_unowned', 'Lease shards no replica holds now (a takeover is under way), as this replica reads the lease table', [])(async () => [
      { labels: {}, value: (await state.ownership()).unowned.length },
    ]);
    m.stateGauge('draas_replicas', 'Control-plane replicas that hold leases or beat, by whether their heartbeat is fresh', ['alive'])(async () => {
      const replicas = (await state.ownership()).replicas;
      return ['true', 'false'].map((alive) => ({ labels: { alive }, value: replicas.filter((replica) => String(replica.alive) === alive).length }));
    });
    m.stateGauge('draas_platform_available', 'Whether a platform takes commands: a live worker that is available and whose circuit is not open (1 or 0)', ['platform'])(async () =>
      (await state.platforms()).map((view) => ({ labels: { platform: view.platform }, value: view.available ? 1 : 0 })),
    );
    m.stateGauge(
      'draas_circuit_state',
      "Circuit breakers (0 closed, 1 half-open, 2 open): this replica's toward each worker (kind worker) and each worker's toward its engine (kind engine)",
      ['platform', 'kind', 'worker', 'name'],
    )(async () =>
      (await state.platforms()).flatMap((view) =>
        view.circuits.map((circuit) => ({
          labels: { platform: view.platform, kind: circuit.kind, worker: circuit.workerId, name: circuit.name },
          value: circuitLevels[circuit.status],
        })),
      ),
    );
    const queueGauge = (name: string, help: string, value: (stats: QueueStats) => number) =>
      m.stateGauge(name, help, ['platform', 'worker'])(async () =>
        (await state.queues()).map((stats) => ({ labels: { platform: stats.platform, worker: stats.workerId }, value: value(stats) })),
      );
    queueGauge('draas_command_queue_depth', "Commands in a worker's queue not yet done (waiting or being handled), by platform and worker", (stats) => stats.depth);
    queueGauge('draas_commands_pending', "Commands a worker took from its queue and has not acknowledged yet, by platform and worker", (stats) => stats.pending);
    queueGauge(
      'draas_commands_dead_lettered',
      "Commands in a worker queue's dead-letter stream (gave up after their deliveries; capped near 10 000), by platform and worker",
      (stats) => stats.deadLettered,
    );
  }

  /** Counts the open long-lived responses of one kind (`events`: SSE clients; `log-follows`: followed logs). */
  streams(kind: 'events' | 'log-follows', slots: { readonly open: number }): void {
    const gauge =
      kind === 'events'
        ? this.metrics.stateGauge('draas_event_stream_clients', 'Open GET /api/events (Server-Sent Events) streams', [])
        : this.metrics.stateGauge('draas_log_follows', 'Open GET /api/server/instances/{id}/logs?follow=true streams', []);
    gauge(() => [{ labels: {}, value: slots.open }]);
  }
}
