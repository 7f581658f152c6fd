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
  const patched = applyConfigPatch(config, [{ op: 'add', path: '/sources/-', value: { kind: 'http', id: 'hook', port: 9000 } }]).configuration;
  t.deepEqual(patched.sources?.map((source) => source.id), ['sensors', 'hook']);
  t.deepEqual(patched.queries, config.queries);
  t.is(config.sources?.length, 1);
});

test('replacing logLevel changes only logLevel', (t) => {
  const config = baseConfig();
  const patched = applyConfigPatch(config, [{ op: 'replace', path: '/logLevel', value: 'debug' }]).configuration;
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
  const patched = applyConfigPatch(baseConfig(), [{ op: 'remove', path: '/queries/1' }]).configuration;
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
  ]).configuration;
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

/** `depth` arrays nested in one another around `inner`, built without recursion. */
function nested(depth: number, inner: unknown = 0): unknown {
  let value = inner;
  for (let level = 0; level < depth; level += 1) value = [value];
  return value;
}

const badRequests: Array<[string, unknown[]]> = [
  ['a move into its own child (the TypeError of fast-json-patch)', [{ op: 'move', from: '/sources', path: '/sources/0' }]],
  ['a move into its own end', [{ op: 'move', from: '/sources', path: '/sources/-' }]],
  ['a move of the whole document into a member', [{ op: 'move', from: '', path: '/x' }]],
  ['a move into a grandchild', [{ op: 'move', from: '/sources/0', path: '/sources/0/dataType/x' }]],
  ['a copy without "from"', [{ op: 'copy', path: '/x' }]],
  ['"~" not followed by 0 or 1', [{ op: 'add', path: '/~2', value: 1 }]],
  ['a trailing "~"', [{ op: 'remove', path: '/sources/~' }]],
  ['a "from" with a bad escape', [{ op: 'copy', from: '/a~b', path: '/x' }]],
  ['a path through __proto__', [{ op: 'add', path: '/__proto__/x', value: 1 }]],
  ['a path ending in __proto__', [{ op: 'replace', path: '/sources/0/__proto__', value: {} }]],
  ['a "from" through constructor', [{ op: 'copy', from: '/constructor', path: '/x' }]],
  ['a path through prototype', [{ op: 'test', path: '/sources/prototype', value: 1 }]],
  ['a value nested 10,000 deep', [{ op: 'add', path: '/sources/0/dataType/x', value: nested(10_000) }]],
  ['a test value nested 10,000 deep', [{ op: 'test', path: '/id', value: nested(10_000) }]],
  ['a value that is not JSON (undefined inside)', [{ op: 'add', path: '/sources/0/dataType/x', value: [1, undefined] }]],
  ['a value that is not JSON (a function)', [{ op: 'add', path: '/sources/0/dataType/x', value: { f: () => 1 } }]],
  ['a value that is not JSON (NaN)', [{ op: 'replace', path: '/logLevel', value: Number.NaN }]],
  ['a value that is not JSON (a Date)', [{ op: 'add', path: '/sources/0/dataType/x', value: new Date(0) }]],
  ['more operations than allowed', Array.from({ length: 1_001 }, () => ({ op: 'test', path: '/id', value: 'analytics' }))],
];

const unfitting: Array<[string, unknown[]]> = [
  ['a copy from an inherited member', [{ op: 'copy', from: '/toString', path: '/x' }]],
  ['a move from an inherited member', [{ op: 'move', from: '/hasOwnProperty', path: '/x' }]],
  ['a copy of an array\'s length', [{ op: 'copy', from: '/sources/length', path: '/x' }]],
  ['a copy from "-"', [{ op: 'copy', from: '/sources/-', path: '/x' }]],
  ['a move from nowhere', [{ op: 'move', from: '/nowhere', path: '/x' }]],
  ['removing an inherited member', [{ op: 'remove', path: '/toString' }]],
  ['replacing an inherited member', [{ op: 'replace', path: '/valueOf', value: 1 }]],
  ['testing an inherited member', [{ op: 'test', path: '/toString', value: {} }]],
  ['an index with a leading zero', [{ op: 'add', path: '/sources/01', value: { kind: 'mock', id: 'x' } }]],
  ['an empty index', [{ op: 'add', path: '/sources/', value: { kind: 'mock', id: 'x' } }]],
  ['an index in exponent form', [{ op: 'add', path: '/sources/1e0', value: { kind: 'mock', id: 'x' } }]],
  ['a negative index', [{ op: 'add', path: '/sources/-1', value: { kind: 'mock', id: 'x' } }]],
  ['an index past the end', [{ op: 'add', path: '/sources/5', value: { kind: 'mock', id: 'x' } }]],
  ['a path through a string', [{ op: 'add', path: '/logLevel/x', value: 1 }]],
  ['a path through a string by index', [{ op: 'replace', path: '/id/0', value: 'x' }]],
  ['a path through a nested string', [{ op: 'add', path: '/sources/0/id/x', value: 1 }]],
  ['a path through "-"', [{ op: 'add', path: '/sources/-/x', value: 1 }]],
  ['removing "-"', [{ op: 'remove', path: '/sources/-' }]],
  ['replacing "-"', [{ op: 'replace', path: '/sources/-', value: { kind: 'mock', id: 'x' } }]],
  ['testing "-"', [{ op: 'test', path: '/sources/-', value: 1 }]],
  ['removing the whole document', [{ op: 'remove', path: '' }]],
  ['replacing the document with a number', [{ op: 'replace', path: '', value: 5 }]],
  ['making the document a list', [{ op: 'add', path: '', value: [1] }]],
  ['a value that nests the config deeper than the limit', [{ op: 'add', path: '/sources/0/dataType/x', value: nested(98) }]],
  ['copies that double the config until it is huge', Array.from({ length: 40 }, (_, i) => ({ op: 'copy', from: '', path: `/sources/0/dataType/c${i}` }))],
];

