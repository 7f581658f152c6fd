#!/usr/bin/env node
/**
 * The `draas` command: `up` (embedded), `control-plane` and `worker` (cluster);
 * `machine` prints the lifecycle machine.
 * Every state change is printed as it happens, so a person sees progress.
 */
import { startClusterControlPlane, startClusterWorker } from './cluster.js';
import {
  parseCommandLine,
  usage,
  UsageError,
  type CliCommand,
  type AuthCliSettings,
  type AuthStoreLocation,
  type HttpSettings,
  type MetricsSettings,
  type ObservabilitySettings,
  type PolicySettings,
  type WorkloadSettings,
} from './cli-options.js';
import { FileAuditLog, RedisAuditLog, type AuditLog } from './auth/audit.js';
import { FileTokenStore } from './auth/file-token-store.js';
import { RedisTokenStore } from './auth/redis-token-store.js';
import type { AuthSettings } from './auth/settings.js';
import type { TokenStore } from './auth/tokens.js';
import { bindScope } from './drasi/bind-address.js';
import { createControlPlane } from './embedded.js';
import { errorMessage } from './errors.js';
import { instanceMachineText } from './machines/machine-document.js';
import type { HostedControlPlane } from './hosted-control-plane.js';
import { packageVersion } from './package-version.js';
import { kubernetesWorkerWanted, probeDockerEngine } from './platform-workers.js';
import type { PlatformType } from './platforms/driver.js';
import { defaultKubernetesNamespace } from './platforms/kubernetes-options.js';
import { toLogger, type LogFields, type Logger } from './observability/logger.js';
import { createPinoLogger } from './observability/pino-logger.js';
import type { TraceSdk } from './observability/trace-sdk.js';
import { within } from './time-bounds.js';

/**
 * The command's logger: pino to stderr once the command line is read
 * (`--log-level`, `--log-format`); plain lines before that.
 */
let logger: Logger = toLogger((message) => process.stderr.write(`${new Date().toISOString()} ${message}\n`));
const log = (message: string, fields?: LogFields) => logger.info(message, fields);
const warn = (message: string, fields?: LogFields) => logger.warn(message, fields);
/** Flushed and stopped before the process exits (the trace SDK, when one runs). */
let tracing: TraceSdk | undefined;

/** Sets up the logger and, when OTEL_* asks for it, the trace SDK (loaded only then). */
async function observe(settings: ObservabilitySettings, role: string): Promise<void> {
  logger = createPinoLogger({ level: settings.logLevel, format: settings.logFormat ?? (process.stderr.isTTY ? 'pretty' : 'json') }).child({ role });
  if (settings.tracing.exporters.length > 0) {
    const { startTraceSdk } = await import('./observability/trace-sdk.js');
    tracing = startTraceSdk(settings.tracing, { role });
    logger.info(`traces exported (${settings.tracing.exporters.join(', ')}; see the OTEL_* variables)`);
  }
}

/** Exports what the trace SDK still buffers, within `ms`. */
async function flushTraces(ms: number): Promise<void> {
  if (tracing) await within(tracing.shutdown(), ms);
}

/**
 * Runs `action` on the first SIGINT or SIGTERM and exits 0 when it is done.
 * It gets `graceMs`: if it is not done by then (a Redis that does not answer),
 * the process says what it gave up on and exits 1 — a shutdown always ends.
 */
