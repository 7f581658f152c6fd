import test, { type ExecutionContext } from 'ava';
import { InvalidConfigError, type ConfigIssue } from '../../src/errors.js';
import { parseDrasiConfig, parseDrasiConfigYaml } from '../../src/drasi/index.js';

/** The issues of the InvalidConfigError that parsing `input` throws. */
function rejectionOf(t: ExecutionContext, input: unknown): ConfigIssue[] {
  const error = t.throws(() => parseDrasiConfig(input), { instanceOf: InvalidConfigError });
  return error?.issues ?? [];
}

function issueAt(issues: ConfigIssue[], path: string): ConfigIssue | undefined {
  return issues.find((issue) => issue.path === path);
}

/** Asserts that there is an issue at `path` whose message matches `pattern`. */
function assertIssue(t: ExecutionContext, issues: ConfigIssue[], path: string, pattern: RegExp): void {
  const issue = issueAt(issues, path);
  t.truthy(issue, `no issue at ${path} among ${JSON.stringify(issues)}`);
  t.regex(issue?.message ?? '', pattern);
}

const mockSource = { kind: 'mock', id: 'sensors' };
const query = { id: 'hot', query: 'MATCH (s) RETURN s', queryLanguage: 'Cypher', sources: [{ sourceId: 'sensors' }] };
const logReaction = { kind: 'log', id: 'console', queries: ['hot'] };

test('an empty document is a valid empty pipeline', (t) => {
  t.deepEqual(parseDrasiConfig({}), {});
  t.deepEqual(parseDrasiConfigYaml('{}'), {});
});

test('a small complete pipeline is accepted unchanged', (t) => {
  const input = { id: 'a', host: '127.0.0.1', port: 18081, logLevel: 'info', persistConfig: false, sources: [mockSource], queries: [query], reactions: [logReaction] };
  t.deepEqual(parseDrasiConfig(input), input);
});

test('the parsed config is a copy that shares nothing with the input', (t) => {
  const input = { sources: [{ ...mockSource, dataType: { type: 'generic' } }] };
  const parsed = parseDrasiConfig(input);
  t.not(parsed.sources, input.sources);
  t.not(parsed.sources?.[0]?.['dataType'], input.sources[0]?.dataType);
});

test('plugin-specific source and reaction keys pass through untouched', (t) => {
  const source = { kind: 'postgres', id: 'pg', host: '${DB_HOST}', port: 5432, tables: ['t'], tableKeys: [{ table: 't', keyColumns: ['id'] }], bootstrapProvider: { kind: 'postgres', sslMode: 'prefer' } };
  const reaction = { kind: 'http', id: 'hook', queries: [], baseUrl: 'http://x', routes: { q: { added: { url: '/n', body: '{{after.id}}' } } } };
  t.deepEqual(parseDrasiConfig({ sources: [source], reactions: [reaction] }), { sources: [source], reactions: [reaction] });
});

test('an unknown top-level key is refused and named', (t) => {
  const issues = rejectionOf(t, { id: 'a', colour: 'blue' });
  assertIssue(t, issues, '/colour', /unknown key `colour`/);
});

test('log_level is refused with a message naming logLevel', (t) => {
  const issues = rejectionOf(t, { log_level: 'info' });
  assertIssue(t, issues, '/log_level', /`log_level`.*use `logLevel`/);
});

test('auto_start in a source is refused with a message naming autoStart', (t) => {
  const issues = rejectionOf(t, { sources: [{ ...mockSource, auto_start: true }] });
  assertIssue(t, issues, '/sources/0/auto_start', /use `autoStart`/);
});

test('auto_start in a reaction and an unknown key in a query are refused', (t) => {
  const issues = rejectionOf(t, {
    sources: [mockSource],
    queries: [{ ...query, enable_bootstrap: true, colour: 'x' }],
    reactions: [{ ...logReaction, auto_start: false }],
  });
  assertIssue(t, issues, '/reactions/0/auto_start', /use `autoStart`/);
  assertIssue(t, issues, '/queries/0/enable_bootstrap', /use `enableBootstrap`/);
  assertIssue(t, issues, '/queries/0/colour', /unknown key `colour`/);
});

test('a log level outside trace|debug|info|warn|error is refused', (t) => {
  const issues = rejectionOf(t, { logLevel: 'verbose' });
  assertIssue(t, issues, '/logLevel', /"verbose"/);
});

test('port 0 and ports above 65535 are refused', (t) => {
  assertIssue(t, rejectionOf(t, { port: 0 }), '/port', /between 1 and 65535/);
  assertIssue(t, rejectionOf(t, { port: 65536 }), '/port', /between 1 and 65535/);
  assertIssue(t, rejectionOf(t, { port: 'http' }), '/port', /between 1 and 65535/);
});

test('${VAR} references are accepted where the server expands them', (t) => {
  const input = {
    host: '${SERVER_HOST:-0.0.0.0}',
    port: '${SERVER_PORT:-8080}',
    logLevel: '${LOG_LEVEL}',
    persistIndex: '${PERSIST_INDEX:-false}',
    defaultPriorityQueueCapacity: '${PRIORITY_QUEUE_CAPACITY:-15000}',
  };
  t.deepEqual(parseDrasiConfig(input), input);
});

test('an invalid literal host is refused', (t) => {
  assertIssue(t, rejectionOf(t, { host: 'not a host' }), '/host', /hostname or an IP address/);
});

test('a query without `query` is refused', (t) => {
  const { query: _omitted, ...withoutText } = query;
  const issues = rejectionOf(t, { sources: [mockSource], queries: [withoutText] });
  t.like(issueAt(issues, '/queries/0/query'), { message: 'missing required key `query`' });
});

