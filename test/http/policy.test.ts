/**
 * The operator's policy at the REST API (issue 11): what an unauthenticated
 * caller may not ask of the host — environment variables that change how the
 * server is loaded or which program runs, paths outside the instance's
 * working directory, plugins, listeners beyond loopback on the process
 * platform, privileged ports — is a 400 problem naming the field, and is
 * accepted once the operator allows it. Uses the in-memory driver.
 */
import test, { type ExecutionContext } from 'ava';
import { existsSync } from 'node:fs';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { MemoryInstanceStore } from '../../src/store/instance-store.js';
import { serve, type ApiResponse } from '../helpers/memory-api.js';
import { makeRecord } from '../store/fixtures.js';

interface Issue {
  path: string;
  message: string;
  allowedBy?: string;
}

/** A 400 policy problem whose issues include one at `pointer` whose message matches `reason`. */
function refused(t: ExecutionContext, response: ApiResponse, pointer: string, reason: RegExp, what = pointer): void {
  t.is(response.status, 400, `${what}: ${JSON.stringify(response.body)}`);
  t.regex(response.type, /^application\/problem\+json/, what);
  t.like(response.body, { type: 'urn:draas:problem:bad-request', reason: 'policy' }, what);
  const issues = (response.body?.['issues'] ?? []) as Issue[];
  const issue = issues.find((candidate) => candidate.path === pointer);
  t.truthy(issue, `${what}: an issue at ${pointer} in ${JSON.stringify(issues)}`);
  t.regex(issue?.message ?? '', reason, what);
  t.regex(String(response.body?.['detail']), new RegExp(pointer.replace(/[/.*]/g, '\\$&')), `${what}: the detail names the field`);
}

async function instanceNames(call: Awaited<ReturnType<typeof serve>>['call']): Promise<string[]> {
  return ((await call('GET', '/api/server/instances')).body as unknown as { id: string }[]).map((instance) => instance.id);
}

test('environment variables that change how the server is loaded or which program runs are refused at create, each with its reason', async (t) => {
  const { call } = await serve(t);
  const cases: [Record<string, string>, string, RegExp][] = [
    [{ LD_PRELOAD: '/tmp/evil.so' }, '/environment/LD_PRELOAD', /LD_PRELOAD may not be set: the dynamic loader/],
    [{ LD_LIBRARY_PATH: '/tmp' }, '/environment/LD_LIBRARY_PATH', /loader/],
    [{ ld_audit: '/tmp/evil.so' }, '/environment/ld_audit', /loader/],
    [{ DYLD_INSERT_LIBRARIES: '/tmp/evil.dylib' }, '/environment/DYLD_INSERT_LIBRARIES', /macOS loader/],
    [{ NODE_OPTIONS: '--import=data:text/javascript,process.exit(7)' }, '/environment/NODE_OPTIONS', /Node.js preloads the modules/],
    [{ GLIBC_TUNABLES: 'glibc.malloc.check=3' }, '/environment/GLIBC_TUNABLES', /CVE-2023-4911/],
    [{ BASH_ENV: '/tmp/run-me.sh' }, '/environment/BASH_ENV', /bash runs/],
    [{ PYTHONPATH: '/tmp' }, '/environment/PYTHONPATH', /Python loads/],
    [{ JAVA_TOOL_OPTIONS: '-javaagent:/tmp/a.jar' }, '/environment/JAVA_TOOL_OPTIONS', /javaagent/],
    [{ OPENSSL_CONF: '/tmp/openssl.cnf' }, '/environment/OPENSSL_CONF', /engines/],
  ];
  for (const [environment, pointer, reason] of cases) {
    refused(t, await call('POST', '/api/server/instances', { name: 'envy', environment }), pointer, reason);
  }
  // Ordinary variables (what ${VAR} references need) are fine.
  t.is((await call('POST', '/api/server/instances', { name: 'fine', environment: { DB_PASSWORD: 'x', RUST_LOG: 'debug', HOME: '/home/drasi' } })).status, 201);
  t.deepEqual(await instanceNames(call), ['fine']);
});

