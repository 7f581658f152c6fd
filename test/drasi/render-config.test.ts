import test from 'ava';
import { parse } from 'yaml';
import { parseDrasiConfig, parseDrasiConfigYaml, renderConfigYaml } from '../../src/drasi/index.js';

const config = parseDrasiConfig({
  id: 'render-demo',
  port: '${SERVER_PORT:-8080}',
  persistIndex: '${PERSIST_INDEX:-false}',
  sources: [{ kind: 'http', id: 'hook', autoStart: '${AUTO:-true}', password: '${DB_PASSWORD}', allowedOrigins: ['*'], flag: 'yes', mode: '0755', version: '1.0' }],
  queries: [{ id: 'q', query: 'MATCH (s:Sensor)\nWHERE s.temp > 30\nRETURN s\n', queryLanguage: 'Cypher', sources: [{ sourceId: 'hook' }] }],
  reactions: [{ kind: 'log', id: 'console', queries: ['q'], defaultTemplate: { added: { template: '{{after.id}}: {{after.temp}}' } } }],
});

test('rendering keeps keys in the order given', (t) => {
  const rendered = renderConfigYaml(parseDrasiConfig({ reactions: [], queries: [], sources: [], id: 'x' }));
  t.is(rendered, 'reactions: []\nqueries: []\nsources: []\nid: x\n');
});

test('strings that YAML would misread come out quoted and read back as the same strings', (t) => {
  const rendered = renderConfigYaml(config);
  t.regex(rendered, /- "\*"/);
  t.regex(rendered, /template: "\{\{after\.id\}\}: \{\{after\.temp\}\}"/);
  t.regex(rendered, /flag: "yes"/);
  t.regex(rendered, /mode: "0755"/);
  t.regex(rendered, /version: "1\.0"/);
  t.deepEqual(parseDrasiConfigYaml(rendered), config);
});

test('environment references are double-quoted, except under boolean keys', (t) => {
  const rendered = renderConfigYaml(config);
  t.regex(rendered, /port: "\$\{SERVER_PORT:-8080\}"/);
  t.regex(rendered, /password: "\$\{DB_PASSWORD\}"/);
  t.regex(rendered, /persistIndex: \$\{PERSIST_INDEX:-false\}/);
  t.regex(rendered, /autoStart: \$\{AUTO:-true\}/);
});

test('multi-line queries are rendered as literal blocks', (t) => {
  const rendered = renderConfigYaml(config);
  t.true(rendered.includes('    query: |\n      MATCH (s:Sensor)\n      WHERE s.temp > 30\n      RETURN s\n'));
});

test('long strings are not folded', (t) => {
  const long = `MATCH (n) WHERE ${'n.x > 1 AND '.repeat(20)}true RETURN n`;
  const rendered = renderConfigYaml(parseDrasiConfig({ queries: [{ id: 'q', query: long }] }));
  t.true(rendered.includes(`query: ${long}\n`));
});

test('an object used twice is written out twice, not as a YAML alias', (t) => {
  const shared = { type: 'generic' };
  const rendered = renderConfigYaml({ sources: [{ kind: 'mock', id: 'a', dataType: shared }, { kind: 'mock', id: 'b', dataType: shared }] });
  t.false(rendered.includes('&'));
  t.false(rendered.includes('*a'));
  t.deepEqual(parse(rendered), { sources: [{ kind: 'mock', id: 'a', dataType: shared }, { kind: 'mock', id: 'b', dataType: shared }] });
});
