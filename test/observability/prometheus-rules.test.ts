/**
 * The sample Prometheus configuration and alert rules (deploy/prometheus/):
 * every metric the rules use exists in a real scrape; with `promtool` (Debian's
 * `prometheus` package; CI installs it): the configurations and rules are
 * valid, the rules' unit tests (test/fixtures/prometheus/alerts.test.yml)
 * pass, and a real scrape passes Prometheus's own parser and linter.
 */
import test from 'ava';
import { execa } from 'execa';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile, copyFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse, parseAllDocuments, stringify } from 'yaml';
import { z } from 'zod';
import { embedded } from '../helpers/embedded.js';
import { api } from '../helpers/http-api.js';
import { toolAvailable } from '../helpers/engines.js';
import { scrape } from '../helpers/prometheus.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const deploy = path.join(root, 'deploy', 'prometheus');

const rulesSchema = z.object({
  groups: z.array(z.object({ name: z.string(), rules: z.array(z.object({ alert: z.string(), expr: z.string() }).passthrough()) })),
});

/** The metric names an expression reads: identifiers that are not functions, keywords, labels or label values. */
function metricNames(expr: string): string[] {
  const withoutStrings = expr.replace(/"(?:[^"\\]|\\.)*"/g, '""');
  const withoutMatchers = withoutStrings.replace(/\{[^}]*\}/g, '{}').replace(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, '');
  return [...new Set(withoutMatchers.match(/\b[a-zA-Z_:][a-zA-Z0-9_:]*\b(?!\s*\()/g) ?? [])].filter(
    (name) => !['and', 'or', 'unless', 'bool', 'offset', 'le'].includes(name) && !/^\d/.test(name) && name.includes('_'),
  );
}

test('every metric the alert rules use is served by a control plane with its workers', async (t) => {
  const { draas } = await embedded(t, { reconcileIntervalMs: null });
  const { url } = await draas.listen({ port: 0 });
  // One lifecycle request so that the histograms have their series too.
  await api(url)('POST', '/api/server/instances', { name: 'rules' });
  const metrics = await scrape(url);
  const rules = rulesSchema.parse(parse(readFileSync(path.join(deploy, 'alerts.yml'), 'utf8')));
  const used = new Set(rules.groups.flatMap((group) => group.rules.flatMap((rule) => metricNames(rule.expr))));
  t.true(used.size >= 8, `the rules read ${[...used].join(', ')}`);
  for (const name of used) {
    const histogram = /^(.*)_(bucket|sum|count)$/.exec(name);
    if (histogram && metrics.families.get(histogram[1]!)?.type === 'HISTOGRAM') continue;
    t.true(metrics.families.has(name), `${name} (used by an alert rule) is in the scrape`);
  }
});

test('the Kubernetes manifests serve metrics on the port their scrape annotations name', (t) => {
  const podSchema = z.object({
    kind: z.literal('Deployment'),
    spec: z.object({
      template: z.object({
        metadata: z.object({ annotations: z.record(z.string(), z.string()) }),
        spec: z.object({ containers: z.array(z.object({ env: z.array(z.object({ name: z.string(), value: z.string().optional() }).passthrough()) }).passthrough()) }),
      }),
    }),
  });
  for (const file of ['control-plane.yaml', 'worker.yaml']) {
    const documents = parseAllDocuments(readFileSync(path.join(root, 'deploy', 'kubernetes', file), 'utf8')).map((document) => document.toJS() as unknown);
    const deployment = podSchema.parse(documents.find((document) => podSchema.safeParse(document).success));
    const { annotations } = deployment.spec.template.metadata;
    t.is(annotations['prometheus.io/scrape'], 'true', file);
    const env = new Map(deployment.spec.template.spec.containers[0]!.env.map((variable) => [variable.name, variable.value]));
    t.is(env.get('DRAAS_METRICS_PORT'), annotations['prometheus.io/port'], file);
    t.is(env.get('DRAAS_METRICS_HOST'), '0.0.0.0', `${file}: reachable from the Prometheus pod`);
  }
});

