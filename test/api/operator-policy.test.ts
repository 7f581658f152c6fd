/**
 * The operator's policy as pure functions: the environment deny list (built
 * in, extended by the operator), the operator's switches, and how an
 * instance's parts are located in the issues.
 */
import test from 'ava';
import { BUILT_IN_DENIED_ENVIRONMENT, deniedVariableReason, parseDeniedPattern } from '../../src/api/environment-policy.js';
import {
  defaultOperatorPolicy,
  environmentIssues,
  instanceIssues,
  operatorPolicy,
  refuseByPolicy,
  serverSettingsIssues,
  type InstanceFacts,
} from '../../src/api/operator-policy.js';
import { BadRequestError } from '../../src/errors.js';

test('the built-in list refuses loader, interpreter, shell and PATH variables, each with a reason; ordinary variables pass', (t) => {
  for (const name of [
    'LD_PRELOAD', 'LD_LIBRARY_PATH', 'LD_AUDIT', 'LD_DEBUG_OUTPUT', 'ld_preload', 'DYLD_INSERT_LIBRARIES', 'GLIBC_TUNABLES', 'GCONV_PATH',
    'NODE_OPTIONS', 'NODE_PATH', 'PYTHONPATH', 'PYTHONSTARTUP', 'PYTHONHOME', 'PERL5LIB', 'PERL5OPT', 'RUBYOPT', 'RUBYLIB',
    'JAVA_TOOL_OPTIONS', '_JAVA_OPTIONS', 'JDK_JAVA_OPTIONS', 'BASH_ENV', 'ENV', 'SHELLOPTS', 'PS4', 'IFS', 'BASH_FUNC_ls',
    'PATH', 'Path', 'OPENSSL_CONF', 'MALLOC_TRACE', 'LOCPATH', 'NLSPATH', 'GETCONF_DIR',
  ]) {
    t.truthy(deniedVariableReason(name, []), name);
  }
  for (const name of ['HOME', 'LANG', 'TZ', 'RUST_LOG', 'RUST_BACKTRACE', 'DB_PASSWORD', 'MALLOC_ARENA_MAX', 'SSL_CERT_FILE', 'PATHS', 'ENVIRONMENT', 'NODE_ENV', 'LDAP_URL']) {
    t.is(deniedVariableReason(name, []), undefined, name);
  }
  for (const entry of BUILT_IN_DENIED_ENVIRONMENT) {
    t.notThrows(() => parseDeniedPattern(entry.pattern), entry.pattern);
    t.true(entry.reason.length > 20, `${entry.pattern} says why`);
  }
});

test('the operator adds names and prefixes; bad patterns and unknown switches are refused', (t) => {
  const policy = operatorPolicy({ deniedEnvironment: ['AWS_*', ' SECRET_TOKEN ', 'AWS_*'], allow: ['plugins'] });
  t.deepEqual(policy.deniedEnvironment, ['AWS_*', 'SECRET_TOKEN']);
  t.deepEqual([...policy.allow], ['plugins']);
  t.regex(deniedVariableReason('AWS_SECRET_ACCESS_KEY', policy.deniedEnvironment) ?? '', /--deny-env AWS_\*/);
  t.regex(deniedVariableReason('secret_token', policy.deniedEnvironment) ?? '', /SECRET_TOKEN/);
  t.is(deniedVariableReason('SECRET', policy.deniedEnvironment), undefined);
  t.regex(deniedVariableReason('LD_PRELOAD', policy.deniedEnvironment) ?? '', /loader/, 'the built-in reason comes first');
  for (const bad of ['', '*', 'A*B', 'LD-PRELOAD', '9LIVES', 'A B']) {
    t.throws(() => operatorPolicy({ deniedEnvironment: [bad] }), { instanceOf: RangeError }, JSON.stringify(bad));
  }
  t.throws(() => operatorPolicy({ allow: ['everything'] }), { instanceOf: RangeError, message: /unknown allow switch "everything"/ });
  t.deepEqual(operatorPolicy(), { deniedEnvironment: [], allow: new Set() });
  t.deepEqual(defaultOperatorPolicy.deniedEnvironment, []);
  t.is(defaultOperatorPolicy.allow.size, 0);
});

