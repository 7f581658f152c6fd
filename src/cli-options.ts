/**
 * Reads the `draas` command line and environment into settings. Pure: no I/O,
 * so every flag and every error message is unit-tested.
 */
import { isIP } from 'node:net';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { parseDeniedPattern } from './api/environment-policy.js';
import { ALLOW_SWITCHES, type AllowSwitch } from './drasi/config-policy.js';
import type { HttpAppOptions } from './http/app.js';
import { roles, type Role } from './http/operations.js';
import { parseAllowedHost } from './http/host-check.js';
import { DEFAULT_MAX_BODY_BYTES, DEFAULT_MAX_EVENT_CLIENTS, DEFAULT_MAX_LOG_FOLLOWS } from './http/http-defaults.js';
import { parseCorsOrigin } from './http/origin-check.js';
import { machineFormats, type MachineFormat } from './machines/machine-document.js';
import type { DockerWorkerSettings, KubernetesWorkerSettings } from './platform-workers.js';
import { defaultDockerImage, dockerNetworkModes, type DockerNetworkMode } from './platforms/docker-options.js';
import { imageReferenceSchema } from './platforms/image-reference.js';
import { platformTypes, type PlatformType } from './platforms/driver.js';
import { logFormats, logThresholds, type LogFormat, type LogThreshold } from './observability/logger.js';
import { traceSettings, type TraceSettings } from './observability/trace-settings.js';
import { defaultKubernetesNamespace, kubernetesNameSchema } from './platforms/kubernetes-options.js';

export class UsageError extends Error {
  override name = 'UsageError';
}

