/**
 * Engines a suite needs (redis-server; later dockerd). On a developer laptop
 * without one, the suite registers a single test that says it skipped and
 * why; in CI (DRAAS_REQUIRE_ENGINES=1) a missing engine fails the run.
 */
import { execFileSync } from 'node:child_process';
import test from 'ava';

export function onPath(command: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** True when the engine is there. Otherwise registers the skip notice (or throws in CI) and returns false. */
export function engineAvailable(command: 'redis-server', suite: string): boolean {
  return toolAvailable(command, suite);
}

/**
 * Any command-line tool a suite needs (redis-server, kubectl, openssl, …):
 * true when it is on PATH; otherwise one SKIPPED notice, or a loud failure
 * under DRAAS_REQUIRE_ENGINES=1.
 */
export function toolAvailable(command: string, suite: string): boolean {
  if (!/^[A-Za-z0-9._-]+$/.test(command)) throw new Error(`toolAvailable: not a plain command name: ${command}`);
  if (onPath(command)) return true;
  const message = `${suite}: ${command} is not on PATH`;
  if (process.env.DRAAS_REQUIRE_ENGINES === '1') throw new Error(`${message}, and DRAAS_REQUIRE_ENGINES=1 requires it`);
  test(`${suite}: SKIPPED — ${command} not found (install it, or set DRAAS_REQUIRE_ENGINES=1 to make this a failure)`, (t) => {
    t.log(message);
    t.pass();
  });
  return false;
}

export type AvaTest = typeof test;

/** Registers nothing: stands in for `test` (and `test.before`, `test.serial`, …) when an engine is missing. */
export const inert: AvaTest = new Proxy(() => undefined, {
  get: () => inert,
  apply: () => undefined,
}) as unknown as AvaTest;

/**
 * `test`, or an inert stand-in plus one SKIPPED notice when `redis-server` is
 * missing; `available` guards suites registered by other helpers.
 */
export function testWithRedis(suite: string): { test: AvaTest; available: boolean } {
  const available = engineAvailable('redis-server', suite);
  return { test: available ? test : inert, available };
}
