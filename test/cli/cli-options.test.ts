import test from 'ava';
import { execa } from 'execa';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseCommandLine, UsageError } from '../../src/cli-options.js';

test('up: defaults, flags win over the environment, the environment over defaults', (t) => {
  t.like(parseCommandLine(['up'], {}), {
    command: 'up',
    http: { port: 5087, host: '127.0.0.1' },
    workloads: { dataDir: './.draas', drasiServer: 'drasi-server', ports: { min: 18080, max: 18999 }, stopGraceMs: 10_000 },
    lifecycle: { startTimeoutMs: 30_000 },
    stopOnExit: false,
  });
  t.like(parseCommandLine(['up', '--stop-on-exit'], {}), { stopOnExit: true });
  t.like(parseCommandLine(['up'], { DRAAS_STOP_ON_EXIT: '1' }), { stopOnExit: true });
  const env = { DRAAS_PORT: '6000', DRAAS_DATA_DIR: '/env/dir', DRAAS_DRASI_SERVER: '/env/bin' };
  t.like(parseCommandLine(['up', '--port', '7000'], env), { http: { port: 7000 }, workloads: { dataDir: '/env/dir', drasiServer: '/env/bin' } });
});

test('control-plane and worker need a Redis URL; worker takes a platform', (t) => {
  t.throws(() => parseCommandLine(['control-plane'], {}), { instanceOf: UsageError, message: /needs --redis/ });
  t.like(parseCommandLine(['control-plane', '--redis', 'redis://127.0.0.1:6390'], {}), {
    command: 'control-plane',
    redis: { url: 'redis://127.0.0.1:6390', prefix: 'draas:', claimIdleMs: 30_000, maxDeliveries: 5 },
  });
  t.like(parseCommandLine(['worker', '--platform', 'process', '--worker-id', 'w1'], { DRAAS_REDIS_URL: 'redis://h:1' }), {
    command: 'worker',
    platform: 'process',
    workerId: 'w1',
    redis: { url: 'redis://h:1' },
  });
});

test('docker: the default image is pinned, flags win over DRAAS_DOCKER_IMAGE / DOCKER_HOST; up picks platforms automatically unless told', (t) => {
  t.like(parseCommandLine(['up'], {}), { workloads: { docker: { image: 'ghcr.io/drasi-project/drasi-server:0.2.0' } } });
  t.false('platforms' in parseCommandLine(['up'], {}), 'no --platforms: decided at start (docker when an engine answers)');
  t.like(parseCommandLine(['up', '--platforms', 'process,docker'], {}), { platforms: ['process', 'docker'] });
  t.like(parseCommandLine(['up'], { DRAAS_PLATFORMS: 'docker' }), { platforms: ['docker'] });
  const env = { DOCKER_HOST: 'tcp://10.0.0.5:2375', DRAAS_DOCKER_IMAGE: 'example/drasi:1', DRAAS_DOCKER_NETWORK: 'host' };
  t.like(parseCommandLine(['up'], env), { workloads: { docker: { host: 'tcp://10.0.0.5:2375', image: 'example/drasi:1', network: 'host' } } });
  t.like(parseCommandLine(['up', '--docker-image', 'mine/drasi:2', '--docker-host', 'unix:///tmp/d.sock'], env), {
    workloads: { docker: { host: 'unix:///tmp/d.sock', image: 'mine/drasi:2' } },
  });
  t.like(parseCommandLine(['worker', '--platform', 'docker', '--docker-image', 'mine/drasi:2'], { DRAAS_REDIS_URL: 'redis://h:1' }), {
    platform: 'docker',
    workloads: { docker: { image: 'mine/drasi:2' } },
  });
});

