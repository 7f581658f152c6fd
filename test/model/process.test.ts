/**
 * Model-based lifecycle paths on the process platform: every planned path
 * driven through a real control plane and a real process worker whose servers
 * are the Drasi Server double (see process-world.ts), a few paths at a time.
 * After each step the API's view must be the expected one, and the processes
 * must agree: one serving server of the expected generation or none, never
 * two, none left while Pending, Stopped or Deleted.
 */
import test from 'ava';
import { actionNames, describePath, planPaths, type ActionName } from './lifecycle-paths.js';
import { processWorld } from './process-world.js';
import { limiter, runPath, type Platform } from './run-path.js';

/** Actions a local process cannot be made to do while its worker answers, and why. */
const unsupported: Partial<Record<ActionName, string>> = {
  'stop.fail': 'a stop ends with SIGKILL after the grace period, which always ends a process: the driver cannot fail it',
  'remove.fail': 'the same for the stop of a removal',
};

// A start that the path lets succeed must not time out on a loaded CI machine, and a held stop must stay
// held until the path checks it (past the grace the worker kills the server; no path waits for that).
const timing = { startTimeoutMs: 10_000, replySlackMs: 500, stopGraceMs: 10_000 };
const platform: Platform = {
  name: 'process',
  actions: actionNames.filter((action) => !(action in unsupported)),
  timing,
  open: (gates) => processWorld(gates, timing.stopGraceMs),
};
const plan = planPaths({ actions: platform.actions });
const full = planPaths();

test('process paths take every transition the memory paths take, except those that need what a process cannot do', (t) => {
  const missing = full.graph.transitions.map((each) => each.id).filter((id) => !full.uncovered.includes(id) && plan.uncovered.includes(id));
  t.log(`not driven on processes (${Object.entries(unsupported).map(([action, why]) => `${action}: ${why}`).join('; ')}):\n${missing.join('\n')}`);
  for (const id of missing) t.regex(id, /xstate\.error\.actor\.(stopWorkload|removeWorkload)/, `${id} needs only ${Object.keys(unsupported).join(' or ')}`);
});

const limit = limiter(3);
for (const path of plan.paths) {
  test(`process path ${path.name}`, async (t) => {
    t.timeout(600_000);
    await limit(async () => {
      t.timeout(60_000);
      t.log(describePath(path).join('\n'));
      await runPath(t, platform, path);
    });
  });
}
