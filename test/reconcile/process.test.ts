/**
 * Reconciliation on the process platform, embedded: `draas up`'s control
 * plane with real server processes (the Drasi Server double), over HTTP.
 */
import test from 'ava';
import { embedded } from '../helpers/embedded.js';
import { httpCall, registerScenarios } from './_scenario.js';

const reconcileIntervalMs = 500;

registerScenarios(test, 'process', {
  reconcileIntervalMs,
  name: (prefix) => `proc-${prefix}`,
  world: async (t) => {
    const { draas } = await embedded(t, { reconcileIntervalMs, restartPolicy: { initialBackoffMs: 300, maxBackoffMs: 2_000 } });
    const { url } = await draas.listen({ port: 0 });
    return {
      call: httpCall(url),
      createFields: {},
      kill: async (workloadId) => {
        process.kill(Number(workloadId), 'SIGKILL');
      },
    };
  },
});