test('kubernetes: kubeconfig, context, namespace and image from flags or the environment; defaults; a worker of another platform refuses them', (t) => {
  t.like(parseCommandLine(['up'], {}), { workloads: { kubernetes: { namespace: 'draas', image: 'ghcr.io/drasi-project/drasi-server:0.2.0' } } });
  t.false('kubeconfig' in (parseCommandLine(['up'], {}) as { workloads: { kubernetes: object } }).workloads.kubernetes, 'no kubeconfig: the driver looks in-cluster, then in ~/.kube/config');
  const env = { KUBECONFIG: '/etc/kube/a:/etc/kube/b', DRAAS_KUBE_CONTEXT: 'staging', DRAAS_KUBE_NAMESPACE: 'pipelines', DRAAS_KUBE_IMAGE: 'example/drasi:1' };
  t.like(parseCommandLine(['up'], env), {
    workloads: { kubernetes: { kubeconfig: '/etc/kube/a:/etc/kube/b', context: 'staging', namespace: 'pipelines', image: 'example/drasi:1' } },
  });
  t.like(parseCommandLine(['up', '--kubeconfig', 'kc.yaml', '--kube-context', 'prod', '--kube-namespace', 'team-a', '--kube-image', 'mine/drasi:2'], env), {
    workloads: { kubernetes: { kubeconfig: 'kc.yaml', context: 'prod', namespace: 'team-a', image: 'mine/drasi:2' } },
  });
  t.like(parseCommandLine(['up', '--platforms', 'process,kubernetes'], {}), { platforms: ['process', 'kubernetes'] });
  t.like(parseCommandLine(['worker', '--platform', 'kubernetes', '--kube-namespace', 'ns1'], { DRAAS_REDIS_URL: 'redis://h:1' }), {
    platform: 'kubernetes',
    workloads: { kubernetes: { namespace: 'ns1' } },
  });
});

test('HTTP guards: defaults, flags, the environment; up and control-plane take them, a worker does not', (t) => {
  t.deepEqual(parseCommandLine(['up'], {}), {
    ...parseCommandLine(['up'], {}),
    http: {
      port: 5087,
      host: '127.0.0.1',
      app: { allowedHosts: [], corsOrigins: [], maxBodyBytes: 1_048_576, maxEventClients: 1_000, maxLogFollows: 100, acceptStatusReports: false },
    },
  });
  const flags = [
    '--allowed-hosts', 'draas.internal, draas.example:443,',
    '--cors-origins', 'HTTPS://Console.Example:443,http://localhost:3000/',
    '--max-body', '2048',
    '--max-event-clients', '0',
    '--max-log-follows', '5',
    '--accept-status-reports',
  ];
  const app = {
    allowedHosts: ['draas.internal', 'draas.example:443'],
    corsOrigins: ['https://console.example', 'http://localhost:3000'],
    maxBodyBytes: 2_048,
    maxEventClients: 0,
    maxLogFollows: 5,
    acceptStatusReports: true,
  };
  t.deepEqual((parseCommandLine(['up', ...flags], {}) as { http: { app: unknown } }).http.app, app);
  t.deepEqual((parseCommandLine(['control-plane', '--redis', 'redis://h:1', ...flags], {}) as { http: { app: unknown } }).http.app, app);
  const env = {
    DRAAS_ALLOWED_HOSTS: 'draas.internal',
    DRAAS_CORS_ORIGINS: 'https://console.example',
    DRAAS_MAX_BODY_BYTES: '4096',
    DRAAS_MAX_EVENT_CLIENTS: '10',
    DRAAS_MAX_LOG_FOLLOWS: '2',
    DRAAS_ACCEPT_STATUS_REPORTS: '1',
  };
  t.like(parseCommandLine(['up'], env), {
    http: { app: { allowedHosts: ['draas.internal'], corsOrigins: ['https://console.example'], maxBodyBytes: 4_096, maxEventClients: 10, maxLogFollows: 2, acceptStatusReports: true } },
  });
  t.like(parseCommandLine(['up', '--max-event-clients', '7'], env), { http: { app: { maxEventClients: 7 } } }, 'a flag wins');
  t.like(parseCommandLine(['up'], { DRAAS_ACCEPT_STATUS_REPORTS: 'true' }), { http: { app: { acceptStatusReports: true } } });
  t.like(parseCommandLine(['up'], { DRAAS_ACCEPT_STATUS_REPORTS: '0' }), { http: { app: { acceptStatusReports: false } } });
  // * alone is what counts; a --host that is a name is served without being listed; IP addresses need no entry.
  t.like(parseCommandLine(['up', '--allowed-hosts', 'a.internal,*'], {}), { http: { app: { allowedHosts: ['*'] } } });
  t.like(parseCommandLine(['up', '--host', 'Draas.Local'], {}), { http: { app: { allowedHosts: ['draas.local'] } } });
  t.like(parseCommandLine(['up', '--host', 'draas.local', '--allowed-hosts', 'draas.local'], {}), { http: { app: { allowedHosts: ['draas.local'] } } });
  t.like(parseCommandLine(['up', '--host', '0.0.0.0'], {}), { http: { app: { allowedHosts: [] } } });
  t.like(parseCommandLine(['up', '--host', 'localhost'], {}), { http: { app: { allowedHosts: [] } } });
});