test('a query language other than Cypher or GQL is refused', (t) => {
  const issues = rejectionOf(t, { sources: [mockSource], queries: [{ ...query, queryLanguage: 'SQL' }] });
  assertIssue(t, issues, '/queries/0/queryLanguage', /Cypher or GQL/);
});

test('a reaction without `queries` is refused', (t) => {
  const issues = rejectionOf(t, { reactions: [{ kind: 'log', id: 'console' }] });
  t.like(issueAt(issues, '/reactions/0/queries'), { message: 'missing required key `queries`' });
});

test('a source without `kind` is refused', (t) => {
  const issues = rejectionOf(t, { sources: [{ id: 'sensors' }] });
  t.like(issueAt(issues, '/sources/0/kind'), { message: 'missing required key `kind`' });
});

test('duplicate source ids are refused at the second one', (t) => {
  const issues = rejectionOf(t, { sources: [mockSource, { kind: 'http', id: 'sensors' }] });
  assertIssue(t, issues, '/sources/1/id', /duplicate source id `sensors`/);
});

test('duplicate query and reaction ids are refused', (t) => {
  const issues = rejectionOf(t, { sources: [mockSource], queries: [query, query], reactions: [logReaction, logReaction] });
  assertIssue(t, issues, '/queries/1/id', /duplicate query id `hot`/);
  assertIssue(t, issues, '/reactions/1/id', /duplicate reaction id `console`/);
});

test('a query naming a missing source is refused', (t) => {
  const issues = rejectionOf(t, { sources: [mockSource], queries: [{ ...query, sources: [{ sourceId: 'ghost' }] }] });
  assertIssue(t, issues, '/queries/0/sources/0/sourceId', /source `ghost`, which is not defined/);
});

test('a reaction naming a missing query is refused', (t) => {
  const issues = rejectionOf(t, { sources: [mockSource], queries: [query], reactions: [{ ...logReaction, queries: ['hot', 'cold'] }] });
  assertIssue(t, issues, '/reactions/0/queries/1', /query `cold`, which is not defined/);
});

test('every problem of a document is reported at once', (t) => {
  const issues = rejectionOf(t, { log_level: 'x', port: 0, sources: [{ id: 's' }], reactions: [{ ...logReaction, queries: ['nope'] }] });
  t.deepEqual(
    issues.map((issue) => issue.path).sort(),
    ['/log_level', '/port', '/reactions/0/queries/0', '/sources/0/kind'],
  );
});

test('references are checked within each instance, not across instances', (t) => {
  const issues = rejectionOf(t, {
    instances: [
      { id: 'a', sources: [mockSource], queries: [query] },
      { id: 'b', queries: [query], reactions: [logReaction] },
    ],
  });
  assertIssue(t, issues, '/instances/1/queries/0/sources/0/sourceId', /not defined in instance `b`/);
  t.is(issues.length, 1);
});

test('duplicate instance ids and unknown instance keys are refused', (t) => {
  const issues = rejectionOf(t, { instances: [{ id: 'a' }, { id: 'a', log_level: 'info' }] });
  assertIssue(t, issues, '/instances/1/id', /duplicate instance id `a`/);
  assertIssue(t, issues, '/instances/1/log_level', /unknown key `log_level`/);
});

test('top-level components next to `instances` are refused because the server would ignore them', (t) => {
  const issues = rejectionOf(t, { sources: [mockSource], instances: [{ id: 'a' }] });
  assertIssue(t, issues, '/sources', /ignored by Drasi Server when `instances` is set/);
});

test('a document that is not a mapping is refused', (t) => {
  assertIssue(t, rejectionOf(t, ['a']), '', /must be a mapping/);
  t.like(rejectionOf(t, null)[0], { path: '' });
});

test('YAML syntax errors are refused with their line', (t) => {
  const error = t.throws(() => parseDrasiConfigYaml('id: a\nsources: [\n  - kind: mock\n'), { instanceOf: InvalidConfigError });
  t.regex(error?.message ?? '', /not valid YAML/);
  t.regex(error?.issues[0]?.message ?? '', /line \d+, column \d+/);
});

test('duplicate YAML keys are refused', (t) => {
  const error = t.throws(() => parseDrasiConfigYaml('id: a\nid: b\n'), { instanceOf: InvalidConfigError });
  t.regex(error?.issues[0]?.message ?? '', /line 2.*unique/);
});

test('an empty YAML text is refused, with a pointer to `{}`', (t) => {
  const error = t.throws(() => parseDrasiConfigYaml('# nothing here\n'), { instanceOf: InvalidConfigError });
  t.regex(error?.issues[0]?.message ?? '', /\{\}/);
});

test('JSON text is accepted like YAML', (t) => {
  t.deepEqual(parseDrasiConfigYaml('{"id": "a", "port": 8080}'), { id: 'a', port: 8080 });
});

test('a config nested 10,000 deep or holding too many values is refused (422), not a stack overflow', (t) => {
  let deep: unknown = 'leaf';
  for (let level = 0; level < 10_000; level += 1) deep = [deep];
  const error = t.throws(() => parseDrasiConfig({ sources: [{ kind: 'mock', id: 's', dataType: { deep } }] }), { instanceOf: InvalidConfigError });
  t.regex(error?.message ?? '', /nested deeper than 100 levels/);
  const text = `{"sources": [{"kind": "mock", "id": "s", "dataType": {"deep": ${'['.repeat(10_000)}0${']'.repeat(10_000)}}}]}`;
  t.throws(() => parseDrasiConfigYaml(text), { instanceOf: InvalidConfigError });
  const wide = Array.from({ length: 100_001 }, () => 0);
  t.throws(() => parseDrasiConfig({ sources: [{ kind: 'mock', id: 's', dataType: { wide } }] }), {
    instanceOf: InvalidConfigError,
    message: /more than 100000 values/,
  });
});