export const usage = `Usage: draas <command> [options]

Commands:
  up              Embedded mode: REST API, control plane and platform workers in one process (no Redis)
  control-plane   Cluster mode: the REST API and control plane, meeting workers on Redis
  worker          Cluster mode: a platform worker that runs Drasi Servers for a control plane
  machine         Print the instance lifecycle machine (what GET /api/machines/instance serves);
                  needs no running control plane:
                    --format <f>  json (default: states, transitions, a layout to draw), mermaid or dot
  tokens          API tokens for --auth (see docs/operations.md); in the data dir (embedded) or in
                  Redis (cluster: --redis, DRAAS_REDIS_URL):
                    tokens add <name> --role <viewer|operator|admin>
                                  make a token and print it once (only its hash is stored)
                    tokens list   the tokens' names, roles and creation times (never the tokens)
                    tokens revoke <name>
                                  revoke a token (in effect within a second, on every replica)
                    options: --data-dir <dir> (DRAAS_DATA_DIR, default ./.draas) or --redis <url>
                             (DRAAS_REDIS_URL) with --redis-prefix <p>
  audit           Print the audit log (JSON lines), from the data dir or Redis as for tokens:
                    --limit <n>   the newest n entries (default 100), or n after --after <cursor>

HTTP (up, control-plane):
  --port <n>              HTTP port (DRAAS_PORT, default 5087)
  --host <addr>           HTTP bind address (DRAAS_HOST, default 127.0.0.1)
  --allowed-hosts <list>  Host names the API answers for besides IP addresses and localhost, e.g.
                          draas.internal,draas.example:443; * for any (only behind a proxy that checks
                          Host). Others are refused with 421 (DNS rebinding) (DRAAS_ALLOWED_HOSTS,
                          default none; a --host name is added)
  --cors-origins <list>   origins whose web pages may call the API, e.g. https://console.example:8443;
                          other pages are refused with 403 (DRAAS_CORS_ORIGINS, default none)
  --max-body <bytes>      largest request body; larger is 413 (DRAAS_MAX_BODY_BYTES, default 1048576)
  --max-event-clients <n> open GET /api/events streams at most; more are 503 (DRAAS_MAX_EVENT_CLIENTS,
                          default 1000)
  --max-log-follows <n>   open GET .../logs?follow=true streams at most; more are 503
                          (DRAAS_MAX_LOG_FOLLOWS, default 100)
  --accept-status-reports serve POST /api/status/updates, which lets any caller (with --auth: any
                          admin) mark an instance Failed (DRAAS_ACCEPT_STATUS_REPORTS=1; default off: 403)

Metrics (up, control-plane, worker; see docs/operations.md, "Metrics"). GET /metrics on the API
(up, control-plane) serves them too; a listener of their own serves them alone, without a token:
  --metrics-port <n>      also serve GET /metrics (Prometheus text format), and nothing else, on this
                          port (DRAAS_METRICS_PORT, default off)
  --metrics-host <addr>   bind address of that listener (DRAAS_METRICS_HOST, default 127.0.0.1)

Authentication (up, control-plane; see docs/operations.md):
  --auth                  every request but /healthz and /readyz needs Authorization: Bearer <token>
                          of a role (viewer, operator, admin) that may call it; requests to mutations
                          are written to the audit log (DRAAS_AUTH=1; default off)
  --oidc-issuer <url>     with --auth: also accept JWTs of this OpenID Connect issuer, verified
                          against its published keys (DRAAS_OIDC_ISSUER)
  --oidc-audience <aud>   the audience those JWTs must name (DRAAS_OIDC_AUDIENCE; required with
                          --oidc-issuer)
  --oidc-role-claim <c>   the claim with the caller's role(s), a string or a list; a dotted path
                          reaches into objects (DRAAS_OIDC_ROLE_CLAIM, default roles)

Security (up, control-plane; see docs/security.md). An instance may not ask, by default, for what
would let a caller run code on the host or reach beyond it; with --auth only an admin may ask for
what --allow permits:
  --allow <what>          let instances ask for it anyway; repeatable or a comma list (DRAAS_ALLOW):
                            plugins             plugin references, registries, auto-install (the server
                                                downloads and runs their code)
                            unverified-plugins  verifyPlugins: false, trustedIdentities
                            all-interfaces      process servers and their listeners bound beyond
                                                loopback (0.0.0.0, ::, another address)
                            service-accounts    Kubernetes pods that run as a named service account
                                                (platformOptions.serviceAccountName) with its rights
  --deny-env <NAME|PREFIX*>
                          also refuse these variables in an instance's environment, beyond the
                          built-in list (LD_*, DYLD_*, NODE_OPTIONS, PATH, ...); repeatable or a
                          comma list (DRAAS_DENY_ENV)

Lifecycle (up, control-plane):
  --start-timeout <ms>    time a server has to answer /health (DRAAS_START_TIMEOUT_MS, default 30000)
  --reply-timeout <ms>    extra time a worker gets to reply (DRAAS_REPLY_TIMEOUT_MS, default 10000)
  --reconcile-interval <ms>
                          compare each instance with what runs this often, spread over the interval:
                          drift is recorded and repaired, a workload running against the desired state
                          is stopped (DRAAS_RECONCILE_INTERVAL_MS, default 30000; 0: only on request)
  --worker-lost-timeout <ms|never>
                          control-plane only: start a Running instance on another worker once its
                          worker has been lost this long; the new worker first stops the old server
                          when it runs on the same host (DRAAS_WORKER_LOST_TIMEOUT_MS, default never:
                          wait for the worker, never risk two servers)

Workloads (up, worker):
  --platform <name>       worker only: process, docker or kubernetes (DRAAS_PLATFORM, default process)
  --platforms <list>      up only: workers to run, e.g. process,docker (DRAAS_PLATFORMS; default
                          process, plus docker when a Docker Engine answers, plus kubernetes when a
                          kubeconfig is found)
  --data-dir <dir>        instance working directories (DRAAS_DATA_DIR, default ./.draas)
  --drasi-server <path>   Drasi Server executable (DRAAS_DRASI_SERVER, default drasi-server on PATH)
  --ports <min-max>       ports for Drasi Servers (DRAAS_SERVER_PORTS, default 18080-18999)
  --stop-grace <ms>       SIGINT → SIGKILL grace period (DRAAS_STOP_GRACE_MS, default 10000)
  --shutdown-grace <ms>   how long a shutdown (SIGINT, SIGTERM) may take; then draas says what it
                          gave up on and exits with status 1 (DRAAS_SHUTDOWN_GRACE_MS, default 15000)
  --stop-on-exit          up only: stop every Drasi Server when draas exits (DRAAS_STOP_ON_EXIT=1);
                          by default they keep running and are re-adopted at the next start
  --worker-id <id>        worker only: a stable name; commands for its instances wait in its queue
                          while it is away (DRAAS_WORKER_ID, default platform-host-digest of the data
                          dir, Docker endpoint or Kubernetes namespace: the same after a restart)

Docker (up, worker --platform docker):
  --docker-host <url>     the Docker Engine: unix:///path or tcp://host:port (DOCKER_HOST,
                          default unix:///var/run/docker.sock)
  --docker-image <ref>    image of instances that name none (DRAAS_DOCKER_IMAGE,
                          default ${defaultDockerImage})
  --docker-network <mode> bridge (port published on 127.0.0.1) or host (DRAAS_DOCKER_NETWORK, default bridge)

Kubernetes (up, worker --platform kubernetes; see docs/kubernetes.md):
  --kubeconfig <file>     kubeconfig (KUBECONFIG; default the in-cluster service account, else
                          ~/.kube/config)
  --kube-context <name>   context of the kubeconfig (DRAAS_KUBE_CONTEXT, default its current one)
  --kube-namespace <ns>   namespace of instances that name none (DRAAS_KUBE_NAMESPACE, default ${defaultKubernetesNamespace})
  --kube-image <ref>      image of instances that name none (DRAAS_KUBE_IMAGE,
                          default ${defaultDockerImage})

Redis (control-plane, worker):
  --redis <url>           redis://[user:password@]host:port[/db], or rediss:// for TLS
                          (DRAAS_REDIS_URL, required)
  --redis-prefix <p>      key prefix (DRAAS_REDIS_PREFIX, default draas:)
  --claim-idle <ms>       reclaim commands a dead worker left after this idle time (DRAAS_CLAIM_IDLE_MS, default 30000)
  --max-deliveries <n>    dead-letter a command after n deliveries (DRAAS_MAX_DELIVERIES, default 5)

Replicas (control-plane; several may share one Redis):
  --replica-id <id>       a stable name; a restarted replica takes its leases back at once
                          (DRAAS_REPLICA_ID, default host-pid-random)
  --lease <ms>            how long a replica owns its instances without renewing; the bound on a
                          takeover when it dies (DRAAS_LEASE_MS, default 10000)
  --shards <n>            lease shards the instances are spread over; the same on every replica
                          (DRAAS_SHARDS, default 16)

Logs and traces (up, control-plane, worker; see docs/operations.md):
  --log-level <level>     trace, debug, info, warn, error, fatal or silent (DRAAS_LOG_LEVEL, default info)
  --log-format <f>        json (one object a line) or pretty (one readable line); logs go to stderr
                          (DRAAS_LOG_FORMAT, default pretty when stderr is a terminal, else json)
  Traces are exported when the standard OpenTelemetry variables ask: OTEL_TRACES_EXPORTER (otlp,
  console or none) or OTEL_EXPORTER_OTLP_ENDPOINT / OTEL_EXPORTER_OTLP_TRACES_ENDPOINT (OTLP over
  http/protobuf); OTEL_SERVICE_NAME, OTEL_TRACES_SAMPLER and the other OTEL_* variables apply. Off by default.

  -h, --help              show this help
  -v, --version           print the version of draas
`;

