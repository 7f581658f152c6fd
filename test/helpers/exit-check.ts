/**
 * Loaded into every test file's process (ava's `require`). Once a file's tests
 * have ended, its process should exit on its own; one that is kept alive (a
 * connection, a timer, a child process left open) is a leak that would hold
 * the whole run. After a grace period it is named with what holds it, and the
 * file fails.
 */
import { registerCompletionHandler } from 'ava';

const GRACE_MS = 20_000;

registerCompletionHandler(() => {
  setTimeout(() => {
    const held = new Map<string, number>();
    for (const resource of process.getActiveResourcesInfo()) held.set(resource, (held.get(resource) ?? 0) + 1);
    const what = [...held].map(([resource, count]) => `${count} ${resource}`).join(', ') || 'nothing ava can see';
    // ava names the file beside the exit code; this says what held it.
    process.stderr.write(`\n  ✘ a test file's tests ended ${GRACE_MS / 1000} s ago but its process is held open by: ${what}\n`);
    process.exit(1);
  }, GRACE_MS).unref();
});
