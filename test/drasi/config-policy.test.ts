/**
 * The config policy as pure functions: where a listener can be reached from,
 * which paths stay inside the working directory, and what a config may ask
 * for under which operator switches.
 */
import test from 'ava';
import { bindScope } from '../../src/drasi/bind-address.js';
import { configPolicyIssues, type AllowSwitch, type ConfigPolicyContext } from '../../src/drasi/config-policy.js';
import { containedPathProblem, INSTANCE_DIR_ENTRIES } from '../../src/drasi/contained-path.js';
import { expandEnvRefs } from '../../src/drasi/env-ref.js';
import { WORKLOAD_STATE_FILE } from '../../src/platforms/workload-state.js';

function context(overrides: Partial<ConfigPolicyContext> = {}): ConfigPolicyContext {
  return { allow: new Set<AllowSwitch>(), loopbackOnly: true, environment: {}, ...overrides };
}

const pointers = (config: Record<string, unknown>, ctx = context()) => configPolicyIssues(config, ctx).map((issue) => issue.path);

test('bindScope: every spelling of "all interfaces", loopback, and the rest', (t) => {
  for (const host of ['0.0.0.0', '', ' ', '0', '00', '0x0', '0.0', '0.0.0', '000.000.000.000', '0.0.0.0.', '::', '[::]', '::0', '0:0:0:0:0:0:0:0', '::ffff:0.0.0.0', '::%eth0']) {
    t.is(bindScope(host), 'all-interfaces', JSON.stringify(host));
  }
  for (const host of ['127.0.0.1', '127.1', '127.255.255.254', '0x7f.1', '::1', '[::1]', '::ffff:127.0.0.1', 'localhost', 'LocalHost']) {
    t.is(bindScope(host), 'loopback', JSON.stringify(host));
  }
  for (const host of ['192.0.2.10', '10.0.0.1', 'fe80::1%eth0', 'my-host.internal', 'localhost.example', '1e0', 'not a host']) {
    t.is(bindScope(host), 'other', JSON.stringify(host));
  }
});

test('containedPathProblem: relative paths below the working directory only', (t) => {
  for (const fine of ['data/state.redb', './data/state.redb', 'state.redb', 'data/./x', 'a/b/c/', '.hidden/x', 'configs/x', 'server-data/x']) {
    t.is(containedPathProblem(fine), undefined, fine);
  }
  const refused: [string, RegExp][] = [
    ['', /empty/],
    ['/etc/passwd', /not absolute/],
    ['//host/share', /not absolute/],
    ['..', /"\.\."/],
    ['../x', /"\.\."/],
    ['data/../../x', /"\.\."/],
    ['data/../state.redb', /"\.\."/],
    ['~/x', /"~"/],
    ['data\\..\\x', /backslash/],
    ['data/x\u0000.redb', /control/],
    ['data/\nx', /control/],
    ['${STATE}', /\$\{VAR\}/],
    ['data/${X:-a}/s', /\$\{VAR\}/],
    ['.', /not the directory itself/],
    ['./', /not the directory itself/],
    ['config.yaml', /DRaaS keeps its own config\.yaml/],
    ['./workload.json', /workload\.json/],
    ['workload.json.123.tmp', /workload\.json/],
    ['server.log.1', /server\.log/],
    ['config/server.yaml', /config/],
  ];
  for (const [value, reason] of refused) t.regex(containedPathProblem(value) ?? 'accepted', reason, JSON.stringify(value));
  t.true(INSTANCE_DIR_ENTRIES.some((entry) => WORKLOAD_STATE_FILE.startsWith(entry)), "the process driver's state file is protected");
});

test('expandEnvRefs resolves like the server: set (even empty) wins, else the default, else unknown', (t) => {
  t.is(expandEnvRefs('${A}:${B:-9}', { A: 'x' }), 'x:9');
  t.is(expandEnvRefs('${A:-d}', { A: '' }), '');
  t.is(expandEnvRefs('${MISSING}', {}), undefined);
  t.is(expandEnvRefs('plain', {}), 'plain');
});

test('every path field DRaaS knows is checked: state stores, bootstrap providers, query storage, plugin files, in every pipeline', (t) => {
  const config = {
    stateStore: { kind: 'redb', path: '/var/lib/x.redb' },
    bootstrapProviders: [{ id: 'boot', kind: 'scriptfile', filePaths: ['ok.jsonl', '../secret.jsonl'] }],
    sources: [
      { kind: 'sqlite', id: 'db', path: '/etc/app.db' },
      { kind: 'kubernetes', id: 'k8s', kubeconfigPath: '/root/.kube/config' },
      { kind: 'mock', id: 'm', bootstrapProvider: { kind: 'sqlite', path: '../app.db' } },
      { kind: 'http', id: 'web', host: '127.0.0.1', port: 9000, path: '/webhook' },
    ],
    queries: [{ id: 'q', query: 'MATCH (n) RETURN n', storageBackend: { backend_type: 'rocksdb', path: '/data/drasi' } }],
    reactions: [
      { kind: 'file', id: 'out', queries: [], outputPath: '/tmp/out' },
      { kind: 'rabbitmq', id: 'mq', queries: [], tlsCertPath: '/etc/ssl/private/key.pem', tlsPfxPath: { kind: 'EnvironmentVariable', name: 'PFX' } },
      { kind: 'sse', id: 'events', queries: [], host: '127.0.0.1', ssePath: '/events', routes: { q: { added: { path: '/alerts' } } } },
    ],
    instances: [{ id: 'second', stateStore: { kind: 'redb', path: 'x/../../y' } }],
  };
  t.deepEqual(pointers(config), [
    '/stateStore/path',
    '/sources/0/path',
    '/sources/1/kubeconfigPath',
    '/sources/2/bootstrapProvider/path',
    '/reactions/0/outputPath',
    '/reactions/1/tlsCertPath',
    '/reactions/1/tlsPfxPath',
    '/queries/0/storageBackend/path',
    '/instances/0/stateStore/path',
    '/bootstrapProviders/0/filePaths/1',
  ]);
  t.deepEqual(pointers({ bootstrapProviders: { boot: { kind: 'scriptfile', filePaths: ['/x'] } } }), ['/bootstrapProviders/boot/filePaths/0'], 'the mapping form of bootstrapProviders');
  t.deepEqual(pointers({ stateStore: { kind: 'redb', path: 'data/state.redb' }, sources: [{ kind: 'sqlite', id: 'db', path: 'data/app.db' }] }), []);
});