type Env = Record<string, string | undefined>;

const optionSpec = {
  port: { type: 'string' },
  host: { type: 'string' },
  'allowed-hosts': { type: 'string' },
  'cors-origins': { type: 'string' },
  'max-body': { type: 'string' },
  'max-event-clients': { type: 'string' },
  'max-log-follows': { type: 'string' },
  'accept-status-reports': { type: 'boolean' },
  'start-timeout': { type: 'string' },
  'reply-timeout': { type: 'string' },
  platform: { type: 'string' },
  platforms: { type: 'string' },
  'docker-host': { type: 'string' },
  'docker-image': { type: 'string' },
  'docker-network': { type: 'string' },
  kubeconfig: { type: 'string' },
  'kube-context': { type: 'string' },
  'kube-namespace': { type: 'string' },
  'kube-image': { type: 'string' },
  'data-dir': { type: 'string' },
  'drasi-server': { type: 'string' },
  ports: { type: 'string' },
  'stop-grace': { type: 'string' },
  'shutdown-grace': { type: 'string' },
  'worker-id': { type: 'string' },
  'stop-on-exit': { type: 'boolean' },
  redis: { type: 'string' },
  'redis-prefix': { type: 'string' },
  'claim-idle': { type: 'string' },
  'max-deliveries': { type: 'string' },
  'replica-id': { type: 'string' },
  lease: { type: 'string' },
  'worker-lost-timeout': { type: 'string' },
  'reconcile-interval': { type: 'string' },
  shards: { type: 'string' },
  allow: { type: 'string', multiple: true },
  'deny-env': { type: 'string', multiple: true },
  'log-level': { type: 'string' },
  'log-format': { type: 'string' },
  'metrics-port': { type: 'string' },
  'metrics-host': { type: 'string' },
  auth: { type: 'boolean' },
  'oidc-issuer': { type: 'string' },
  'oidc-audience': { type: 'string' },
  'oidc-role-claim': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean', short: 'v' },
} as const satisfies ParseArgsConfig['options'];

type OptionName = keyof typeof optionSpec;

const httpOptions: OptionName[] = [
  'port', 'host', 'allowed-hosts', 'cors-origins', 'max-body', 'max-event-clients', 'max-log-follows', 'accept-status-reports',
  'auth', 'oidc-issuer', 'oidc-audience', 'oidc-role-claim',
];

const logOptions = ['log-level', 'log-format'] as const satisfies OptionName[];

const dockerOptions = ['docker-host', 'docker-image', 'docker-network'] as const satisfies OptionName[];
const kubernetesOptions = ['kubeconfig', 'kube-context', 'kube-namespace', 'kube-image'] as const satisfies OptionName[];

const allowed: Record<'up' | 'control-plane' | 'worker', OptionName[]> = {
  up: [
    ...httpOptions, 'start-timeout', 'reply-timeout', 'reconcile-interval', 'data-dir', 'drasi-server', 'ports', 'stop-grace', 'stop-on-exit', 'platforms',
    ...dockerOptions, ...kubernetesOptions, 'shutdown-grace', 'allow', 'deny-env', 'metrics-port', 'metrics-host', ...logOptions,
  ],
  'control-plane': [
    ...httpOptions, 'start-timeout', 'reply-timeout', 'reconcile-interval', 'stop-grace', 'redis', 'redis-prefix', 'claim-idle', 'max-deliveries',
    'replica-id', 'lease', 'shards', 'worker-lost-timeout', 'shutdown-grace', 'allow', 'deny-env', 'metrics-port', 'metrics-host', ...logOptions,
  ],
  worker: [
    'platform', 'data-dir', 'drasi-server', 'ports', 'stop-grace', 'worker-id', 'redis', 'redis-prefix', 'claim-idle', 'max-deliveries',
    ...dockerOptions, ...kubernetesOptions, 'shutdown-grace', 'metrics-port', 'metrics-host', ...logOptions,
  ],
};

/** What the REST API is given (see `HttpAppOptions`). */
export type HttpAppSettings = Required<
  Pick<HttpAppOptions, 'allowedHosts' | 'corsOrigins' | 'maxBodyBytes' | 'maxEventClients' | 'maxLogFollows' | 'acceptStatusReports'>
>;

