/** Latency statistics. */
export interface LatencySummary {
  count: number;
  perSecond: number;
  p50Ms: number;
  p99Ms: number;
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[index]!;
}

/** `samples` are per-operation latencies in ms; `elapsedMs` the wall time of the whole run. */
export function summarize(samples: number[], elapsedMs: number): LatencySummary {
  const sorted = [...samples].sort((a, b) => a - b);
  return {
    count: samples.length,
    perSecond: (samples.length / elapsedMs) * 1000,
    p50Ms: percentile(sorted, 50),
    p99Ms: percentile(sorted, 99),
  };
}

/** Runs `operation` `count` times with at most `concurrency` in flight; returns latencies and wall time. */
export async function measure(count: number, concurrency: number, operation: (index: number) => Promise<unknown>): Promise<LatencySummary> {
  const samples: number[] = new Array(count);
  let next = 0;
  const began = performance.now();
  const lane = async () => {
    while (next < count) {
      const index = next++;
      const start = performance.now();
      await operation(index);
      samples[index] = performance.now() - start;
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, lane));
  return summarize(samples, performance.now() - began);
}
