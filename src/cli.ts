#!/usr/bin/env node
/**
 * The `draas` command. `draas up` runs the embedded control plane: REST API,
 * in-memory transport and a process worker in one process.
 */
import { parseArgs } from 'node:util';
import { createControlPlane } from './embedded.js';
import { errorMessage } from './errors.js';

const usage = `Usage: draas <command> [options]

Commands:
  up            Run the embedded control plane (REST API + process worker, no Redis)

Options for "up":
  --port <n>            HTTP port (env DRAAS_PORT, default 5087)
  --host <addr>         HTTP bind address (env DRAAS_HOST, default 127.0.0.1)
  --data-dir <dir>      Data directory (env DRAAS_DATA_DIR, default ./.draas)
  --drasi-server <path> Drasi Server executable (env DRAAS_DRASI_SERVER, default drasi-server on PATH)
  --ports <min-max>     Ports for Drasi Servers (env DRAAS_SERVER_PORTS, default 18080-18999)
  --start-timeout <ms>  Time a server has to answer /health (env DRAAS_START_TIMEOUT_MS, default 30000)
  --stop-grace <ms>     SIGINT → SIGKILL grace period (env DRAAS_STOP_GRACE_MS, default 10000)
  -h, --help            Show this help
`;

class UsageError extends Error {}

function integer(name: string, value: string, min: number, max: number): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max) throw new UsageError(`${name} must be an integer from ${min} to ${max}, got "${value}"`);
  return n;
}

function portRange(value: string): { min: number; max: number } {
  const match = /^(\d+)-(\d+)$/.exec(value);
  if (!match) throw new UsageError(`--ports must look like 18080-18999, got "${value}"`);
  const min = integer('--ports', match[1]!, 1, 65535);
  const max = integer('--ports', match[2]!, 1, 65535);
  if (min > max) throw new UsageError(`--ports: ${min} is above ${max}`);
  return { min, max };
}

async function up(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      port: { type: 'string' },
      host: { type: 'string' },
      'data-dir': { type: 'string' },
      'drasi-server': { type: 'string' },
      ports: { type: 'string' },
      'start-timeout': { type: 'string' },
      'stop-grace': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
    allowPositionals: false,
  });
  if (values.help) {
    process.stdout.write(usage);
    return;
  }
  const env = process.env;
  const port = integer('--port', values.port ?? env.DRAAS_PORT ?? '5087', 0, 65535);
  const host = values.host ?? env.DRAAS_HOST ?? '127.0.0.1';
  const dataDir = values['data-dir'] ?? env.DRAAS_DATA_DIR ?? './.draas';
  const drasiServer = values['drasi-server'] ?? env.DRAAS_DRASI_SERVER ?? 'drasi-server';
  const ports = portRange(values.ports ?? env.DRAAS_SERVER_PORTS ?? '18080-18999');
  const startTimeoutMs = integer('--start-timeout', values['start-timeout'] ?? env.DRAAS_START_TIMEOUT_MS ?? '30000', 100, 3_600_000);
  const stopGraceMs = integer('--stop-grace', values['stop-grace'] ?? env.DRAAS_STOP_GRACE_MS ?? '10000', 0, 3_600_000);

  const log = (message: string) => process.stderr.write(`${new Date().toISOString()} ${message}\n`);
  const draas = await createControlPlane({ dataDir, drasiServer, ports, startTimeoutMs, stopGraceMs, log });
  await draas.subscribe((event) => {
    const { from, to, reason } = event.payload;
    log(`instance ${event.instanceId}: ${from ?? '-'} → ${to}${reason ? ` (${reason})` : ''}`);
  });
  const { url } = await draas.listen({ port, host });
  log(`DRaaS control plane listening on ${url} (data dir ${dataDir}, Drasi Server "${drasiServer}")`);

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log(`${signal}: stopping running Drasi Servers and shutting down`);
    // Until workloads can be re-adopted after a restart, leaving them running would orphan them.
    const running = (await draas.list()).filter((instance) => ['Starting', 'Running', 'Failed'].includes(instance.status));
    await Promise.allSettled(running.map((instance) => draas.stop(instance.id)));
    await draas.close();
    process.exit(0);
  };
  process.on('SIGINT', () => void shutdown('SIGINT'));
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
}

async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'up':
      return up(rest);
    case undefined:
    case '-h':
    case '--help':
    case 'help':
      process.stdout.write(usage);
      return;
    default:
      throw new UsageError(`unknown command "${command}"`);
  }
}

main(process.argv.slice(2)).catch((error: unknown) => {
  const isUsage = error instanceof UsageError || (error instanceof TypeError && 'code' in error && String(error.code).startsWith('ERR_PARSE_ARGS'));
  process.stderr.write(`draas: ${errorMessage(error)}\n`);
  if (isUsage) process.stderr.write(`Run "draas --help" for usage.\n`);
  process.exit(isUsage ? 2 : 1);
});