test("an instance's PATH cannot choose which drasi-server runs: it is refused at the API", async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'draas-policy-path-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const marker = path.join(dir, 'ran');
  await writeFile(path.join(dir, 'drasi-server'), `#!/bin/sh\necho ran > '${marker}'\n`);
  await chmod(path.join(dir, 'drasi-server'), 0o755);
  const { call, driver } = await serve(t);
  const response = await call('POST', '/api/server/instances', { name: 'pathy', environment: { PATH: `${dir}:/usr/bin:/bin` } });
  refused(t, response, '/environment/PATH', /decides which program runs/);
  t.is((await call('POST', '/api/server/instances/pathy/start')).status, 404, 'nothing was created to start');
  t.deepEqual(driver.calls, []);
  t.false(existsSync(marker));
});

test('the operator extends the deny list (names and prefixes); a request cannot shorten it', async (t) => {
  const { call } = await serve(t, { policy: { deniedEnvironment: ['AWS_*', 'SECRET_TOKEN'], allow: ['plugins', 'unverified-plugins', 'all-interfaces'] } });
  refused(t, await call('POST', '/api/server/instances', { name: 'aws', environment: { AWS_ACCESS_KEY_ID: 'x' } }), '/environment/AWS_ACCESS_KEY_ID', /--deny-env AWS_\*/);
  refused(t, await call('POST', '/api/server/instances', { name: 'tok', environment: { SECRET_TOKEN: 'x' } }), '/environment/SECRET_TOKEN', /operator/);
  // Allowing everything else leaves the built-in list in force.
  refused(t, await call('POST', '/api/server/instances', { name: 'pre', environment: { LD_PRELOAD: 'x' } }), '/environment/LD_PRELOAD', /loader/);
  refused(t, await call('POST', '/api/server/instances', { name: 'region', environment: { AWS_REGION: 'x' } }), '/environment/AWS_REGION', /AWS_\*/, 'a prefix covers every name it starts');
  t.is((await call('POST', '/api/server/instances', { name: 'ok', environment: { SECRET: 'fine', TOKEN: 'fine' } })).status, 201);
});

test('paths outside the working directory are refused: absolute, escaping, ${VAR}, NUL, backslash; relative ones inside are fine', async (t) => {
  const { call } = await serve(t);
  const create = (name: string, configuration: Record<string, unknown>) => call('POST', '/api/server/instances', { name, configuration });
  refused(t, await create('abs', { stateStore: { kind: 'redb', path: '/etc/draas.redb' } }), '/configuration/stateStore/path', /not absolute/);
  refused(t, await create('esc', { instances: [{ id: 'a', stateStore: { kind: 'redb', path: '../../other/state.redb' } }] }), '/configuration/instances/0/stateStore/path', /"\.\."/);
  refused(t, await create('ref', { stateStore: { kind: 'redb', path: '${STATE_STORE_PATH:-./data/state.redb}' } }), '/configuration/stateStore/path', /\$\{VAR\}/);
  refused(t, await create('nul', { stateStore: { kind: 'redb', path: 'data/state.redb\u0000/../../etc' } }), '/configuration/stateStore/path', /control characters/);
  refused(t, await create('bsl', { stateStore: { kind: 'redb', path: 'data\\..\\..\\etc' } }), '/configuration/stateStore/path', /backslash/);
  refused(t, await create('own', { stateStore: { kind: 'redb', path: './workload.json' } }), '/configuration/stateStore/path', /DRaaS keeps its own/);
  refused(
    t,
    await create('script', { sources: [{ kind: 'mock', id: 's', bootstrapProvider: { kind: 'scriptfile', filePaths: ['data/ok.jsonl', '/etc/shadow'] } }] }),
    '/configuration/sources/0/bootstrapProvider/filePaths/1',
    /not absolute/,
  );
  t.deepEqual(await instanceNames(call), []);
  t.is((await create('fine', { stateStore: { kind: 'redb', path: './data/state.redb' } })).status, 201);
});

