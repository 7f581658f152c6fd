/**
 * Scrapes a `/metrics` endpoint over HTTP and parses it with a Prometheus
 * text-format parser (not our own code): what a scraper would see.
 *
 * parse-prometheus-text-format folds the samples of a histogram with labels
 * into one sample without labels (its `flattenMetrics`), so the text is
 * parsed twice: as it is, for the families and their types, and with the
 * histograms' TYPE lines left out, which makes their `_bucket`, `_sum` and
 * `_count` series plain (untyped) families with their labels intact.
 * (`promtool check metrics`, in prometheus-rules.test.ts, parses the same
 * text with Prometheus's own parser.)
 */
import parsePrometheusTextFormat, { type ParsedFamily, type ParsedSample } from 'parse-prometheus-text-format';

export interface Scrape {
  text: string;
  families: Map<string, ParsedFamily>;
  /** The family, or throws naming what exists. */
  family(name: string): ParsedFamily;
  /** The sum of the samples of `name` whose labels include `labels` (0 when none). */
  value(name: string, labels?: Record<string, string>): number;
  /** The sum of the observation counts (`_count`) of histogram `name` whose labels include `labels`. */
  count(name: string, labels?: Record<string, string>): number;
}

function matches(sample: ParsedSample, labels: Record<string, string>): boolean {
  return Object.entries(labels).every(([key, value]) => sample.labels?.[key] === value);
}

export function parseScrape(text: string): Scrape {
  const families = new Map(parsePrometheusTextFormat(text).map((family) => [family.name, family]));
  const histograms = new Set([...families.values()].filter((family) => family.type === 'HISTOGRAM').map((family) => family.name));
  const untyped = text
    .split('\n')
    .filter((line) => !histograms.has(/^# (?:TYPE|HELP) (\S+) /.exec(line)?.[1] ?? ''))
    .join('\n');
  // Each label set of a histogram is a run of _bucket, _sum, _count lines: the runs of one name are one series family.
  const series = new Map<string, ParsedSample[]>();
  for (const family of parsePrometheusTextFormat(untyped)) series.set(family.name, [...(series.get(family.name) ?? []), ...family.metrics]);
  const family = (name: string): ParsedFamily => {
    const found = families.get(name);
    if (!found) throw new Error(`no metric family "${name}" in the scrape; it has: ${[...families.keys()].join(', ')}`);
    return found;
  };
  return {
    text,
    families,
    family,
    value: (name, labels = {}) =>
      family(name).metrics.filter((sample) => matches(sample, labels)).reduce((sum, sample) => sum + Number(sample.value ?? 0), 0),
    count: (name, labels = {}) => {
      if (family(name).type !== 'HISTOGRAM') throw new Error(`${name} is not a histogram`);
      const counts = series.get(`${name}_count`) ?? [];
      return counts.filter((sample) => matches(sample, labels)).reduce((sum, sample) => sum + Number(sample.value ?? 0), 0);
    },
  };
}

/** GET `<base>/metrics`; fails unless it is a 200 in the Prometheus text format. */
export async function scrape(base: string, headers: Record<string, string> = {}): Promise<Scrape> {
  const response = await fetch(`${base}/metrics`, { headers });
  const text = await response.text();
  if (response.status !== 200) throw new Error(`GET ${base}/metrics answered ${response.status}: ${text.slice(0, 300)}`);
  const type = response.headers.get('content-type') ?? '';
  if (!/^text\/plain; version=0\.0\.4/.test(type)) throw new Error(`GET ${base}/metrics: content type "${type}"`);
  return parseScrape(text);
}
