/**
 * Loaded into every test file's process (ava's `require`). Once a file's tests
 * have ended, its process should exit on its own; one that is kept alive (a
 * connection, a timer, a child process left open) is a leak that would hold
 * the whole run. After a grace period it is named with what holds it, and the
 * file fails. With DRAAS_TEST_TRACE_HANDLES=1 the report also gives where each
 * timer still pending was set.
 */
import { createHook } from 'node:async_hooks';
import { registerCompletionHandler } from 'ava';

const GRACE_MS = 20_000;

/** Creation stacks of the timers not yet fired or cleared, when tracing. */
const pendingTimers = process.env.DRAAS_TEST_TRACE_HANDLES === '1' ? traceTimers() : undefined;

function traceTimers(): Map<number, string> {
  const pending = new Map<number, string>();
  createHook({
    init(id, type) {
      if (type === 'Timeout') pending.set(id, new Error('timer set').stack ?? '');
    },
    destroy(id) {
      pending.delete(id);
    },
  }).enable();
  return pending;
}

registerCompletionHandler(() => {
  setTimeout(() => {
    const held = new Map<string, number>();
    for (const resource of process.getActiveResourcesInfo()) held.set(resource, (held.get(resource) ?? 0) + 1);
    const what = [...held].map(([resource, count]) => `${count} ${resource}`).join(', ') || 'nothing ava can see';
    // ava names the file beside the exit code; this says what held it.
    process.stderr.write(`\n  ✘ a test file's tests ended ${GRACE_MS / 1000} s ago but its process is held open by: ${what}\n`);
    if (pendingTimers) for (const stack of pendingTimers.values()) process.stderr.write(`${stack}\n`);
    else if (held.has('Timeout')) process.stderr.write('    (DRAAS_TEST_TRACE_HANDLES=1 says where each timer was set)\n');
    process.exit(1);
  }, GRACE_MS).unref();
});
