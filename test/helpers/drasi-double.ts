/**
 * Runs the Drasi Server double (test/fixtures/drasi-server-double.mjs) as a
 * real child process on a config document, for tests that talk to its HTTP
 * API. One implementation, shared by the double's own API tests and the
 * component-api client tests.
 */
import type { ExecutionContext } from 'ava';
import { execa } from 'execa';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { doubleExecutable, tempDir } from '../platforms/_support.js';

export interface RunningDouble {
  /** `http://127.0.0.1:<port>` */
  origin: string;
  port: number;
  pid: number;
  /** The config file it was started on (rewritten by the double when it persists changes). */
  file: string;
  dir: string;
  /** Its stdout, line by line, as it comes. */
  lines: string[];
  /** SIGKILL; resolves once it has exited. */
  kill(): Promise<void>;
}

export interface DoubleLaunch {
  /** The config file's content (written as YAML). */
  document: Record<string, unknown>;
  /** Extra environment (knobs); the rest is a clean PATH. */
  env?: Record<string, string>;
  /** A free port (each test file has its own picker, see `portPicker`). */
  port: () => Promise<number>;
  /** Temp dir prefix. */
  prefix?: string;
}

/** A running double process: its pid, the port it bound, its stdout lines as they come, its exit. */
export interface DoubleProcess {
  pid: number;
  port: number;
  lines: string[];
  exited: Promise<{ exitCode: number | undefined; signal: string | undefined }>;
}

/**
 * Starts the double with these arguments (only PATH and `env` in its
 * environment) and resolves once it printed its `started` line; SIGKILLed at
 * the end of the test.
 */
export async function startDoubleProcess(t: ExecutionContext, cwd: string, args: string[], env: Record<string, string> = {}): Promise<DoubleProcess> {
  const subprocess = execa(doubleExecutable, args, {
    cwd,
    env: { PATH: process.env.PATH ?? '', ...env },
    extendEnv: false,
    reject: false,
    buffer: false,
    stdin: 'ignore',
  });
  const pid = subprocess.pid!;
  t.teardown(() => {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  });
  const lines: string[] = [];
  let pending = '';
  const exited = subprocess.then((result) => ({ exitCode: result.exitCode, signal: result.signal }));
  const port = await new Promise<number>((resolve, reject) => {
    subprocess.stdout.on('data', (chunk: Buffer) => {
      pending += chunk.toString('utf8');
      const parts = pending.split('\n');
      pending = parts.pop() ?? '';
      for (const line of parts) {
        lines.push(line);
        if (line.startsWith('{"event":"started"')) resolve((JSON.parse(line) as { port: number }).port);
      }
    });
    void exited.then((result) => reject(new Error(`double exited (${JSON.stringify(result)}) before starting: ${lines.join('\n')}`)));
  });
  return { pid, port, lines, exited };
}

/** Starts the double on a config document and resolves once it serves; killed at the end of the test. */
export async function launchDouble(t: ExecutionContext, launch: DoubleLaunch): Promise<RunningDouble> {
  const dir = await tempDir(t, launch.prefix ?? 'double-');
  const file = path.join(dir, 'server.yaml');
  writeFileSync(file, YAML.stringify(launch.document));
  const { pid, port, lines, exited } = await startDoubleProcess(t, dir, ['--config', file, '--port', String(await launch.port())], {
    DRASI_DOUBLE_LOG_INTERVAL_MS: '0',
    ...launch.env,
  });
  const kill = async (): Promise<void> => {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
    await exited;
  };
  return { origin: `http://127.0.0.1:${port}`, port, pid, file, dir, lines, kill };
}
