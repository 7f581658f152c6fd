/** The command line of authentication: --auth, DRAAS_AUTH, the OIDC flags, `draas tokens` and `draas audit`. */
import test from 'ava';
import { parseCommandLine, usage, UsageError } from '../../src/cli-options.js';

const redis = { DRAAS_REDIS_URL: 'redis://127.0.0.1:6379' };

test('--auth or DRAAS_AUTH=1 turns authentication on for up and control-plane; off by default', (t) => {
  const up = (argv: string[], env: Record<string, string> = {}) => parseCommandLine(['up', ...argv], env) as { auth?: unknown };
  t.is(up([]).auth, undefined);
  t.deepEqual(up(['--auth']).auth, {});
  t.deepEqual(up([], { DRAAS_AUTH: '1' }).auth, {});
  t.is(up([], { DRAAS_AUTH: '0' }).auth, undefined);
  t.deepEqual((parseCommandLine(['control-plane', '--auth'], redis) as { auth?: unknown }).auth, {});
  t.throws(() => parseCommandLine(['up'], { DRAAS_AUTH: 'yes' }), { instanceOf: UsageError, message: 'DRAAS_AUTH must be 1 or 0, got "yes"' });
  t.throws(() => parseCommandLine(['worker', '--auth'], redis), { instanceOf: UsageError, message: '--auth does not apply to "draas worker"' });
});

test('OIDC: issuer and audience from flags or the environment, the role claim defaults to roles', (t) => {
  const up = (argv: string[], env: Record<string, string> = {}) => parseCommandLine(['up', ...argv], env) as { auth?: unknown };
  t.deepEqual(up(['--auth', '--oidc-issuer', 'https://login.example/realms/ops', '--oidc-audience', 'draas']).auth, {
    oidc: { issuer: 'https://login.example/realms/ops', audience: 'draas', roleClaim: 'roles' },
  });
  t.deepEqual(up([], { DRAAS_AUTH: '1', DRAAS_OIDC_ISSUER: 'https://idp', DRAAS_OIDC_AUDIENCE: 'api', DRAAS_OIDC_ROLE_CLAIM: 'realm_access.roles' }).auth, {
    oidc: { issuer: 'https://idp', audience: 'api', roleClaim: 'realm_access.roles' },
  });
});

test('OIDC mistakes are readable usage errors', (t) => {
  const fails = (argv: string[], message: RegExp, env: Record<string, string> = {}) => t.throws(() => parseCommandLine(['up', ...argv], env), { instanceOf: UsageError, message });
  fails(['--oidc-issuer', 'https://idp', '--oidc-audience', 'a'], /apply with --auth/);
  fails(['--auth', '--oidc-issuer', 'https://idp'], /--oidc-issuer needs --oidc-audience/);
  fails(['--auth', '--oidc-audience', 'a'], /need --oidc-issuer/);
  fails(['--auth', '--oidc-issuer', 'not a url', '--oidc-audience', 'a'], /must be a URL/);
  fails(['--auth', '--oidc-issuer', 'ftp://idp', '--oidc-audience', 'a'], /must be an https URL/);
  fails(['--auth', '--oidc-issuer', 'https://idp', '--oidc-audience', 'a', '--oidc-role-claim', 'a..b'], /--oidc-role-claim must be a claim name/);
});

test('tokens add/list/revoke: the data dir by default, --redis (or DRAAS_REDIS_URL) for cluster mode', (t) => {
  t.deepEqual(parseCommandLine(['tokens', 'add', 'ci-bot', '--role', 'operator'], {}), {
    command: 'tokens',
    action: 'add',
    name: 'ci-bot',
    role: 'operator',
    store: { kind: 'file', dataDir: './.draas' },
  });
  t.deepEqual(parseCommandLine(['tokens', 'list', '--data-dir', '/var/lib/draas'], redis), { command: 'tokens', action: 'list', store: { kind: 'file', dataDir: '/var/lib/draas' } });
  t.deepEqual(parseCommandLine(['tokens', 'list'], { DRAAS_DATA_DIR: '/d' }), { command: 'tokens', action: 'list', store: { kind: 'file', dataDir: '/d' } });
  t.deepEqual(parseCommandLine(['tokens', 'revoke', 'ci-bot'], redis), {
    command: 'tokens',
    action: 'revoke',
    name: 'ci-bot',
    store: { kind: 'redis', url: 'redis://127.0.0.1:6379', prefix: 'draas:' },
  });
  t.deepEqual(parseCommandLine(['tokens', 'list', '--redis', 'rediss://u:p@h:6380', '--redis-prefix', 'x:'], {}), {
    command: 'tokens',
    action: 'list',
    store: { kind: 'redis', url: 'rediss://u:p@h:6380', prefix: 'x:' },
  });
});

test('tokens and audit mistakes are readable usage errors', (t) => {
  const fails = (argv: string[], message: RegExp) => t.throws(() => parseCommandLine(argv, {}), { instanceOf: UsageError, message });
  fails(['tokens'], /expected add, list or revoke/);
  fails(['tokens', 'rotate'], /expected add, list or revoke, got "rotate"/);
  fails(['tokens', 'add', 'x'], /needs --role: one of viewer, operator, admin/);
  fails(['tokens', 'add', 'x', '--role', 'root'], /--role must be one of viewer, operator, admin, got "root"/);
  fails(['tokens', 'add', '--role', 'admin'], /usage: draas tokens add <name>/);
  fails(['tokens', 'add', 'a b', '--role', 'admin'], /a token name is 1-63 letters/);
  fails(['tokens', 'revoke'], /usage: draas tokens revoke <name>/);
  fails(['tokens', 'list', '--data-dir', 'd', '--redis', 'redis://h'], /not both/);
  fails(['tokens', 'list', '--redis', 'http://h'], /redis:\/\/ or rediss:\/\//);
  fails(['tokens', 'list', '--redis-prefix', 'x:'], /--redis-prefix applies with --redis only/);
  fails(['tokens', 'list', '--port', '1'], /tokens: Unknown option '--port'/);
  fails(['audit', '--limit', '0'], /--limit must be an integer from 1/);
});

test('audit: the newest entries, or those after a cursor', (t) => {
  t.deepEqual(parseCommandLine(['audit'], {}), { command: 'audit', limit: 100, store: { kind: 'file', dataDir: './.draas' } });
  t.deepEqual(parseCommandLine(['audit', '--limit', '5', '--after', '17', '--redis', 'redis://h:1'], {}), {
    command: 'audit',
    limit: 5,
    after: '17',
    store: { kind: 'redis', url: 'redis://h:1', prefix: 'draas:' },
  });
});

test('the usage text lists every new flag and command', (t) => {
  for (const word of ['--auth', 'DRAAS_AUTH', '--oidc-issuer', '--oidc-audience', '--oidc-role-claim', 'tokens add', 'tokens list', 'tokens revoke', 'audit', 'rediss://']) {
    t.true(usage.includes(word), word);
  }
});