for (const [name, patch] of badRequests) {
  test(`400 and nothing changed: ${name}`, (t) => {
    const config = baseConfig();
    const before = structuredClone(config);
    const error = t.throws(() => applyConfigPatch(config, patch), { instanceOf: BadRequestError });
    t.is(error?.status, 400);
    t.deepEqual(config, before);
    t.is(({} as Record<string, unknown>)['x'], undefined, 'no prototype was touched');
  });
}

for (const [name, patch] of unfitting) {
  test(`422 and nothing changed: ${name}`, (t) => {
    const config = baseConfig();
    const before = structuredClone(config);
    const error = t.throws(() => applyConfigPatch(config, patch), { instanceOf: InvalidConfigError });
    t.is(error?.status, 422);
    t.true((error?.issues.length ?? 0) > 0);
    t.deepEqual(config, before);
  });
}

test('the errors name the operation and say why', (t) => {
  const config = baseConfig();
  t.throws(() => applyConfigPatch(config, [{ op: 'move', from: '/sources', path: '/sources/0' }]), {
    message: /^invalid JSON Patch operation 0: "move" cannot put a value inside itself/,
  });
  t.throws(() => applyConfigPatch(config, [{ op: 'add', path: '/sources/01', value: {} }]), {
    message: /operation 0 \(add \/sources\/01\): "\/sources\/01": "01" is not a list index/,
  });
  t.throws(() => applyConfigPatch(config, [{ op: 'copy', from: '/toString', path: '/x' }]), { message: /"\/toString" does not exist/ });
  t.throws(() => applyConfigPatch(config, [{ op: 'add', path: '/logLevel/x', value: 1 }]), { message: /"\/logLevel" is a string, which has no members/ });
  t.throws(() => applyConfigPatch(config, [{ op: 'add', path: '/sources/0/dataType/x', value: nested(10_000) }]), { message: /nested deeper than 100 levels/ });
  t.throws(() => applyConfigPatch(config, Array.from({ length: 40 }, (_, i) => ({ op: 'copy', from: '', path: `/sources/0/dataType/c${i}` }))), {
    message: /more than 100000 values/,
  });
});

test('a patch that changes nothing says so: empty, test-only, or putting back what it took', (t) => {
  const config = baseConfig();
  const unchanged: unknown[][] = [
    [],
    [{ op: 'test', path: '/logLevel', value: 'info' }],
    [{ op: 'test', path: '/sources/0', value: { id: 'sensors', dataType: { type: 'sensorReading' }, kind: 'mock' } }],
    [{ op: 'replace', path: '/logLevel', value: 'info' }],
    [{ op: 'remove', path: '/logLevel' }, { op: 'add', path: '/logLevel', value: 'info' }],
    [{ op: 'move', from: '/queries/0', path: '/queries/0' }],
    [{ op: 'copy', from: '/queries/0', path: '/queries/-' }, { op: 'remove', path: '/queries/2' }],
  ];
  for (const patch of unchanged) {
    const result = applyConfigPatch(config, patch);
    t.false(result.changed, JSON.stringify(patch));
    t.deepEqual(result.configuration, config);
    t.not(result.configuration, config, 'a copy, never the input itself');
  }
  t.true(applyConfigPatch(config, [{ op: 'replace', path: '/logLevel', value: 'debug' }]).changed);
  t.true(applyConfigPatch(config, [{ op: 'move', from: '/queries/0', path: '/queries/1' }]).changed);
});

test('move and copy follow RFC 6902: remove then add, copies share nothing', (t) => {
  const moved = applyConfigPatch(baseConfig(), [{ op: 'move', from: '/queries/0', path: '/queries/1' }]).configuration;
  t.deepEqual(moved.queries?.map((query) => query.id), ['all', 'hot']);
  const copied = applyConfigPatch(baseConfig(), [
    { op: 'copy', from: '/sources/0', path: '/sources/-' },
    { op: 'replace', path: '/sources/1/id', value: 'twin' },
    { op: 'replace', path: '/sources/1/dataType/type', value: 'other' },
  ]).configuration;
  t.deepEqual(copied.sources?.map((source) => source.id), ['sensors', 'twin']);
  t.like(copied.sources?.[0], { dataType: { type: 'sensorReading' } });
  const value = { kind: 'mock', id: 'added', dataType: { type: 'x' } };
  const added = applyConfigPatch(baseConfig(), [{ op: 'add', path: '/sources/0', value }]).configuration;
  t.deepEqual(added.sources?.map((source) => source.id), ['added', 'sensors']);
  value.dataType.type = 'changed later';
  t.like(added.sources?.[0], { dataType: { type: 'x' } });
});