test('plugin registries, plugin references and unverified plugins are refused unless the operator allows them', async (t) => {
  const strict = await serve(t);
  const plugins = { autoInstallPlugins: true, plugins: [{ ref: 'source/mock' }] };
  const create = (call: typeof strict.call, name: string, configuration: Record<string, unknown>) => call('POST', '/api/server/instances', { name, configuration });
  refused(t, await create(strict.call, 'reg', { pluginRegistry: 'registry.invalid/mine' }), '/configuration/pluginRegistry', /--allow plugins/);
  refused(t, await create(strict.call, 'refs', plugins), '/configuration/plugins', /download and run/);
  refused(t, await create(strict.call, 'refs', plugins), '/configuration/autoInstallPlugins', /--allow plugins/);
  refused(t, await create(strict.call, 'unv', { verifyPlugins: false }), '/configuration/verifyPlugins', /--allow unverified-plugins/);
  refused(t, await create(strict.call, 'unv', { verifyPlugins: '${VERIFY}' }), '/configuration/verifyPlugins', /signature/);
  refused(t, await create(strict.call, 'ids', { trustedIdentities: [{ issuer: 'https://issuer.invalid', subjectPattern: '*' }] }), '/configuration/trustedIdentities', /signatures count/);
  t.is((await create(strict.call, 'verified', { verifyPlugins: true, autoInstallPlugins: false, plugins: [] })).status, 201, 'the safe values are fine');

  const pluginsOnly = await serve(t, { policy: { allow: ['plugins'] } });
  t.is((await create(pluginsOnly.call, 'refs', { ...plugins, pluginRegistry: 'registry.invalid/mine' })).status, 201);
  refused(t, await create(pluginsOnly.call, 'unv', { ...plugins, verifyPlugins: false }), '/configuration/verifyPlugins', /unverified-plugins/);
  const both = await serve(t, { policy: { allow: ['plugins', 'unverified-plugins'] } });
  t.is((await create(both.call, 'unv', { ...plugins, verifyPlugins: false })).status, 201);
});

test('on the process platform, servers and listeners bind loopback only unless the operator allows all interfaces; Docker (bridge) is isolated', async (t) => {
  const { call } = await serve(t);
  const create = (body: Record<string, unknown>) => call('POST', '/api/server/instances', body);
  for (const host of ['0.0.0.0', '::', '[::]', '0', '0x0', '0.0', '::ffff:0.0.0.0']) {
    refused(t, await create({ name: 'wide', serverConfiguration: { host } }), '/serverConfiguration/host', /every interface/, `host ${host}`);
  }
  refused(t, await create({ name: 'lan', serverConfiguration: { host: '192.0.2.10' } }), '/serverConfiguration/host', /beyond loopback/);
  refused(t, await create({ name: 'ref', serverConfiguration: { host: '${BIND}' } }), '/serverConfiguration/host', /cannot be checked/);
  // Listeners of sources and reactions, given or by their default.
  refused(t, await create({ name: 'http', configuration: { sources: [{ kind: 'http', id: 'in', host: '0.0.0.0', port: 9000 }] } }), '/configuration/sources/0/host', /every interface/);
  refused(t, await create({ name: 'grpc', configuration: { sources: [{ kind: 'grpc', id: 'in' }] } }), '/configuration/sources/0', /when no host is given/);
  refused(
    t,
    await create({ name: 'sse', configuration: { reactions: [{ kind: 'sse', id: 'out', queries: [], host: '${SSE_HOST:-0.0.0.0}' }] } }),
    '/configuration/reactions/0/host',
    /every interface/,
  );
  refused(
    t,
    await create({ name: 'sseenv', environment: { SSE_HOST: '::' }, configuration: { reactions: [{ kind: 'sse', id: 'out', queries: [], host: '${SSE_HOST:-127.0.0.1}' }] } }),
    '/configuration/reactions/0/host',
    /every interface/,
    'the instance environment decides a reference',
  );
  refused(t, await create({ name: 'dockerhost', platformType: 'docker', platformOptions: { network: 'host' }, serverConfiguration: { host: '0.0.0.0' } }), '/serverConfiguration/host', /every interface/);
  t.deepEqual(await instanceNames(call), []);

  for (const [name, host] of [['lo4', '127.0.0.1'], ['lo6', '::1'], ['lo', 'localhost']] as const) {
    t.is((await create({ name, serverConfiguration: { host }, configuration: { sources: [{ kind: 'grpc', id: 'in', host }] } })).status, 201, host);
  }
  t.is((await create({ name: 'docker', platformType: 'docker', serverConfiguration: { host: '0.0.0.0' }, configuration: { sources: [{ kind: 'grpc', id: 'in', host: '0.0.0.0' }] } })).status, 201, 'docker (bridge) accepts it');
  t.is((await create({ name: 'outbound', configuration: { sources: [{ kind: 'postgres', id: 'db', host: '${DB_HOST}', port: 5432 }] } })).status, 201, 'hosts a source connects to are not binds');

  const open = await serve(t, { policy: { allow: ['all-interfaces'] } });
  t.is((await open.call('POST', '/api/server/instances', { name: 'wide', serverConfiguration: { host: '0.0.0.0' }, configuration: { sources: [{ kind: 'grpc', id: 'in' }] } })).status, 201);
});