test('issues are located in the instance: /environment, /serverConfiguration, /configuration', (t) => {
  const facts: InstanceFacts = {
    platformType: 'process',
    serverConfiguration: { host: '0.0.0.0', port: 443 },
    environment: { LD_PRELOAD: 'x', DB: 'y' },
    configuration: { stateStore: { kind: 'redb', path: '/x' } },
  };
  t.deepEqual(
    instanceIssues(facts, defaultOperatorPolicy).map((issue) => issue.path),
    ['/environment/LD_PRELOAD', '/serverConfiguration/host', '/serverConfiguration/port', '/configuration/stateStore/path'],
  );
  t.deepEqual(environmentIssues({ DB: 'y' }, defaultOperatorPolicy), []);
});

test('a Kubernetes service account: refused unless service-accounts is allowed; other platforms and pods without one are not concerned', (t) => {
  const issues = (platformType: InstanceFacts['platformType'], platformOptions: Record<string, unknown> | undefined, allow: string[] = []) =>
    instanceIssues({ platformType, platformOptions, configuration: {} }, operatorPolicy({ allow }));
  const refused = issues('kubernetes', { serviceAccountName: 'draas-worker' });
  t.deepEqual(refused.map((issue) => [issue.path, issue.allowedBy]), [['/platformOptions/serviceAccountName', 'service-accounts']]);
  t.regex(refused[0]!.message, /run as the service account "draas-worker" and have its rights/);
  t.deepEqual(issues('kubernetes', { serviceAccountName: 'reader' }, ['service-accounts']), []);
  t.deepEqual(issues('kubernetes', { memoryMb: 256 }), []);
  t.deepEqual(issues('kubernetes', undefined), []);
  t.deepEqual(issues('docker', { serviceAccountName: 'x' }), [], 'not a Docker option (its schema refuses it on its own)');
});

test('the server host: loopback only on the process platform and on Docker host networking, unless all-interfaces is allowed', (t) => {
  const host = (platformType: InstanceFacts['platformType'], value: string, platformOptions?: Record<string, unknown>, allow: string[] = []) =>
    serverSettingsIssues({ platformType, platformOptions, serverConfiguration: { host: value }, configuration: {} }, operatorPolicy({ allow })).length;
  t.is(host('process', '0.0.0.0'), 1);
  t.is(host('process', '203.0.113.7'), 1);
  t.is(host('process', '${HOST}'), 1);
  t.is(host('process', '127.0.0.1'), 0);
  t.is(host('process', '0.0.0.0', undefined, ['all-interfaces']), 0);
  t.is(host('docker', '0.0.0.0'), 0);
  t.is(host('docker', '0.0.0.0', { network: 'bridge' }), 0);
  t.is(host('docker', '0.0.0.0', { network: 'host' }), 1);
});

test('refuseByPolicy throws one 400 listing every issue with its switch', (t) => {
  t.notThrows(() => refuseByPolicy([], 'nothing'));
  const error = t.throws(
    () =>
      refuseByPolicy(
        [
          { path: '/a', message: 'one' },
          { path: '/b', message: 'two', allowedBy: 'plugins' },
          { path: '/c', message: 'three' },
          { path: '/d', message: 'four' },
        ],
        'instance "x"',
      ),
    { instanceOf: BadRequestError },
  );
  t.is(error?.status, 400);
  t.regex(error?.message ?? '', /^instance "x" refused by the operator's policy: \/a: one; \/b: two \(the operator can allow this with --allow plugins\); \/c: three; and 1 more$/);
  t.like(error?.details, { reason: 'policy', issues: [{ path: '/a' }, { path: '/b', allowedBy: 'plugins' }, { path: '/c' }, { path: '/d' }] });
});
