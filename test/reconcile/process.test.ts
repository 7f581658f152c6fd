/**
 * Reconciliation on the process platform, embedded: `draas up`'s control
 * plane with real server processes (the Drasi Server double), over HTTP.
 */
import test from 'ava';
import { embedded } from '../helpers/embedded.js';
import { configurationChanges, crashRecovered, driftRepaired, failedCallRestarts, httpCall, type ScenarioWorld } from './_scenario.js';

const reconcileIntervalMs = 500;

async function world(t: Parameters<typeof embedded>[0]): Promise<ScenarioWorld> {
  const { draas } = await embedded(t, { reconcileIntervalMs, restartPolicy: { initialBackoffMs: 300, maxBackoffMs: 2_000 } });
  const { url } = await draas.listen({ port: 0 });
  return {
    call: httpCall(url),
    createFields: {},
    kill: async (workloadId) => {
      process.kill(Number(workloadId), 'SIGKILL');
    },
  };
}

test('process: config changes reach the running server without a restart where they can, with one where they must', async (t) => {
  await configurationChanges(t, await world(t), 'proc-changes');
});

test('process: a query and reaction deleted on the server are put back within a reconcile interval', async (t) => {
  await driftRepaired(t, await world(t), 'proc-drift', reconcileIntervalMs);
});

test('process: a component call the server refuses makes the change a restart', async (t) => {
  await failedCallRestarts(t, await world(t), 'proc-refused');
});

test('process: a killed server is Failed, backs off, counts a crash soon after its start, and runs again', async (t) => {
  await crashRecovered(t, await world(t), 'proc-crash');
});