export interface HttpSettings {
  port: number;
  host: string;
  app: HttpAppSettings;
}
export interface LifecycleSettings {
  startTimeoutMs: number;
  replySlackMs: number;
  stopGraceMs: number;
  /** control-plane only: when a Running instance whose worker is lost is started elsewhere; null: never. */
  workerLostTimeoutMs?: number | null;
  /** How often each instance is compared with what runs; null: only when asked. */
  reconcileIntervalMs: number | null;
}
export interface WorkloadSettings {
  dataDir: string;
  drasiServer: string;
  ports: { min: number; max: number };
  stopGraceMs: number;
  docker: DockerWorkerSettings;
  kubernetes: KubernetesWorkerSettings;
}
export interface RedisSettings {
  url: string;
  prefix: string;
  claimIdleMs: number;
  maxDeliveries: number;
}

/** What instances may ask for beyond the safe defaults (see src/api/operator-policy.ts). */
export interface PolicySettings {
  allow: AllowSwitch[];
  /** Beyond the built-in list: `NAME` or `PREFIX*`. */
  deniedEnvironment: string[];
}

/** Where and how the command logs (see src/observability/), and whether it exports traces. */
export interface ObservabilitySettings {
  logLevel: LogThreshold;
  /** Undefined: pretty when stderr is a terminal, else json (decided at start). */
  logFormat?: LogFormat;
  tracing: TraceSettings;
}

/** The listener that serves GET /metrics alone (`--metrics-port`). */
export interface MetricsSettings {
  port: number;
  host: string;
}

/** `--auth` and its OIDC issuer. */
export interface AuthCliSettings {
  oidc?: { issuer: string; audience: string; roleClaim: string };
}

/** Where `draas tokens` and `draas audit` find the tokens and the audit log. */
export type AuthStoreLocation = { kind: 'file'; dataDir: string } | { kind: 'redis'; url: string; prefix: string };

export interface ReplicaSettings {
  replicaId?: string;
  leaseMs: number;
  shardCount: number;
}

export type CliCommand =
  | { command: 'help' }
  | { command: 'version' }
  | { command: 'machine'; format: MachineFormat }
  | {
      command: 'up';
      http: HttpSettings;
      lifecycle: LifecycleSettings;
      workloads: WorkloadSettings;
      stopOnExit: boolean;
      policy: PolicySettings;
      /** Undefined: no authentication. */
      auth?: AuthCliSettings;
      /** Undefined: process, plus docker when an engine answers (decided at start). */
      platforms?: PlatformType[];
      shutdownGraceMs: number;
      observability: ObservabilitySettings;
      metrics?: MetricsSettings;
    }
  | {
      command: 'control-plane';
      http: HttpSettings;
      lifecycle: LifecycleSettings;
      redis: RedisSettings;
      replicas: ReplicaSettings;
      policy: PolicySettings;
      auth?: AuthCliSettings;
      shutdownGraceMs: number;
      observability: ObservabilitySettings;
      metrics?: MetricsSettings;
    }
  | { command: 'tokens'; action: 'add'; name: string; role: Role; store: AuthStoreLocation }
  | { command: 'tokens'; action: 'list'; store: AuthStoreLocation }
  | { command: 'tokens'; action: 'revoke'; name: string; store: AuthStoreLocation }
  | { command: 'audit'; limit: number; after?: string; store: AuthStoreLocation }
  | {
      command: 'worker';
      platform: PlatformType;
      workerId?: string;
      workloads: WorkloadSettings;
      redis: RedisSettings;
      shutdownGraceMs: number;
      observability: ObservabilitySettings;
      metrics?: MetricsSettings;
    };

function integer(flag: string, value: string, min: number, max: number): number {
  const n = Number(value);
  if (!/^\d+$/.test(value.trim()) || !Number.isInteger(n) || n < min || n > max) {
    throw new UsageError(`--${flag} must be an integer from ${min} to ${max}, got "${value}"`);
  }
  return n;
}

/** A switch set by its flag or by its variable: 1/true or 0/false (or empty). */
function envSwitch(envName: string, value: string | undefined): boolean {
  if (value === undefined) return false;
  const normalized = value.trim().toLowerCase();
  if (normalized === '1' || normalized === 'true') return true;
  if (normalized === '0' || normalized === 'false' || normalized === '') return false;
  throw new UsageError(`${envName} must be 1 or 0, got "${value}"`);
}

/** A comma-separated list, each entry checked by `parse` (which throws a readable Error). */
function list<T>(flag: string, value: string | undefined, parse: (entry: string) => T): T[] {
  const entries = (value ?? '').split(',').map((entry) => entry.trim()).filter((entry) => entry !== '');
  return entries.map((entry) => {
    try {
      return parse(entry);
    } catch (error) {
      throw new UsageError(`--${flag}: ${error instanceof Error ? error.message : String(error)}`);
    }
  });
}

/**
 * The host names the API answers for: the listed ones, and the bind
 * address when it is a name (IP addresses and localhost always are).
 */
function allowedHosts(listed: string[], bindHost: string): string[] {
  if (listed.includes('*')) return ['*'];
  const name = bindHost.toLowerCase();
  const bindName = isIP(name) === 0 && name !== 'localhost' && !listed.some((entry) => entry.toLowerCase() === name);
  return bindName ? [...listed, name] : listed;
}

