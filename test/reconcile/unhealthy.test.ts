/**
 * An unhealthy server — running, but its API answers nothing — is found by
 * the reconciler and restarted, and the history says why.
 */
import test from 'ava';
import { gatedControlPlane } from './_memory-world.js';

test('a running server whose API stops answering is restarted by the reconciler, with the reason in its history', async (t) => {
  t.timeout(60_000);
  const { gates, components, controlPlane, running, until } = await gatedControlPlane(t, 300);
  const before = await running('sick');
  components.stall('sick');
  // Its check times out (the worker's 5 s limit per read): drift; the repair cannot read it either: a restart.
  await until(
    'restarted',
    async () => {
      for (const held of [...gates.pending('sick', 'stop'), ...gates.pending('sick', 'start')]) held.release('ok');
      const view = await controlPlane.get('sick');
      return view.status === 'Running' && view.runtime?.workloadId !== before.runtime?.workloadId;
    },
    40_000,
  );
  const { history } = await controlPlane.status('sick');
  t.regex(history.find((entry) => entry.cause === 'instance.drifted')?.reason ?? '', /drift: the server's API does not answer: GET \/api\/v1\/sources: no answer within 5000 ms/, JSON.stringify(history));
  t.regex(history.find((entry) => entry.from === 'Reconfiguring' && entry.to === 'Stopping')?.reason ?? '', /not applied without a restart: .*no answer/);
  t.is(components.generationOf('sick'), 1, 'the new server serves');
  await until('found in sync', async () => (await controlPlane.drift('sick'))?.outcome === 'in-sync');
});
