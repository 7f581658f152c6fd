#!/usr/bin/env node
/**
 * Runs ava (with the arguments given) under a stall watchdog: when no output
 * has come for DRAAS_TEST_STALL_MINUTES (default 8; the longest test takes
 * about a minute), ava gets SIGINT, which makes it print the tests still
 * pending and stop their workers; if it has not exited a minute later, its
 * whole process group is killed.
 *
 * Why: ava's own inactivity timeout (60 s) is skipped while any test's
 * t.timeout() period runs and is not armed again after (ava 7's
 * TimeoutTrigger), and a test file whose tests have ended is waited for
 * until its process exits. Either can leave a run waiting forever without
 * saying on what; this bounds it and names it.
 */
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import path from 'node:path';

const stallMinutes = Number(process.env.DRAAS_TEST_STALL_MINUTES ?? 8);
if (!(stallMinutes > 0)) {
  console.error(`DRAAS_TEST_STALL_MINUTES must be a positive number of minutes, got ${JSON.stringify(process.env.DRAAS_TEST_STALL_MINUTES)}`);
  process.exit(2);
}
const stallMs = stallMinutes * 60_000;
const KILL_AFTER_INTERRUPT_MS = 60_000;

// ava's package exports no CLI entry; it sits beside the main one.
const avaCli = path.join(path.dirname(createRequire(import.meta.url).resolve('ava')), 'cli.mjs');
// Piped output keeps ava's colours where the run itself is on a terminal.
const env = process.stdout.isTTY && process.env.FORCE_COLOR === undefined ? { ...process.env, FORCE_COLOR: '1' } : process.env;
// A group of its own, so that the workers and what they started can be killed together if ava does not exit.
const ava = spawn(process.execPath, [avaCli, ...process.argv.slice(2)], { env, stdio: ['inherit', 'pipe', 'pipe'], detached: true });

let stalled;
let killer;
let interrupted = false;
const watch = () => {
  clearTimeout(stalled);
  stalled = setTimeout(() => {
    process.stderr.write(`\n[run-tests] no output for ${stallMinutes} min: interrupting ava, which lists the tests still pending\n`);
    interrupted = true;
    ava.kill('SIGINT');
    killer = setTimeout(() => {
      process.stderr.write(`[run-tests] ava did not exit within ${KILL_AFTER_INTERRUPT_MS / 1000} s of SIGINT: killing its process group\n`);
      try {
        process.kill(-ava.pid, 'SIGKILL');
      } catch {
        // Gone meanwhile.
      }
    }, KILL_AFTER_INTERRUPT_MS);
  }, stallMs);
};
watch();
ava.stdout.on('data', (chunk) => {
  process.stdout.write(chunk);
  watch();
});
ava.stderr.on('data', (chunk) => {
  process.stderr.write(chunk);
  watch();
});

// ava runs in another process group: pass on what the terminal or CI sends.
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => ava.kill(signal));
}

// 'close': ava has exited and its output has been passed on.
ava.on('close', (code, signal) => {
  clearTimeout(stalled);
  clearTimeout(killer);
  process.exitCode = interrupted || signal !== null ? code || 1 : code;
});