function platformName(flag: string, value: string): PlatformType {
  if (!(platformTypes as readonly string[]).includes(value)) {
    throw new UsageError(`--${flag} must be one of ${platformTypes.join(', ')}, got "${value}"`);
  }
  return value as PlatformType;
}

function platformList(value: string): PlatformType[] {
  const names = value.split(',').map((name) => name.trim()).filter((name) => name !== '');
  if (names.length === 0) throw new UsageError('--platforms must name at least one platform, e.g. process,docker');
  return [...new Set(names.map((name) => platformName('platforms', name)))];
}

function dockerSettings(host: string | undefined, image: string | undefined, network: string | undefined): DockerWorkerSettings {
  if (image !== undefined && !imageReferenceSchema.safeParse(image).success) {
    throw new UsageError(`--docker-image must be an image reference such as ${defaultDockerImage}, got "${image}"`);
  }
  if (network !== undefined && !(dockerNetworkModes as readonly string[]).includes(network)) {
    throw new UsageError(`--docker-network must be ${dockerNetworkModes.join(' or ')}, got "${network}"`);
  }
  return {
    ...(host ? { host } : {}),
    image: image ?? defaultDockerImage,
    ...(network !== undefined ? { network: network as DockerNetworkMode } : {}),
  };
}

function kubernetesSettings(kubeconfig: string | undefined, context: string | undefined, namespace: string | undefined, image: string | undefined): KubernetesWorkerSettings {
  if (namespace !== undefined && !kubernetesNameSchema.safeParse(namespace).success) {
    throw new UsageError(`--kube-namespace must be a Kubernetes namespace name (lower-case letters, digits and "-", at most 63), got "${namespace}"`);
  }
  if (image !== undefined && !imageReferenceSchema.safeParse(image).success) {
    throw new UsageError(`--kube-image must be an image reference such as ${defaultDockerImage}, got "${image}"`);
  }
  if (context !== undefined && context.trim() === '') throw new UsageError('--kube-context must name a context of the kubeconfig');
  return {
    ...(kubeconfig ? { kubeconfig } : {}),
    ...(context !== undefined ? { context } : {}),
    namespace: namespace ?? defaultKubernetesNamespace,
    image: image ?? defaultDockerImage,
  };
}

function portRange(value: string): { min: number; max: number } {
  const match = /^(\d+)-(\d+)$/.exec(value);
  if (!match) throw new UsageError(`--ports must look like 18080-18999, got "${value}"`);
  const min = integer('ports', match[1]!, 1, 65535);
  const max = integer('ports', match[2]!, 1, 65535);
  if (min > max) throw new UsageError(`--ports: ${min} is above ${max}`);
  return { min, max };
}

/** Repeated flags and comma lists, e.g. `--allow plugins --allow a,b`: the flags if given, else the variable. */
function listOf(given: string | boolean | string[] | undefined, fromEnv: string | undefined): string[] {
  const items = Array.isArray(given) ? given : fromEnv !== undefined ? [fromEnv] : [];
  return items.flatMap((item) => item.split(',')).map((item) => item.trim()).filter((item) => item !== '');
}

function policySettings(allow: string[], denied: string[]): PolicySettings {
  for (const name of allow) {
    if (!(ALLOW_SWITCHES as readonly string[]).includes(name)) throw new UsageError(`--allow must be one of ${ALLOW_SWITCHES.join(', ')}, got "${name}"`);
  }
  const deniedEnvironment = denied.map((pattern) => {
    try {
      return parseDeniedPattern(pattern);
    } catch (error) {
      throw new UsageError(`--deny-env: ${error instanceof Error ? error.message : String(error)}`);
    }
  });
  return { allow: [...new Set(allow as AllowSwitch[])], deniedEnvironment: [...new Set(deniedEnvironment)] };
}