test('bad HTTP guard values are readable usage errors', (t) => {
  const cases: [string[], Record<string, string>, RegExp][] = [
    [['up', '--allowed-hosts', 'bad host'], {}, /--allowed-hosts: allowed host "bad host" is not a host name, IP address or name:port/],
    [['up', '--allowed-hosts', 'draas.internal:99999'], {}, /--allowed-hosts: allowed host "draas.internal:99999"/],
    [['up', '--allowed-hosts', 'http://draas.internal'], {}, /--allowed-hosts: allowed host "http:\/\/draas.internal"/],
    [['up', '--allowed-hosts', '[zz]'], {}, /allowed host "\[zz\]"/],
    [['up'], { DRAAS_ALLOWED_HOSTS: 'a b' }, /--allowed-hosts: allowed host "a b"/],
    [['up', '--cors-origins', '*'], {}, /--cors-origins: CORS origin "\*" .*any web page could drive the API/],
    [['up', '--cors-origins', 'https://console.example/ui'], {}, /--cors-origins: CORS origin "https:\/\/console.example\/ui" is not an origin/],
    [['up', '--cors-origins', 'ftp://console.example'], {}, /CORS origin "ftp:\/\/console.example"/],
    [['up', '--cors-origins', 'console.example'], {}, /CORS origin "console.example"/],
    [['up', '--max-body', '10'], {}, /--max-body must be an integer from 1024 to 104857600, got "10"/],
    [['up', '--max-body', '1mb'], {}, /--max-body must be an integer/],
    [['up', '--max-event-clients=-1'], {}, /--max-event-clients must be an integer from 0 to 100000/],
    [['up'], { DRAAS_MAX_EVENT_CLIENTS: 'lots' }, /--max-event-clients must be an integer from 0 to 100000, got "lots"/],
    [['up', '--max-log-follows', '20000'], {}, /--max-log-follows must be an integer from 0 to 10000/],
    [['up'], { DRAAS_ACCEPT_STATUS_REPORTS: 'yes' }, /DRAAS_ACCEPT_STATUS_REPORTS must be 1 or 0, got "yes"/],
    [['worker', '--redis', 'redis://x', '--accept-status-reports'], {}, /--accept-status-reports does not apply to "draas worker"/],
    [['worker', '--redis', 'redis://x', '--cors-origins', 'https://a.example'], {}, /--cors-origins does not apply to "draas worker"/],
  ];
  for (const [argv, env, message] of cases) t.throws(() => parseCommandLine(argv, env), { instanceOf: UsageError, message }, argv.join(' '));
});

