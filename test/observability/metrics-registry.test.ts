/**
 * The metrics registry on its own: state gauges sum their sources and never
 * hold a scrape past their bound, registries do not share series, and
 * outcomes are problem codes.
 */
import test from 'ava';
import { Counter } from 'prom-client';
import { ConflictError, DraasError } from '../../src/errors.js';
import { ControlPlaneMetrics } from '../../src/observability/control-plane-metrics.js';
import { MetricsRegistry, outcomeOf, SCRAPE_READ_TIMEOUT_MS } from '../../src/observability/metrics.js';
import { parseScrape } from '../helpers/prometheus.js';

test('a state gauge sums its sources per label set, read at each scrape', async (t) => {
  const metrics = new MetricsRegistry();
  let level = 1;
  const add = metrics.stateGauge('test_circuit_state', 'A test gauge', ['platform']);
  add(() => [{ labels: { platform: 'docker' }, value: level }]);
  add(async () => [{ labels: { platform: 'docker' }, value: 2 }, { labels: { platform: 'process' }, value: 0 }]);
  const first = parseScrape(await metrics.text());
  t.is(first.family('test_circuit_state').type, 'GAUGE');
  t.is(first.value('test_circuit_state', { platform: 'docker' }), 3);
  t.is(first.family('test_circuit_state').metrics.length, 2);
  level = 5;
  t.is(parseScrape(await metrics.text()).value('test_circuit_state', { platform: 'docker' }), 7, 'read again, not cached');
  t.is(metrics.stateGauge('test_circuit_state', 'A test gauge', ['platform']), add, 'asking again adds to the same gauge');
});

test('a source that fails or never answers is left out of the scrape, counted, and does not hold it past its bound', async (t) => {
  const metrics = new MetricsRegistry();
  metrics.stateGauge('test_hanging', 'Never answers', [])(() => new Promise(() => undefined));
  metrics.stateGauge('test_failing', 'Fails', [])(() => {
    throw new Error('down');
  });
  metrics.stateGauge('test_fine', 'Answers', [])(() => [{ labels: {}, value: 1 }]);
  const began = performance.now();
  const scrape = parseScrape(await metrics.text());
  const took = performance.now() - began;
  t.true(took >= SCRAPE_READ_TIMEOUT_MS - 50 && took < SCRAPE_READ_TIMEOUT_MS + 1_500, `took ${Math.round(took)} ms`);
  t.is(scrape.value('test_fine'), 1);
  // prom-client always writes a gauge without labels: 0 when it has nothing.
  t.is(scrape.value('test_hanging'), 0);
  t.is(scrape.value('test_failing'), 0);
  t.is(scrape.value('draas_metrics_read_failures_total', { gauge: 'test_hanging' }), 1);
  t.is(scrape.value('draas_metrics_read_failures_total', { gauge: 'test_failing' }), 1);
});

test('each registry has its own series; the instruments of one registry are made once', async (t) => {
  const one = new MetricsRegistry();
  const two = new MetricsRegistry();
  new ControlPlaneMetrics(one).lifecycle('startInstance', 'ok', 0.2);
  t.notThrows(() => new ControlPlaneMetrics(one).lifecycle('startInstance', 'conflict', 0.1), 'a second control plane on one registry shares its instruments');
  t.is(parseScrape(await one.text()).value('draas_lifecycle_requests_total', { operation: 'startInstance' }), 2);
  t.false(parseScrape(await two.text()).families.has('draas_lifecycle_requests_total'));
  const counter = two.instruments('mine', (registry) => new Counter({ name: 'test_mine_total', help: 'x', registers: [registry] }));
  t.is(
    two.instruments('mine', (): Counter => {
      throw new Error('made twice');
    }),
    counter,
  );
});

test('outcomes are problem codes, aborted, or internal', (t) => {
  t.is(outcomeOf(new ConflictError('no')), 'conflict');
  t.is(outcomeOf(new DraasError('worker-timeout', 'slow')), 'worker-timeout');
  t.is(outcomeOf(new DOMException('gone', 'AbortError')), 'aborted');
  t.is(outcomeOf(Object.assign(new Error('x'), { code: 'ECONNRESET' })), 'internal');
  t.is(outcomeOf('a string'), 'internal');
});