function observabilitySettings(level: string, format: string | undefined, env: Env): ObservabilitySettings {
  if (!(logThresholds as readonly string[]).includes(level)) throw new UsageError(`--log-level must be one of ${logThresholds.join(', ')}, got "${level}"`);
  if (format !== undefined && !(logFormats as readonly string[]).includes(format)) {
    throw new UsageError(`--log-format must be ${logFormats.join(' or ')}, got "${format}"`);
  }
  let tracing: TraceSettings;
  try {
    tracing = traceSettings(env);
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
  return { logLevel: level as LogThreshold, ...(format !== undefined ? { logFormat: format as LogFormat } : {}), tracing };
}

/** `draas machine [--format json|mermaid|dot]`: its own small set of options, none of the server's. */
function machineCommand(args: string[]): CliCommand {
  let values: { format?: string | undefined; help?: boolean | undefined; version?: boolean | undefined };
  try {
    ({ values } = parseArgs({
      args,
      options: { format: { type: 'string' }, help: { type: 'boolean', short: 'h' }, version: { type: 'boolean', short: 'v' } },
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    throw new UsageError(`machine: ${error instanceof Error ? error.message : String(error)}`);
  }
  if (values.help) return { command: 'help' };
  if (values.version) return { command: 'version' };
  const format = values.format ?? 'json';
  if (!(machineFormats as readonly string[]).includes(format)) {
    throw new UsageError(`--format must be one of ${machineFormats.join(', ')}, got "${format}"`);
  }
  return { command: 'machine', format: format as MachineFormat };
}

/** `--auth` / DRAAS_AUTH and the OIDC flags; undefined without auth. */
function authSettings(enabled: boolean, issuer: string | undefined, audience: string | undefined, roleClaim: string | undefined): AuthCliSettings | undefined {
  const oidcGiven = issuer !== undefined || audience !== undefined || roleClaim !== undefined;
  if (!enabled) {
    if (oidcGiven) throw new UsageError('--oidc-issuer, --oidc-audience and --oidc-role-claim apply with --auth (DRAAS_AUTH=1) only');
    return undefined;
  }
  if (!oidcGiven) return {};
  if (issuer === undefined || issuer === '') throw new UsageError('--oidc-audience and --oidc-role-claim need --oidc-issuer <url>');
  let url: URL;
  try {
    url = new URL(issuer);
  } catch {
    throw new UsageError(`--oidc-issuer must be a URL such as https://login.example.com/realms/ops, got "${issuer}"`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new UsageError(`--oidc-issuer must be an https URL, got "${issuer}"`);
  if (audience === undefined || audience.trim() === '') throw new UsageError('--oidc-issuer needs --oidc-audience <aud>: the audience (client id) its tokens must name');
  const claim = roleClaim ?? 'roles';
  if (!/^[\w:/-]+(\.[\w:/-]+)*$/.test(claim)) throw new UsageError(`--oidc-role-claim must be a claim name or a dotted path such as realm_access.roles, got "${claim}"`);
  return { oidc: { issuer, audience, roleClaim: claim } };
}

const storeOptions = {
  'data-dir': { type: 'string' },
  redis: { type: 'string' },
  'redis-prefix': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies ParseArgsConfig['options'];

/** The tokens and audit log of `--data-dir` or `--redis` (flags first, then DRAAS_REDIS_URL, then DRAAS_DATA_DIR / ./.draas). */
function storeLocation(values: { 'data-dir'?: string | undefined; redis?: string | undefined; 'redis-prefix'?: string | undefined }, env: Env): AuthStoreLocation {
  if (values['data-dir'] !== undefined && values.redis !== undefined) throw new UsageError('give --data-dir (embedded) or --redis (cluster), not both');
  const url = values.redis ?? (values['data-dir'] === undefined ? env.DRAAS_REDIS_URL : undefined);
  if (url !== undefined && url !== '') {
    if (!/^rediss?:\/\//.test(url)) throw new UsageError(`--redis must be a redis:// or rediss:// URL, got "${url}"`);
    return { kind: 'redis', url, prefix: values['redis-prefix'] ?? env.DRAAS_REDIS_PREFIX ?? 'draas:' };
  }
  if (values['redis-prefix'] !== undefined) throw new UsageError('--redis-prefix applies with --redis only');
  return { kind: 'file', dataDir: values['data-dir'] ?? env.DRAAS_DATA_DIR ?? './.draas' };
}

function parseOrUsage<T extends ParseArgsConfig>(what: string, config: T): ReturnType<typeof parseArgs<T>> {
  try {
    return parseArgs(config);
  } catch (error) {
    throw new UsageError(`${what}: ${error instanceof Error ? error.message : String(error)}`);
  }
}

/** `draas tokens add|list|revoke …` */
function tokensCommand(args: string[], env: Env): CliCommand {
  const { values, positionals } = parseOrUsage('tokens', { args, options: { ...storeOptions, role: { type: 'string' } }, strict: true, allowPositionals: true });
  if (values.help) return { command: 'help' };
  const [action, ...rest] = positionals;
  const store = () => storeLocation(values, env);
  switch (action) {
    case 'add': {
      if (rest.length !== 1) throw new UsageError('usage: draas tokens add <name> --role <viewer|operator|admin>');
      if (values.role === undefined) throw new UsageError(`tokens add needs --role: one of ${roles.join(', ')}`);
      if (!(roles as readonly string[]).includes(values.role)) throw new UsageError(`--role must be one of ${roles.join(', ')}, got "${values.role}"`);
      return { command: 'tokens', action, name: tokenName(rest[0]!), role: values.role as Role, store: store() };
    }
    case 'list':
      if (rest.length > 0 || values.role !== undefined) throw new UsageError('usage: draas tokens list');
      return { command: 'tokens', action, store: store() };
    case 'revoke':
      if (rest.length !== 1 || values.role !== undefined) throw new UsageError('usage: draas tokens revoke <name>');
      return { command: 'tokens', action, name: tokenName(rest[0]!), store: store() };
    default:
      throw new UsageError(`tokens: expected add, list or revoke${action === undefined ? '' : `, got "${action}"`}`);
  }
}

function tokenName(name: string): string {
  if (!/^[A-Za-z0-9][A-Za-z0-9_.@-]{0,62}$/.test(name)) {
    throw new UsageError(`a token name is 1-63 letters, digits, "_", ".", "@" or "-", starting with a letter or digit; got "${name}"`);
  }
  return name;
}

/** `draas audit [--limit n] [--after cursor]` */
function auditCommand(args: string[], env: Env): CliCommand {
  const { values } = parseOrUsage('audit', { args, options: { ...storeOptions, limit: { type: 'string' }, after: { type: 'string' } }, strict: true, allowPositionals: false });
  if (values.help) return { command: 'help' };
  return {
    command: 'audit',
    limit: integer('limit', values.limit ?? '100', 1, 100_000),
    ...(values.after !== undefined ? { after: values.after } : {}),
    store: storeLocation(values, env),
  };
}

export function parseCommandLine(argv: string[], env: Env): CliCommand {
  const [command, ...args] = argv;
  if (command === undefined || command === 'help' || command === '-h' || command === '--help') return { command: 'help' };
  if (command === 'version' || command === '-v' || command === '--version') return { command: 'version' };
  if (command === 'machine') return machineCommand(args);
  if (command === 'tokens') return tokensCommand(args, env);
  if (command === 'audit') return auditCommand(args, env);
  if (command !== 'up' && command !== 'control-plane' && command !== 'worker') {
    throw new UsageError(`unknown command "${command}" (expected up, control-plane, worker, machine, tokens or audit)`);
  }
  let values: Partial<Record<OptionName, string | boolean | string[]>>;
  try {
    ({ values } = parseArgs({ args, options: optionSpec, strict: true, allowPositionals: false }));
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
  if (values.help) return { command: 'help' };
  if (values.version) return { command: 'version' };
  for (const name of Object.keys(values) as OptionName[]) {
    if (name !== 'help' && name !== 'version' && !allowed[command].includes(name)) throw new UsageError(`--${name} does not apply to "draas ${command}"`);
  }
  const value = (name: OptionName, envName: string, fallback?: string): string | undefined => {
    const given = values[name];
    return typeof given === 'string' ? given : (env[envName] ?? fallback);
  };
  const need = (name: OptionName, envName: string, fallback: string): string => value(name, envName, fallback) ?? fallback;
  const observability = () => observabilitySettings(need('log-level', 'DRAAS_LOG_LEVEL', 'info'), value('log-format', 'DRAAS_LOG_FORMAT') || undefined, env);
  const policy = (): PolicySettings => policySettings(listOf(values.allow, env.DRAAS_ALLOW), listOf(values['deny-env'], env.DRAAS_DENY_ENV));
  const auth = (): { auth?: AuthCliSettings } => {
    const settings = authSettings(
      values.auth === true || envSwitch('DRAAS_AUTH', env.DRAAS_AUTH),
      value('oidc-issuer', 'DRAAS_OIDC_ISSUER'),
      value('oidc-audience', 'DRAAS_OIDC_AUDIENCE'),
      value('oidc-role-claim', 'DRAAS_OIDC_ROLE_CLAIM'),
    );
    return settings !== undefined ? { auth: settings } : {};
  };

  const http = (): HttpSettings => {
    const host = need('host', 'DRAAS_HOST', '127.0.0.1');
    const hosts = list('allowed-hosts', value('allowed-hosts', 'DRAAS_ALLOWED_HOSTS'), (entry) => (parseAllowedHost(entry), entry));
    return {
      port: integer('port', need('port', 'DRAAS_PORT', '5087'), 0, 65535),
      host,
      app: {
        allowedHosts: allowedHosts(hosts, host),
        corsOrigins: list('cors-origins', value('cors-origins', 'DRAAS_CORS_ORIGINS'), parseCorsOrigin),
        maxBodyBytes: integer('max-body', need('max-body', 'DRAAS_MAX_BODY_BYTES', String(DEFAULT_MAX_BODY_BYTES)), 1_024, 104_857_600),
        maxEventClients: integer('max-event-clients', need('max-event-clients', 'DRAAS_MAX_EVENT_CLIENTS', String(DEFAULT_MAX_EVENT_CLIENTS)), 0, 100_000),
        maxLogFollows: integer('max-log-follows', need('max-log-follows', 'DRAAS_MAX_LOG_FOLLOWS', String(DEFAULT_MAX_LOG_FOLLOWS)), 0, 10_000),
        acceptStatusReports: values['accept-status-reports'] === true || envSwitch('DRAAS_ACCEPT_STATUS_REPORTS', env.DRAAS_ACCEPT_STATUS_REPORTS),
      },
    };
  };
  /** The metrics listener, when a port is given; its port must not be the API's on the same address. */
  const metrics = (api?: { port: number; host: string }): { metrics?: MetricsSettings } => {
    const port = value('metrics-port', 'DRAAS_METRICS_PORT');
    const host = value('metrics-host', 'DRAAS_METRICS_HOST');
    if (port === undefined || port === '') {
      if (values['metrics-host'] !== undefined) throw new UsageError('--metrics-host needs --metrics-port (or DRAAS_METRICS_PORT)');
      return {};
    }
    const settings = { port: integer('metrics-port', port, 1, 65535), host: host ?? '127.0.0.1' };
    if (settings.host.trim() === '') throw new UsageError('--metrics-host must be an address to bind, e.g. 127.0.0.1 or 0.0.0.0');
    if (api !== undefined && api.port === settings.port && (api.host === settings.host || [api.host, settings.host].some((h) => h === '0.0.0.0' || h === '::'))) {
      throw new UsageError(`--metrics-port ${settings.port} is the API's port (--port); give the metrics a port of their own`);
    }
    return { metrics: settings };
  };
  const stopGraceMs = () => integer('stop-grace', need('stop-grace', 'DRAAS_STOP_GRACE_MS', '10000'), 0, 3_600_000);
  const shutdownGraceMs = () => integer('shutdown-grace', need('shutdown-grace', 'DRAAS_SHUTDOWN_GRACE_MS', '15000'), 100, 3_600_000);
  const lifecycle = (): LifecycleSettings => ({
    startTimeoutMs: integer('start-timeout', need('start-timeout', 'DRAAS_START_TIMEOUT_MS', '30000'), 100, 3_600_000),
    replySlackMs: integer('reply-timeout', need('reply-timeout', 'DRAAS_REPLY_TIMEOUT_MS', '10000'), 100, 3_600_000),
    stopGraceMs: stopGraceMs(),
    reconcileIntervalMs: integer('reconcile-interval', need('reconcile-interval', 'DRAAS_RECONCILE_INTERVAL_MS', '30000'), 0, 86_400_000) || null,
  });
  const workloads = (): WorkloadSettings => ({
    dataDir: need('data-dir', 'DRAAS_DATA_DIR', './.draas'),
    drasiServer: need('drasi-server', 'DRAAS_DRASI_SERVER', 'drasi-server'),
    ports: portRange(need('ports', 'DRAAS_SERVER_PORTS', '18080-18999')),
    stopGraceMs: stopGraceMs(),
    docker: dockerSettings(value('docker-host', 'DOCKER_HOST'), value('docker-image', 'DRAAS_DOCKER_IMAGE'), value('docker-network', 'DRAAS_DOCKER_NETWORK')),
    kubernetes: kubernetesSettings(
      value('kubeconfig', 'KUBECONFIG'),
      value('kube-context', 'DRAAS_KUBE_CONTEXT'),
      value('kube-namespace', 'DRAAS_KUBE_NAMESPACE'),
      value('kube-image', 'DRAAS_KUBE_IMAGE'),
    ),
  });
  const redis = (): RedisSettings => {
    const url = value('redis', 'DRAAS_REDIS_URL');
    if (!url) throw new UsageError(`"draas ${command}" needs --redis <url> (or DRAAS_REDIS_URL)`);
    if (!/^rediss?:\/\//.test(url)) throw new UsageError(`--redis must be a redis:// or rediss:// URL, got "${url}"`);
    return {
      url,
      prefix: need('redis-prefix', 'DRAAS_REDIS_PREFIX', 'draas:'),
      claimIdleMs: integer('claim-idle', need('claim-idle', 'DRAAS_CLAIM_IDLE_MS', '30000'), 100, 86_400_000),
      maxDeliveries: integer('max-deliveries', need('max-deliveries', 'DRAAS_MAX_DELIVERIES', '5'), 1, 1_000),
    };
  };

  switch (command) {
    case 'up': {
      const platforms = value('platforms', 'DRAAS_PLATFORMS');
      const api = http();
      return {
        command,
        http: api,
        ...metrics(api),
        lifecycle: lifecycle(),
        workloads: workloads(),
        stopOnExit: values['stop-on-exit'] === true || env.DRAAS_STOP_ON_EXIT === '1',
        policy: policy(),
        ...auth(),
        shutdownGraceMs: shutdownGraceMs(),
        observability: observability(),
        ...(platforms !== undefined ? { platforms: platformList(platforms) } : {}),
      };
    }
    case 'control-plane': {
      const replicaId = value('replica-id', 'DRAAS_REPLICA_ID');
      if (replicaId !== undefined && !/^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/.test(replicaId)) {
        throw new UsageError(`--replica-id must be 1-63 letters, digits, "_", "." or "-", starting with a letter or digit, got "${replicaId}"`);
      }
      const replicas: ReplicaSettings = {
        ...(replicaId !== undefined ? { replicaId } : {}),
        leaseMs: integer('lease', need('lease', 'DRAAS_LEASE_MS', '10000'), 300, 600_000),
        shardCount: integer('shards', need('shards', 'DRAAS_SHARDS', '16'), 1, 4_096),
      };
      const lostTimeout = value('worker-lost-timeout', 'DRAAS_WORKER_LOST_TIMEOUT_MS', 'never');
      const workerLostTimeoutMs = lostTimeout === undefined || lostTimeout === 'never' ? null : integer('worker-lost-timeout', lostTimeout, 0, 86_400_000);
      const api = http();
      return {
        command,
        http: api,
        ...metrics(api),
        lifecycle: { ...lifecycle(), workerLostTimeoutMs },
        redis: redis(),
        replicas,
        policy: policy(),
        ...auth(),
        shutdownGraceMs: shutdownGraceMs(),
        observability: observability(),
      };
    }
    case 'worker': {
      const platform = platformName('platform', need('platform', 'DRAAS_PLATFORM', 'process'));
      const platformOnly: [PlatformType, readonly OptionName[]][] = [['docker', dockerOptions], ['kubernetes', kubernetesOptions]];
      for (const [owner, names] of platformOnly) {
        if (platform === owner) continue;
        for (const name of names) {
          if (values[name] !== undefined) throw new UsageError(`--${name} applies to "draas worker --platform ${owner}" only`);
        }
      }
      const workerId = value('worker-id', 'DRAAS_WORKER_ID');
      return {
        command,
        platform,
        ...(workerId ? { workerId } : {}),
        workloads: workloads(),
        redis: redis(),
        shutdownGraceMs: shutdownGraceMs(),
        observability: observability(),
        ...metrics(),
      };
    }
  }
}