test('bad input is a readable usage error', (t) => {
  const cases: [string[], RegExp][] = [
    [['launch'], /unknown command "launch"/],
    [['up', '--port', 'eighty'], /--port must be an integer from 0 to 65535, got "eighty"/],
    [['up', '--port', '70000'], /--port must be an integer/],
    [['up', '--ports', '9000'], /--ports must look like 18080-18999/],
    [['up', '--ports', '9000-8000'], /9000 is above 8000/],
    [['up', '--platforms', 'process,mainframe'], /--platforms must be one of process, docker, kubernetes, got "mainframe"/],
    [['up', '--platforms', ','], /--platforms must name at least one platform/],
    [['up', '--docker-image', 'Bad Image'], /--docker-image must be an image reference/],
    [['up', '--docker-network', 'overlay'], /--docker-network must be bridge or host/],
    [['worker', '--redis', 'redis://x', '--docker-image', 'a/b:1'], /--docker-image applies to "draas worker --platform docker" only/],
    [['worker', '--redis', 'redis://x', '--kube-namespace', 'a'], /--kube-namespace applies to "draas worker --platform kubernetes" only/],
    [['worker', '--redis', 'redis://x', '--platform', 'docker', '--kubeconfig', 'k'], /--kubeconfig applies to "draas worker --platform kubernetes" only/],
    [['worker', '--redis', 'redis://x', '--platform', 'kubernetes', '--docker-host', 'unix:///d'], /--docker-host applies to "draas worker --platform docker" only/],
    [['up', '--kube-namespace', 'Team_A'], /--kube-namespace must be a Kubernetes namespace name .*got "Team_A"/],
    [['up', '--kube-namespace', 'x'.repeat(64)], /--kube-namespace must be a Kubernetes namespace name/],
    [['up', '--kube-image', 'Bad Image'], /--kube-image must be an image reference/],
    [['up', '--kube-context', ' '], /--kube-context must name a context/],
    [['control-plane', '--redis', 'redis://x', '--kubeconfig', 'k'], /--kubeconfig does not apply to "draas control-plane"/],
    [['up', '--bogus'], /Unknown option '--bogus'/],
    [['up', '--redis', 'redis://x'], /--redis does not apply to "draas up"/],
    [['worker', '--redis', 'redis://x', '--stop-on-exit'], /--stop-on-exit does not apply to "draas worker"/],
    [['worker', '--redis', 'http://x'], /redis:\/\//],
    [['worker', '--redis', 'redis://x', '--platform', 'mainframe'], /--platform must be one of process, docker, kubernetes/],
  ];
  for (const [argv, message] of cases) t.throws(() => parseCommandLine(argv, {}), { instanceOf: UsageError, message }, argv.join(' '));
});

test('operator policy: --allow and --deny-env, repeatable or comma lists, flags win over DRAAS_ALLOW / DRAAS_DENY_ENV; safe defaults', (t) => {
  t.like(parseCommandLine(['up'], {}), { policy: { allow: [], deniedEnvironment: [] } });
  t.like(parseCommandLine(['up', '--allow', 'plugins,unverified-plugins', '--allow', 'all-interfaces'], {}), {
    policy: { allow: ['plugins', 'unverified-plugins', 'all-interfaces'] },
  });
  t.like(parseCommandLine(['up', '--deny-env', 'AWS_*', '--deny-env', 'SECRET_TOKEN,GITHUB_*'], {}), {
    policy: { deniedEnvironment: ['AWS_*', 'SECRET_TOKEN', 'GITHUB_*'] },
  });
  const env = { DRAAS_ALLOW: 'plugins', DRAAS_DENY_ENV: 'AWS_*, GCP_*' };
  t.like(parseCommandLine(['control-plane', '--redis', 'redis://h:1'], env), { policy: { allow: ['plugins'], deniedEnvironment: ['AWS_*', 'GCP_*'] } });
  t.like(parseCommandLine(['up', '--allow', 'all-interfaces'], env), { policy: { allow: ['all-interfaces'], deniedEnvironment: ['AWS_*', 'GCP_*'] } });
  t.throws(() => parseCommandLine(['up', '--allow', 'everything'], {}), { instanceOf: UsageError, message: /--allow must be one of plugins, unverified-plugins, all-interfaces, service-accounts, got "everything"/ });
  t.throws(() => parseCommandLine(['up'], { DRAAS_ALLOW: 'root' }), { instanceOf: UsageError, message: /--allow must be one of/ });
  t.throws(() => parseCommandLine(['up', '--deny-env', 'LD-PRELOAD'], {}), { instanceOf: UsageError, message: /--deny-env: .*NAME or a PREFIX\*/ });
  t.throws(() => parseCommandLine(['worker', '--redis', 'redis://x', '--allow', 'plugins'], {}), { instanceOf: UsageError, message: /--allow does not apply to "draas worker"/ });
});

test('the draas command exits 2 with the message and a hint on bad usage, 0 with usage on --help', async (t) => {
  const cli = fileURLToPath(new URL('../../src/cli.ts', import.meta.url));
  const bad = await execa('node', ['--import=tsx', cli, 'up', '--port', 'x'], { reject: false });
  t.is(bad.exitCode, 2);
  t.regex(bad.stderr, /^draas: --port must be an integer/m);
  t.regex(bad.stderr, /draas --help/);
  const help = await execa('node', ['--import=tsx', cli, '--help'], { reject: false });
  t.is(help.exitCode, 0);
  t.regex(help.stdout, /Usage: draas <command>/);
});

test('-v and --version ask for the version, as the command or next to one', (t) => {
  for (const argv of [['--version'], ['-v'], ['version'], ['up', '--version'], ['worker', '-v']]) {
    t.deepEqual(parseCommandLine(argv, {}), { command: 'version' }, argv.join(' '));
  }
  t.deepEqual(parseCommandLine(['up', '--help', '--version'], {}), { command: 'help' }, 'help wins');
});

test('draas --version, -v and draas version print the version of the package and exit 0', async (t) => {
  const cli = fileURLToPath(new URL('../../src/cli.ts', import.meta.url));
  const { version } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  t.regex(version, /^\d+\.\d+\.\d+/);
  for (const flag of ['--version', '-v', 'version']) {
    const result = await execa('node', ['--import=tsx', cli, flag], { reject: false });
    t.is(result.exitCode, 0, result.stderr);
    t.is(result.stdout, version, flag);
  }
});

test('metrics listener: --metrics-port / DRAAS_METRICS_PORT on up, control-plane and worker; host defaults to 127.0.0.1; off by default', (t) => {
  const metricsOf = (argv: string[], env: Record<string, string> = {}) => {
    const cli = parseCommandLine(argv, env);
    if (cli.command !== 'up' && cli.command !== 'control-plane' && cli.command !== 'worker') throw new Error(`not a server command: ${cli.command}`);
    return cli.metrics;
  };
  t.is(metricsOf(['up']), undefined);
  t.deepEqual(metricsOf(['up', '--metrics-port', '9464']), { port: 9464, host: '127.0.0.1' });
  t.deepEqual(metricsOf(['up'], { DRAAS_METRICS_PORT: '9465', DRAAS_METRICS_HOST: '0.0.0.0' }), { port: 9465, host: '0.0.0.0' });
  t.deepEqual(metricsOf(['up', '--metrics-port', '9466', '--metrics-host', '::1'], { DRAAS_METRICS_PORT: '9465' }), { port: 9466, host: '::1' });
  t.deepEqual(metricsOf(['control-plane', '--redis', 'redis://x', '--metrics-port=9464']), { port: 9464, host: '127.0.0.1' });
  t.deepEqual(metricsOf(['worker', '--redis', 'redis://x', '--metrics-port', '9464', '--metrics-host', '10.0.0.5']), { port: 9464, host: '10.0.0.5' });
  // The API's port on another address is a different socket.
  t.deepEqual(metricsOf(['up', '--port', '9464', '--metrics-port', '9464', '--metrics-host', '127.0.0.2']), { port: 9464, host: '127.0.0.2' });
});

test('bad metrics listener values are readable usage errors', (t) => {
  const cases: [string[], Record<string, string>, RegExp][] = [
    [['up', '--metrics-port', '0'], {}, /--metrics-port must be an integer from 1 to 65535, got "0"/],
    [['up', '--metrics-port', '65536'], {}, /--metrics-port must be an integer from 1 to 65535, got "65536"/],
    [['up', '--metrics-port', 'prometheus'], {}, /--metrics-port must be an integer from 1 to 65535, got "prometheus"/],
    [['worker', '--redis', 'redis://x'], { DRAAS_METRICS_PORT: '-1' }, /--metrics-port must be an integer from 1 to 65535, got "-1"/],
    [['up', '--metrics-host', '0.0.0.0'], {}, /--metrics-host needs --metrics-port/],
    [['up', '--metrics-port', '9464', '--metrics-host', ' '], {}, /--metrics-host must be an address to bind/],
    [['up', '--metrics-port', '5087'], {}, /--metrics-port 5087 is the API's port \(--port\)/],
    [['control-plane', '--redis', 'redis://x', '--port', '9000', '--host', '0.0.0.0', '--metrics-port', '9000'], {}, /--metrics-port 9000 is the API's port/],
    [['machine', '--metrics-port', '9464'], {}, /machine: .*metrics-port/],
  ];
  for (const [argv, env, message] of cases) t.throws(() => parseCommandLine(argv, env), { instanceOf: UsageError, message }, argv.join(' '));
});