if (toolAvailable('promtool', 'Prometheus configuration and alert rules')) {
  const promtool = (args: string[], input?: string) => execa('promtool', args, { reject: false, ...(input !== undefined ? { input } : {}) });

  test('promtool: the scrape configuration and the alert rules are valid', async (t) => {
    const config = await promtool(['check', 'config', path.join(deploy, 'prometheus.yml')]);
    t.is(config.exitCode, 0, `${config.stdout}\n${config.stderr}`);
    const rules = await promtool(['check', 'rules', path.join(deploy, 'alerts.yml')]);
    t.is(rules.exitCode, 0, `${rules.stdout}\n${rules.stderr}`);
    const alerts = readFileSync(path.join(deploy, 'alerts.yml'), 'utf8').match(/^\s+- alert: /gm)?.length ?? 0;
    t.true(alerts >= 10);
    t.regex(rules.stdout, new RegExp(`SUCCESS: ${alerts} rules found`));
  });

  test('promtool: the Kubernetes scrape configuration is valid (its relabelling at least, where promtool lacks Kubernetes discovery)', async (t) => {
    const file = path.join(deploy, 'prometheus-kubernetes.yml');
    const direct = await promtool(['check', 'config', file]);
    if (direct.exitCode === 0) return t.pass();
    // Debian builds Prometheus without Kubernetes service discovery: check everything else with a static target instead.
    t.regex(`${direct.stdout}${direct.stderr}`, /field kubernetes_sd_configs not found/, `${direct.stdout}\n${direct.stderr}`);
    t.log('this promtool has no Kubernetes service discovery: checked with a static target in its place');
    const dir = await mkdtemp(path.join(os.tmpdir(), 'draas-promtool-'));
    t.teardown(() => rm(dir, { recursive: true, force: true }));
    const config = z
      .object({ scrape_configs: z.array(z.record(z.string(), z.unknown())) })
      .passthrough()
      .parse(parse(readFileSync(file, 'utf8')));
    const jobs = config.scrape_configs.map(({ kubernetes_sd_configs: discovery, ...job }) => {
      t.truthy(discovery, 'the job discovers pods');
      return { ...job, static_configs: [{ targets: ['10.0.0.1:9464'] }] };
    });
    await writeFile(path.join(dir, 'prometheus.yml'), stringify({ ...config, scrape_configs: jobs }));
    await copyFile(path.join(deploy, 'alerts.yml'), path.join(dir, 'alerts.yml'));
    const checked = await promtool(['check', 'config', path.join(dir, 'prometheus.yml')]);
    t.is(checked.exitCode, 0, `${checked.stdout}\n${checked.stderr}`);
  });

  test('promtool test rules: each alert fires on its failure and not on a healthy fleet', async (t) => {
    const result = await promtool(['test', 'rules', path.join(root, 'test', 'fixtures', 'prometheus', 'alerts.test.yml')]);
    t.is(result.exitCode, 0, `${result.stdout}\n${result.stderr}`);
    t.regex(result.stdout, /SUCCESS/);
  });

  test('promtool check metrics: a real scrape parses, and our series pass the linter', async (t) => {
    const { draas } = await embedded(t, { reconcileIntervalMs: null });
    const { url } = await draas.listen({ port: 0 });
    const call = api(url);
    await call('POST', '/api/server/instances', { name: 'lint' });
    await call('POST', '/api/server/instances/lint/start');
    await call('POST', '/api/server/instances/nobody/stop');
    const text = (await scrape(url)).text;
    const result = await promtool(['check', 'metrics'], text);
    const output = `${result.stdout}\n${result.stderr}`;
    t.not(result.exitCode, 1, `promtool could not parse the scrape: ${output}`);
    // prom-client's own Node.js gauges are named *_total; ours must have no finding at all.
    const findings = output
      .split('\n')
      .map((line) => line.trim())
      .filter((line) => line !== '' && !/^nodejs_active_(handles|requests|resources)_total non-counter metrics should not have "_total" suffix$/.test(line));
    t.deepEqual(findings, []);
  });
}