test('privileged ports (below 1024) are refused wherever a config names a port the server binds', async (t) => {
  const { call } = await serve(t, { policy: { allow: ['all-interfaces'] } });
  const create = (body: Record<string, unknown>) => call('POST', '/api/server/instances', body);
  refused(t, await create({ name: 'p80', serverConfiguration: { port: 80 } }), '/serverConfiguration/port', /privileged port/);
  refused(t, await create({ name: 'c80', configuration: { port: 80 } }), '/configuration/port', /privileged port/);
  refused(t, await create({ name: 'c22', configuration: { port: '${SERVER_PORT:-22}' } }), '/configuration/port', /22 is a privileged port/);
  refused(t, await create({ name: 'sse', configuration: { reactions: [{ kind: 'sse', id: 'out', queries: [], port: 443 }] } }), '/configuration/reactions/0/port', /443 is a privileged port/);
  refused(t, await create({ name: 'dock', platformType: 'docker', serverConfiguration: { port: 1023 } }), '/serverConfiguration/port', /privileged/);
  t.deepEqual(await instanceNames(call), []);
  t.is((await create({ name: 'high', serverConfiguration: { port: 1024 }, configuration: { port: 8080, sources: [{ kind: 'postgres', id: 'db', port: 543 }] } })).status, 201, 'a port a source connects to is not checked');
});

test('a PATCH that would introduce a refused field is refused and changes nothing (config and generation kept)', async (t) => {
  const { call } = await serve(t);
  t.is((await call('POST', '/api/server/instances', { name: 'cfg', configuration: { sources: [{ kind: 'mock', id: 's' }] } })).status, 201);
  const before = (await call('GET', '/api/configuration/instances/cfg')).body;
  const patch = (operations: unknown[]) => call('PATCH', '/api/configuration/instances/cfg', operations, { 'content-type': 'application/json-patch+json' });
  refused(t, await patch([{ op: 'add', path: '/stateStore', value: { kind: 'redb', path: '/etc/x.redb' } }]), '/stateStore/path', /not absolute/);
  refused(t, await patch([{ op: 'add', path: '/verifyPlugins', value: false }]), '/verifyPlugins', /unverified-plugins/);
  refused(t, await patch([{ op: 'add', path: '/pluginRegistry', value: 'registry.invalid' }]), '/pluginRegistry', /plugins/);
  refused(t, await patch([{ op: 'add', path: '/sources/-', value: { kind: 'http', id: 'in', host: '0.0.0.0', port: 9000 } }]), '/sources/1/host', /every interface/);
  refused(t, await patch([{ op: 'add', path: '/port', value: 80 }]), '/port', /privileged/);
  t.deepEqual((await call('GET', '/api/configuration/instances/cfg')).body, before, 'configuration and generation unchanged');

  const fine = await patch([{ op: 'add', path: '/stateStore', value: { kind: 'redb', path: 'data/state.redb' } }]);
  t.is(fine.status, 200);
  t.is(fine.body?.['generation'], 2);
});

test('records stored before the policy are not started: the start fails with the reason, and no worker is asked', async (t) => {
  const store = new MemoryInstanceStore();
  await store.insert(makeRecord('preload', { environment: { LD_PRELOAD: '/tmp/evil.so' }, serverConfiguration: { host: '127.0.0.1' } }));
  await store.insert(makeRecord('wide', { environment: {}, serverConfiguration: { host: '0.0.0.0' } }));
  await store.insert(makeRecord('fine', { environment: {}, serverConfiguration: { host: '127.0.0.1' } }));
  const { call, driver } = await serve(t, { store });

  const preload = await call('POST', '/api/server/instances/preload/start');
  t.is(preload.status, 502);
  t.regex(String(preload.body?.['detail']), /refused by the operator's policy: \/environment\/LD_PRELOAD: LD_PRELOAD may not be set/);
  t.like((await call('GET', '/api/server/instances/preload')).body, { status: 'Failed' });
  const wide = await call('POST', '/api/server/instances/wide/start');
  t.is(wide.status, 502);
  t.regex(String(wide.body?.['detail']), /\/serverConfiguration\/host: .*--allow all-interfaces/);
  t.deepEqual(driver.calls, [], 'no worker was asked to start either');

  t.is((await call('POST', '/api/server/instances/fine/start')).status, 200);
});
