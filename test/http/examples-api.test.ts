/**
 * Every real config from the drasi-server repository is accepted as an
 * instance's configuration through the REST API and comes back as an
 * equivalent document; what the real server would reject is refused. Most
 * of them install plugins or listen on all interfaces, which the operator's
 * policy refuses by default (docs/security.md): they are sent to a control
 * plane that allows both, and a path the environment decides is refused
 * whatever the operator allows.
 */
import test from 'ava';
import { readdirSync, readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { parseDrasiConfigYaml, renderConfigYaml } from '../../src/drasi/index.js';
import { serve } from '../helpers/memory-api.js';

const examplesDir = new URL('../fixtures/drasi-server-examples/', import.meta.url);
const exampleFiles = readdirSync(examplesDir).filter((name) => name.endsWith('.yaml')).sort();
const allowEverything = { allow: ['plugins', 'unverified-plugins', 'all-interfaces'] };
/** Examples whose state store path is a `${VAR}` reference: the environment would decide where the server writes. */
const pathFromEnvironment: Record<string, string> = {
  'examples__configs__05-advanced-features__persistent-storage.yaml': '/configuration/stateStore/path',
};

function readExample(file: string): Record<string, unknown> {
  return parse(readFileSync(new URL(file, examplesDir), 'utf8')) as Record<string, unknown>;
}

test('every example config is accepted through the API (when the operator allows plugins and all interfaces) and rendered back to an equivalent document', async (t) => {
  t.true(exampleFiles.length >= 31);
  const { call } = await serve(t, { policy: allowEverything });
  for (const [index, file] of exampleFiles.entries()) {
    const document = readExample(file);
    const name = `example-${index}`;
    const created = await call('POST', '/api/server/instances', { name, configuration: document });
    const refusedAt = pathFromEnvironment[file];
    if (refusedAt !== undefined) {
      t.is(created.status, 400, file);
      t.deepEqual((created.body?.['issues'] as { path: string }[]).map((issue) => issue.path), [refusedAt], file);
      continue;
    }
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

test('under the default policy an example is accepted, or refused with each issue naming the switch that would accept it', async (t) => {
  const { call } = await serve(t);
  let accepted = 0;
  for (const [index, file] of exampleFiles.entries()) {
    const created = await call('POST', '/api/server/instances', { name: `example-${index}`, configuration: readExample(file) });
    if (created.status === 201) {
      accepted += 1;
      continue;
    }
    t.is(created.status, 400, file);
    const issues = created.body?.['issues'] as { path: string; allowedBy?: string }[];
    for (const issue of issues) {
      t.true(issue.allowedBy !== undefined || issue.path === pathFromEnvironment[file], `${file}: ${JSON.stringify(issue)}`);
    }
  }
  t.true(accepted >= 1, 'some examples need nothing the operator must allow');
});