test('plugin switches: plugins allows references, registries and installs; unverified-plugins allows signature checks off and chosen signers', (t) => {
  const plugins = { plugins: [{ ref: 'source/postgres' }], autoInstallPlugins: true, pluginRegistry: 'registry.invalid/x' };
  const unverified = { verifyPlugins: false, trustedIdentities: [{ issuer: 'i', subjectPattern: '*' }] };
  t.deepEqual(pointers({ ...plugins, ...unverified }), ['/plugins', '/autoInstallPlugins', '/pluginRegistry', '/verifyPlugins', '/trustedIdentities']);
  t.deepEqual(pointers({ ...plugins, ...unverified }, context({ allow: new Set(['plugins']) })), ['/verifyPlugins', '/trustedIdentities']);
  t.deepEqual(pointers({ ...plugins, ...unverified }, context({ allow: new Set(['plugins', 'unverified-plugins']) })), []);
  t.deepEqual(pointers({ autoInstallPlugins: '${AUTO}', verifyPlugins: '${VERIFY:-true}' }), ['/autoInstallPlugins', '/verifyPlugins'], 'references cannot be checked');
  t.deepEqual(pointers({ plugins: [], autoInstallPlugins: false, verifyPlugins: true, trustedIdentities: [] }), []);
  const issues = configPolicyIssues({ verifyPlugins: false }, context());
  t.is(issues[0]?.allowedBy, 'unverified-plugins');
});

test('listeners: loopback only where the platform shares the host network; references resolved with the instance environment', (t) => {
  const listeners = {
    sources: [
      { kind: 'http', id: 'web', host: '0.0.0.0', port: 9000 },
      { kind: 'grpc', id: 'rpc' },
      { kind: 'sqlite', id: 'db', restApi: { port: 8090 } },
      { kind: 'postgres', id: 'pg', host: '0.0.0.0' },
    ],
    reactions: [
      { kind: 'sse', id: 'sse', queries: [], host: '${SSE_HOST:-127.0.0.1}' },
      { kind: 'dashboard', id: 'dash', queries: [], host: { kind: 'EnvironmentVariable', name: 'DASH_HOST', default: '0.0.0.0' } },
      { kind: 'mcp', id: 'mcp', queries: [], host: { kind: 'Secret', name: 'where' } },
      { kind: 'log', id: 'log', queries: [], host: '0.0.0.0' },
    ],
  };
  t.deepEqual(pointers(listeners), ['/sources/0/host', '/sources/1', '/sources/2/restApi', '/reactions/1/host', '/reactions/2/host']);
  t.deepEqual(pointers(listeners, context({ environment: { SSE_HOST: '::', DASH_HOST: '127.0.0.1' } })), [
    '/sources/0/host',
    '/sources/1',
    '/sources/2/restApi',
    '/reactions/0/host',
    '/reactions/2/host',
  ]);
  t.deepEqual(pointers(listeners, context({ loopbackOnly: false })), [], 'an isolated platform (Docker bridge)');
  t.deepEqual(pointers(listeners, context({ allow: new Set(['all-interfaces']) })), []);
  const [issue] = configPolicyIssues({ sources: [{ kind: 'grpc', id: 'rpc' }] }, context());
  t.is(issue?.allowedBy, 'all-interfaces');
  t.regex(issue?.message ?? '', /grpc source's listener binds "0\.0\.0\.0" when no host is given/);
});

test('privileged ports: the server port and listener ports, literal or resolved, on every platform; ports a component connects to are not checked', (t) => {
  const loose = context({ loopbackOnly: false });
  t.deepEqual(pointers({ port: 80 }, loose), ['/port']);
  t.deepEqual(pointers({ port: '${P:-443}' }, loose), ['/port']);
  t.deepEqual(pointers({ port: '${P:-443}' }, context({ loopbackOnly: false, environment: { P: '8443' } })), []);
  t.deepEqual(pointers({ port: '${UNSET}' }, loose), [], 'an unset reference makes the server fail; nothing to refuse');
  t.deepEqual(pointers({ port: 1024 }, loose), []);
  t.deepEqual(
    pointers(
      {
        sources: [
          { kind: 'grpc', id: 'rpc', port: 50 },
          { kind: 'postgres', id: 'pg', port: 543 },
          { kind: 'sqlite', id: 'db', restApi: { port: '${REST_PORT:-81}' } },
        ],
        reactions: [{ kind: 'sse', id: 'sse', queries: [], port: { kind: 'EnvironmentVariable', name: 'SSE_PORT', default: 1000 } }],
      },
      loose,
    ),
    ['/sources/0/port', '/sources/2/restApi/port', '/reactions/0/port'],
  );
});
