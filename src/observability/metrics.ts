/**
 * Prometheus metrics (prom-client): one `MetricsRegistry` per control plane
 * or worker, never prom-client's global registry, so that several control
 * planes in one process (tests, a program that embeds two) each count their
 * own. What belongs to the process — Node's own metrics (memory, event loop,
 * GC, file descriptors) and the Redis connection errors, which every
 * connection of the process counts — is one process-wide registry that every
 * scrape adds once.
 *
 * Two kinds of series:
 * - counters and histograms, updated on the hot path (a label lookup and an
 *   add); their labels are bounded sets (operation ids, error codes,
 *   statuses, platforms, command types), never an instance id;
 * - state gauges (`stateGauge`), computed at scrape time from what the
 *   control plane, transport and workers already know, each read bounded by
 *   `SCRAPE_READ_TIMEOUT_MS` (a Redis that does not answer leaves that gauge's
 *   samples out of the scrape — a gauge without labels reads 0, as
 *   prom-client always writes one — and counts a
 *   `draas_metrics_read_failures_total`).
 */
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import { DraasError } from '../errors.js';
import { within } from '../time-bounds.js';

/** `text/plain; version=0.0.4; charset=utf-8`: the Prometheus text exposition format. */
export const METRICS_CONTENT_TYPE = Registry.PROMETHEUS_CONTENT_TYPE;

/** How long one state gauge may take to read its source during a scrape. */
export const SCRAPE_READ_TIMEOUT_MS = 2_000;

/** One sample of a state gauge: its labels and value. */
export interface Sample<L extends string> {
  labels: Partial<Record<L, string>>;
  value: number;
}

/** Where a state gauge's samples come from (read at each scrape). */
export type SampleSource<L extends string> = () => Promise<Sample<L>[]> | Sample<L>[];

interface ProcessInstruments {
  registry: Registry;
  redisErrors: Counter<'connection'>;
}

let processInstruments: ProcessInstruments | undefined;

/** The process-wide registry: Node's default metrics and the Redis errors (created on first use). */
function processMetrics(): ProcessInstruments {
  if (processInstruments === undefined) {
    const registry = new Registry();
    collectDefaultMetrics({ register: registry });
    const redisErrors = new Counter({
      name: 'draas_redis_errors_total',
      help: 'Errors reported by the Redis connections of this process (each failed connect or reconnect attempt, each dropped connection), by connection',
      labelNames: ['connection'] as const,
      registers: [registry],
    });
    processInstruments = { registry, redisErrors };
  }
  return processInstruments;
}

/** Which Redis connection an error came from (a bounded set: the label of `draas_redis_errors_total`). */
export type RedisConnectionRole = 'transport-commands' | 'transport-blocking' | 'store' | 'leases' | 'idempotency' | 'auth' | 'audit';

/** Counts one error event of a Redis connection. */
export function countRedisError(connection: RedisConnectionRole): void {
  processMetrics().redisErrors.inc({ connection });
}

export class MetricsRegistry {
  /** This control plane's (or worker's) own series. Add to it with `new Counter({ registers: [registry] })` or `stateGauge`. */
  readonly registry = new Registry();
  readonly contentType = METRICS_CONTENT_TYPE;
  private readonly instrumentSets = new Map<string, unknown>();
  private readonly readFailures: Counter<'gauge'>;
  /** What each state gauge does at a scrape, before the registry is written. */
  private readonly refreshers: (() => Promise<void>)[] = [];

  constructor() {
    this.readFailures = new Counter({
      name: 'draas_metrics_read_failures_total',
      help: 'State gauges left out of a scrape because their source failed or did not answer in time, by gauge',
      labelNames: ['gauge'] as const,
      registers: [this.registry],
    });
  }

  /**
   * The instruments `create` makes on this registry, made once: a control
   * plane and the workers of an embedded process share one registry and each
   * series may be registered only once.
   */
  instruments<T>(key: string, create: (registry: Registry) => T): T {
    if (!this.instrumentSets.has(key)) this.instrumentSets.set(key, create(this.registry));
    return this.instrumentSets.get(key) as T;
  }

  /**
   * A gauge whose samples are read from `sources` at each scrape (`text()`;
   * all of them, summed per label set), within `SCRAPE_READ_TIMEOUT_MS` each. Returns
   * a function that adds a source. For a state the control plane holds, e.g.
   * a circuit breaker per platform:
   *
   *   metrics.stateGauge('draas_circuit_state', 'Circuit state (0 closed, 1 half-open, 2 open)', ['platform', 'target'])
   *     (() => breakers.map((b) => ({ labels: { platform: b.platform, target: b.target }, value: b.level })));
   */
  stateGauge<L extends string>(name: string, help: string, labelNames: readonly L[]): (source: SampleSource<L>) => void {
    return this.instruments(`gauge:${name}`, (registry) => {
      const sources: SampleSource<L>[] = [];
      const gauge = new Gauge<L>({ name, help, labelNames, registers: [registry] });
      this.refreshers.push(async () => {
        const reads = await Promise.all(sources.map((source) => within(Promise.resolve().then(source), SCRAPE_READ_TIMEOUT_MS)));
        const sums = new Map<string, Sample<L>>();
        for (const read of reads) {
          if (!read.settled || read.result.status === 'rejected') {
            this.readFailures.inc({ gauge: name });
            continue;
          }
          for (const sample of read.result.value) {
            const key = JSON.stringify(labelNames.map((label) => sample.labels[label] ?? ''));
            const sum = sums.get(key);
            if (sum) sum.value += sample.value;
            else sums.set(key, { labels: sample.labels, value: sample.value });
          }
        }
        gauge.reset();
        for (const { labels, value } of sums.values()) gauge.set(labels as Partial<Record<L, string | number>>, value);
      });
      return (source: SampleSource<L>) => void sources.push(source);
    });
  }

  /**
   * The scrape: the state gauges are read (all at once, each within its
   * bound), then the process's series and this registry's are written.
   */
  async text(): Promise<string> {
    await Promise.all(this.refreshers.map((refresh) => refresh()));
    const [own, process] = await Promise.all([this.registry.metrics(), processMetrics().registry.metrics()]);
    return `${process}${own}`;
  }
}

/** A failure's label value: its problem code (`DraasError.code`), `aborted`, or `internal`. */
export function outcomeOf(error: unknown): string {
  if (error instanceof DraasError) return error.code;
  if (error instanceof Error && (error.name === 'AbortError' || error.name === 'TimeoutError')) return 'aborted';
  return 'internal';
}

/** Seconds since `start` (a `performance.now()`). */
export function secondsSince(start: number): number {
  return (performance.now() - start) / 1_000;
}
