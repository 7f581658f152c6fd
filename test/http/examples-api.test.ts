/**
 * Every real config from the drasi-server repository is accepted as an
 * instance's configuration through the REST API and comes back as an
 * equivalent document; what the real server would reject is refused.
 */
import test from 'ava';
import { readdirSync, readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { parseDrasiConfigYaml, renderConfigYaml } from '../../src/drasi/index.js';
import { serve } from '../helpers/memory-api.js';

const examplesDir = new URL('../fixtures/drasi-server-examples/', import.meta.url);
const exampleFiles = readdirSync(examplesDir).filter((name) => name.endsWith('.yaml')).sort();

test('every example config is accepted through the API and rendered back to an equivalent document', async (t) => {
  t.true(exampleFiles.length >= 31);
  const { call } = await serve(t);
  for (const [index, file] of exampleFiles.entries()) {
    const document = parse(readFileSync(new URL(file, examplesDir), 'utf8')) as Record<string, unknown>;
    const name = `example-${index}`;
    const created = await call('POST', '/api/server/instances', { name, configuration: document });
    t.is(created.status, 201, `${file}: ${JSON.stringify(created.body)}`);
    const stored = await call('GET', `/api/configuration/instances/${name}`);
    t.deepEqual(stored.body?.configuration, document, file);
    const rendered = renderConfigYaml(parseDrasiConfigYaml(JSON.stringify(stored.body?.configuration)));
    t.deepEqual(parse(rendered), document, `${file} renders to an equivalent YAML document`);
  }
});

test('documents the real server rejects are refused through the API with the reason', async (t) => {
  const { call } = await serve(t);
  const cases: [string, Record<string, unknown>, RegExp][] = [
    ['unknown top-level key', { colour: 'blue' }, /colour/],
    ['snake_case key', { log_level: 'info' }, /logLevel/],
    ['invalid log level', { logLevel: 'verbose' }, /logLevel/],
    ['port 0', { port: 0 }, /port/],
    ['source without kind', { sources: [{ id: 's' }] }, /kind/],
    ['query naming a missing source', { sources: [], queries: [{ id: 'q', query: 'MATCH (n) RETURN n', sources: [{ sourceId: 'ghost' }] }] }, /ghost/],
    ['reaction naming a missing query', { reactions: [{ kind: 'log', id: 'r', queries: ['nope'] }] }, /nope/],
    ['duplicate source ids', { sources: [{ kind: 'mock', id: 'a' }, { kind: 'mock', id: 'a' }] }, /duplicate|unique/i],
  ];
  for (const [what, configuration, reason] of cases) {
    const response = await call('POST', '/api/server/instances', { name: 'refused', configuration });
    t.is(response.status, 422, what);
    t.regex(JSON.stringify(response.body), reason, what);
  }
  t.deepEqual((await call('GET', '/api/server/instances')).body, [] as unknown as Record<string, unknown>);
});
