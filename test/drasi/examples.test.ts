import test from 'ava';
import { readdirSync, readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { parseDrasiConfigYaml, renderConfigYaml } from '../../src/drasi/index.js';

// The real configs from the drasi-server repository (vendored; see the folder's README).
const examplesDir = new URL('../fixtures/drasi-server-examples/', import.meta.url);
const exampleFiles = readdirSync(examplesDir)
  .filter((name) => name.endsWith('.yaml'))
  .sort();

const readExample = (name: string): string => readFileSync(new URL(name, examplesDir), 'utf8');

test('the reference folder is found, so the per-file tests below are not vacuous', (t) => {
  t.true(exampleFiles.length >= 31);
});

for (const name of exampleFiles) {
  test(`${name} is accepted and keeps every key of the document, in order, with no defaults added`, (t) => {
    const text = readExample(name);
    const parsed = parseDrasiConfigYaml(text);
    const raw: unknown = parse(text);
    t.deepEqual(parsed, raw);
    t.is(JSON.stringify(parsed), JSON.stringify(raw));
  });

  test(`${name} renders to YAML that parses back to the same config`, (t) => {
    const parsed = parseDrasiConfigYaml(readExample(name));
    const rendered = renderConfigYaml(parsed);
    const reparsed = parseDrasiConfigYaml(rendered);
    t.deepEqual(reparsed, parsed);
    t.is(JSON.stringify(reparsed), JSON.stringify(parsed));
  });
}

test('the multi-instance example keeps each instance with its own pipeline', (t) => {
  const config = parseDrasiConfigYaml(readExample('examples__configs__05-advanced-features__multi-instance.yaml'));
  t.deepEqual(
    config.instances?.map((instance) => instance.id),
    ['analytics', 'monitoring', 'audit'],
  );
  t.like(config.instances?.[2], { persistIndex: true, stateStore: { kind: 'redb', path: './data/audit-state.redb' } });
});

test('environment references in typed server fields survive parsing as written', (t) => {
  const config = parseDrasiConfigYaml(readExample('config__server-with-env-vars.yaml'));
  t.like(config, {
    host: '${SERVER_HOST:-0.0.0.0}',
    port: '${SERVER_PORT:-8080}',
    logLevel: '${LOG_LEVEL:-info}',
    id: '${SERVER_ID:-drasi-server-1}',
  });
});
