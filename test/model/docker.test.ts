/**
 * Model-based lifecycle paths on the Docker platform, against a real Docker
 * Engine (see test/helpers/docker-engine.ts: skipped with a notice where
 * there is none, a failure under DRAAS_REQUIRE_ENGINES=1): every planned
 * path through a real control plane and a Docker worker whose containers run
 * the controlled launcher (docker-world.ts). After each step the API's view
 * must be the expected one, and the engine must agree: one running container
 * serving the expected generation or none, never two.
 */
import { testWithDocker } from '../helpers/docker-engine.js';
import { actionNames, describePath, planPaths, type ActionName } from './lifecycle-paths.js';
import { dockerWorld } from './docker-world.js';
import { limiter, runPath, type Platform } from './run-path.js';

const { test } = testWithDocker('model paths on Docker');

/** Actions a container cannot be made to do while its worker answers, and why. */
const unsupported: Partial<Record<ActionName, string>> = {
  'stop.fail': 'a stop ends with SIGKILL after the grace period, which always ends a container: the driver cannot fail it while the engine answers',
  'remove.fail': 'the same for the stop of a removal',
};

// A start that the path lets succeed must not time out on a loaded CI machine (container create, node boot, health wait),
// and a held stop must stay held until the path checks it (past the grace the engine kills the container).
const timing = { startTimeoutMs: 15_000, replySlackMs: 1_000, stopGraceMs: 10_000 };
const platform: Platform = {
  name: 'docker',
  actions: actionNames.filter((action) => !(action in unsupported)),
  timing,
  open: (gates) => dockerWorld(gates, timing.stopGraceMs),
};
const plan = planPaths({ actions: platform.actions });

const limit = limiter(3);
for (const path of plan.paths) {
  test(`docker path ${path.name}`, async (t) => {
    t.timeout(600_000);
    await limit(async () => {
      t.timeout(90_000);
      t.log(describePath(path).join('\n'));
      await runPath(t, platform, path);
    });
  });
}
