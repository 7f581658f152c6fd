import test from 'ava';
import { BadRequestError, InvalidConfigError } from '../../src/errors.js';
import { applyConfigPatch, parseDrasiConfig, type DrasiServerConfig } from '../../src/drasi/index.js';

function baseConfig(): DrasiServerConfig {
  return parseDrasiConfig({
    id: 'analytics',
    logLevel: 'info',
    sources: [{ kind: 'mock', id: 'sensors', dataType: { type: 'sensorReading' } }],
    queries: [
      { id: 'hot', query: 'MATCH (s) RETURN s', queryLanguage: 'Cypher', sources: [{ sourceId: 'sensors' }] },
      { id: 'all', query: 'MATCH (n) RETURN n', queryLanguage: 'Cypher', sources: [{ sourceId: 'sensors' }] },
    ],
    reactions: [{ kind: 'log', id: 'console', queries: ['hot'] }],
  });
}

test('adding a source appends it and keeps everything else', (t) => {
  const config = baseConfig();
  const patched = applyConfigPatch(config, [{ op: 'add', path: '/sources/-', value: { kind: 'http', id: 'hook', port: 9000 } }]);
  t.deepEqual(patched.sources?.map((source) => source.id), ['sensors', 'hook']);
  t.deepEqual(patched.queries, config.queries);
  t.is(config.sources?.length, 1);
});

test('replacing logLevel changes only logLevel', (t) => {
  const config = baseConfig();
  const patched = applyConfigPatch(config, [{ op: 'replace', path: '/logLevel', value: 'debug' }]);
  t.deepEqual(patched, { ...config, logLevel: 'debug' });
  t.is(config.logLevel, 'info');
});

test('removing a query that a reaction still names is refused (422) and leaves the config unchanged', (t) => {
  const config = baseConfig();
  const before = structuredClone(config);
  const error = t.throws(() => applyConfigPatch(config, [{ op: 'remove', path: '/queries/0' }]), { instanceOf: InvalidConfigError });
  t.is(error?.status, 422);
  t.truthy(error?.issues.find((issue) => issue.path === '/reactions/0/queries/0' && /query `hot`/.test(issue.message)));
  t.deepEqual(config, before);
});

test('removing an unused query is accepted', (t) => {
  const patched = applyConfigPatch(baseConfig(), [{ op: 'remove', path: '/queries/1' }]);
  t.deepEqual(patched.queries?.map((query) => query.id), ['hot']);
});

test('a failing test operation applies nothing, not even the operations before it', (t) => {
  const config = baseConfig();
  const before = structuredClone(config);
  const error = t.throws(
    () => applyConfigPatch(config, [
      { op: 'replace', path: '/logLevel', value: 'debug' },
      { op: 'test', path: '/id', value: 'someone-else' },
    ]),
    { instanceOf: InvalidConfigError },
  );
  t.regex(error?.message ?? '', /^patch could not be applied: operation 1 \(test \/id\)/);
  t.deepEqual(config, before);
});

test('a passing test operation lets the patch through', (t) => {
  const patched = applyConfigPatch(baseConfig(), [
    { op: 'test', path: '/logLevel', value: 'info' },
    { op: 'replace', path: '/logLevel', value: 'warn' },
  ]);
  t.is(patched.logLevel, 'warn');
});

test('a path that does not exist is refused naming the operation index and path', (t) => {
  const error = t.throws(() => applyConfigPatch(baseConfig(), [{ op: 'replace', path: '/reactions/5/id', value: 'x' }]), {
    instanceOf: InvalidConfigError,
  });
  t.regex(error?.message ?? '', /operation 0 \(replace \/reactions\/5\/id\)/);
  t.is(error?.issues[0]?.path, '/reactions/5/id');
});

test('a patch producing an invalid config is refused with the config issues', (t) => {
  const error = t.throws(() => applyConfigPatch(baseConfig(), [{ op: 'add', path: '/log_level', value: 'info' }]), {
    instanceOf: InvalidConfigError,
  });
  t.truthy(error?.issues.find((issue) => issue.path === '/log_level' && /`logLevel`/.test(issue.message)));
});

test('a patch that is not an array is a bad request', (t) => {
  const error = t.throws(() => applyConfigPatch(baseConfig(), { op: 'replace', path: '/logLevel', value: 'debug' }), {
    instanceOf: BadRequestError,
  });
  t.is(error?.status, 400);
});

test('malformed operations are bad requests', (t) => {
  const config = baseConfig();
  t.throws(() => applyConfigPatch(config, ['replace']), { instanceOf: BadRequestError });
  t.throws(() => applyConfigPatch(config, [{ op: 'rename', path: '/id' }]), { instanceOf: BadRequestError, message: /"op" must be one of/ });
  t.throws(() => applyConfigPatch(config, [{ op: 'replace', path: '/id' }]), { instanceOf: BadRequestError, message: /needs a "value"/ });
  t.throws(() => applyConfigPatch(config, [{ op: 'replace', path: 'id', value: 'x' }]), { instanceOf: BadRequestError, message: /start with "\/"/ });
  t.throws(() => applyConfigPatch(config, [{ op: 'move', path: '/id' }]), { instanceOf: BadRequestError, message: /"from"/ });
});

test('paths through __proto__ or constructor are refused and pollute nothing', (t) => {
  const config = baseConfig();
  t.throws(() => applyConfigPatch(config, [{ op: 'add', path: '/__proto__/polluted', value: true }]), {
    instanceOf: BadRequestError,
    message: /__proto__/,
  });
  t.throws(() => applyConfigPatch(config, [{ op: 'add', path: '/sources/0/constructor/prototype/polluted', value: true }]), {
    instanceOf: BadRequestError,
    message: /constructor/,
  });
  t.throws(() => applyConfigPatch(config, [{ op: 'copy', from: '/__proto__', path: '/x' }]), { instanceOf: BadRequestError });
  t.is(({} as Record<string, unknown>)['polluted'], undefined);
});

test('values carrying a __proto__ key are refused', (t) => {
  const value: unknown = JSON.parse('{"kind": "mock", "id": "evil", "__proto__": {"polluted": true}}');
  t.throws(() => applyConfigPatch(baseConfig(), [{ op: 'add', path: '/sources/-', value }]), { instanceOf: BadRequestError });
  t.is(({} as Record<string, unknown>)['polluted'], undefined);
});