function onShutdown(graceMs: number, pending: () => string[], action: (signal: string) => Promise<void>): void {
  let stopping = false;
  const handler = (signal: string) => {
    if (stopping) return;
    stopping = true;
    const began = Date.now();
    const timer = setTimeout(() => {
      const what = pending();
      logger.error(`shutdown: gave up after ${Date.now() - began} ms on: ${what.length > 0 ? what.join(', ') : 'closing'}`);
      process.exit(1);
    }, graceMs);
    action(signal).then(
      async () => {
        await flushTraces(Math.max(0, graceMs - (Date.now() - began)));
        clearTimeout(timer);
        process.exit(0);
      },
      (error: unknown) => {
        logger.error(`shutdown failed: ${errorMessage(error)}`);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
}

async function serve(controlPlane: HostedControlPlane, http: HttpSettings, auth: AuthCliSettings | undefined, what: string): Promise<void> {
  await controlPlane.subscribe((event) => {
    const { from, to, reason } = event.payload;
    const fields = { instanceId: event.instanceId, from: from ?? null, to };
    if (to === 'Failed') warn(`instance ${event.instanceId}: ${from ?? '-'} → ${to}${reason ? ` (${reason})` : ''}`, fields);
    else log(`instance ${event.instanceId}: ${from ?? '-'} → ${to}${reason ? ` (${reason})` : ''}`, fields);
  });
  const { url } = await controlPlane.listen({ port: http.port, host: http.host });
  log(`DRaaS ${what} listening on ${url}`, { url });
  log(`web console: ${url}/ui`);
  for (const note of httpNotes(http, auth)) warn(note);
}

/** What an operator should know about how the REST API is exposed. */
function httpNotes(http: HttpSettings, auth: AuthCliSettings | undefined): string[] {
  const notes: string[] = [];
  if (bindScope(http.host) === 'all-interfaces' && http.app.allowedHosts.length === 0) {
    notes.push('HTTP: requests are served for IP addresses and localhost only; name other hosts with --allowed-hosts (docs/security.md)');
  }
  if (http.app.allowedHosts.includes('*')) notes.push('HTTP: --allowed-hosts * answers any Host: only safe behind a proxy that checks it (DNS rebinding)');
  if (http.app.acceptStatusReports) {
    notes.push(`HTTP: status reports accepted (--accept-status-reports): ${auth !== undefined ? 'any admin' : 'any caller'} may mark an instance Failed`);
  }
  if (auth !== undefined) notes.push(`HTTP: every request but /healthz and /readyz needs a bearer token (--auth${auth.oidc !== undefined ? `; OIDC issuer ${auth.oidc.issuer}` : ''})`);
  return notes;
}

/** Where the metrics listener serves, when there is one. */
function logMetrics(metrics: MetricsSettings | undefined): void {
  if (metrics === undefined) return;
  const host = metrics.host.includes(':') ? `[${metrics.host}]` : metrics.host;
  log(`metrics: GET http://${host}:${metrics.port}/metrics (no token; --metrics-port)`);
}

/** What the operator let instances ask for beyond the defaults, so that it shows in the log. */
function logPolicy(policy: PolicySettings, auth: AuthCliSettings | undefined): void {
  if (policy.allow.length > 0) {
    warn(`policy: instances may ask for ${policy.allow.join(', ')} (--allow); ${auth !== undefined ? 'only admins may (--auth)' : 'nothing authenticates API callers (see --auth, docs/security.md)'}`);
  }
  if (policy.deniedEnvironment.length > 0) log(`policy: instance environments may also not set ${policy.deniedEnvironment.join(', ')} (--deny-env)`);
}

/**
 * `draas up` without `--platforms`: process; Docker when an engine answers;
 * Kubernetes when a kubeconfig is found (each only with its SDK installed).
 */
async function defaultPlatforms(workloads: WorkloadSettings): Promise<PlatformType[]> {
  const platforms: PlatformType[] = ['process'];
  const [docker, kubernetes] = await Promise.all([probeDockerEngine(workloads.docker.host), kubernetesWorkerWanted(workloads.kubernetes)]);
  if (docker.available) platforms.push('docker');
  else log(`no Docker worker (${docker.reason}); --platforms process,docker insists`);
  if (kubernetes.available) platforms.push('kubernetes');
  else log(`no Kubernetes worker (${kubernetes.reason}); --platforms process,kubernetes insists`);
  return platforms;
}

/** What a worker manages, in the words of its platform. */
function workerScope(platform: PlatformType, workloads: WorkloadSettings): string {
  switch (platform) {
    case 'process':
      return `data dir ${workloads.dataDir}`;
    case 'docker':
      return `Docker Engine ${workloads.docker.host ?? 'at the default socket'}`;
    case 'kubernetes':
      return `namespace ${workloads.kubernetes.namespace ?? defaultKubernetesNamespace}${workloads.kubernetes.context !== undefined ? `, context ${workloads.kubernetes.context}` : ''}`;
  }
}

function authOption(auth: AuthCliSettings | undefined): { auth?: AuthSettings } {
  if (auth === undefined) return {};
  return { auth: auth.oidc !== undefined ? { oidc: auth.oidc } : {} };
}

async function openTokens(store: AuthStoreLocation): Promise<TokenStore> {
  return store.kind === 'file' ? new FileTokenStore(store.dataDir) : RedisTokenStore.open({ url: store.url, prefix: store.prefix });
}

async function openAudit(store: AuthStoreLocation): Promise<AuditLog> {
  return store.kind === 'file' ? new FileAuditLog(store.dataDir) : RedisAuditLog.open({ url: store.url, prefix: store.prefix });
}

/** `draas tokens …`: prints the new token (once) on stdout, everything else for people on stderr. */
async function tokensCommand(cli: Extract<CliCommand, { command: 'tokens' }>): Promise<void> {
  const tokens = await openTokens(cli.store);
  try {
    switch (cli.action) {
      case 'add': {
        const { token, info } = await tokens.add(cli.name, cli.role);
        process.stdout.write(`${token}\n`);
        process.stderr.write(`token "${info.name}" (${info.role}) created; it is shown only now: keep it secret (send it as Authorization: Bearer <token>)\n`);
        return;
      }
      case 'list': {
        const list = await tokens.list();
        if (list.length === 0) {
          process.stderr.write('no tokens; make one with: draas tokens add <name> --role <viewer|operator|admin>\n');
          return;
        }
        const width = Math.max(4, ...list.map((token) => token.name.length));
        process.stdout.write(`${'NAME'.padEnd(width)}  ROLE      CREATED\n`);
        for (const token of list) process.stdout.write(`${token.name.padEnd(width)}  ${token.role.padEnd(8)}  ${token.createdAt}\n`);
        return;
      }
      case 'revoke':
        await tokens.revoke(cli.name);
        process.stderr.write(`token "${cli.name}" revoked\n`);
        return;
    }
  } finally {
    await tokens.close();
  }
}

async function auditCommand(cli: Extract<CliCommand, { command: 'audit' }>): Promise<void> {
  const audit = await openAudit(cli.store);
  try {
    const page = await audit.read({ limit: cli.limit, ...(cli.after !== undefined ? { after: cli.after } : {}) });
    for (const entry of page.entries) process.stdout.write(`${JSON.stringify(entry)}\n`);
    if (page.next !== undefined) process.stderr.write(`next: draas audit --after ${page.next}\n`);
  } finally {
    await audit.close();
  }
}

async function run(cli: CliCommand): Promise<void> {
  switch (cli.command) {
    case 'tokens':
      return tokensCommand(cli);
    case 'audit':
      return auditCommand(cli);
    case 'help':
      process.stdout.write(usage);
      return;
    case 'version':
      process.stdout.write(`${packageVersion()}\n`);
      return;
    case 'machine':
      process.stdout.write(instanceMachineText(cli.format));
      return;
    case 'up': {
      await observe(cli.observability, 'up');
      const platforms = cli.platforms ?? (await defaultPlatforms(cli.workloads));
      // The close timeout is a backstop behind the grace the CLI enforces itself.
      const draas = await createControlPlane({
        ...cli.workloads,
        ...cli.lifecycle,
        platforms,
        policy: cli.policy,
        log: logger,
        closeTimeoutMs: cli.shutdownGraceMs + 1_000,
        http: cli.http.app,
        ...(cli.metrics ? { metricsListener: cli.metrics } : {}),
        ...authOption(cli.auth),
      });
      logPolicy(cli.policy, cli.auth);
      logMetrics(cli.metrics);
      await serve(draas, cli.http, cli.auth, `control plane (embedded; platforms ${platforms.join(', ')}; data dir ${cli.workloads.dataDir}, Drasi Server "${cli.workloads.drasiServer}")`);
      onShutdown(cli.shutdownGraceMs, () => draas.closePending, async (signal) => {
        if (cli.stopOnExit) {
          log(`${signal}: stopping every Drasi Server (--stop-on-exit), then shutting down`);
          const live = (await draas.list()).filter((instance) => ['Starting', 'Running', 'Failed'].includes(instance.status));
          await Promise.allSettled(live.map((instance) => draas.stop(instance.id)));
        } else {
          log(`${signal}: shutting down; Drasi Servers keep running and are re-adopted by the next "draas up"`);
        }
        await draas.close();
      });
      return;
    }
    case 'control-plane': {
      await observe(cli.observability, 'control-plane');
      const redis = { ...cli.redis, log: logger.child({ component: 'redis' }) };
      const controlPlane = await startClusterControlPlane({
        ...cli.lifecycle,
        ...cli.replicas,
        redis,
        policy: cli.policy,
        log: logger,
        closeTimeoutMs: cli.shutdownGraceMs + 1_000,
        http: cli.http.app,
        ...(cli.metrics ? { metricsListener: cli.metrics } : {}),
        ...authOption(cli.auth),
      });
      logPolicy(cli.policy, cli.auth);
      logMetrics(cli.metrics);
      await serve(controlPlane, cli.http, cli.auth, `control plane (cluster; replica ${controlPlane.ownership.replicaId}; Redis prefix ${cli.redis.prefix})`);
      onShutdown(cli.shutdownGraceMs, () => controlPlane.closePending, async (signal) => {
        log(`${signal}: shutting down (workers keep their Drasi Servers running)`);
        await controlPlane.close();
      });
      return;
    }
    case 'worker': {
      await observe(cli.observability, 'worker');
      const redis = { ...cli.redis, log: logger.child({ component: 'redis' }) };
      const worker = await startClusterWorker({
        ...cli.workloads,
        platform: cli.platform,
        ...(cli.workerId ? { workerId: cli.workerId } : {}),
        ...(cli.metrics ? { metricsListener: cli.metrics } : {}),
        redis,
        log: logger,
      });
      logMetrics(cli.metrics);
      const unavailable = worker.worker.unavailableReason;
      log(
        unavailable === undefined
          ? `DRaaS ${cli.platform} worker ${worker.worker.workerId} consuming commands (${workerScope(cli.platform, cli.workloads)})`
          : `DRaaS ${cli.platform} worker ${worker.worker.workerId} is up but unavailable (${unavailable}); it takes commands once that is fixed`,
      );
      onShutdown(cli.shutdownGraceMs, () => [`worker ${worker.worker.workerId} (its consumers, its presence, its Redis connections)`], async (signal) => {
        log(`${signal}: worker shutting down (Drasi Servers keep running)`);
        await worker.close();
      });
      return;
    }
  }
}

try {
  await run(parseCommandLine(process.argv.slice(2), process.env));
} catch (error) {
  await flushTraces(2_000);
  process.stderr.write(`draas: ${errorMessage(error)}\n`);
  if (error instanceof UsageError) process.stderr.write('Run "draas --help" for usage.\n');
  process.exit(error instanceof UsageError ? 2 : 1);
}
