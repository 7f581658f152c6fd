/**
 * Drift on one instance never blocks the others: with the periodic
 * reconciler on, an instance whose server never answers a check, and one
 * whose repair hangs (its server holds every call), hold up nothing: the
 * drift of the other instances is found and repaired on their own schedule.
 */
import test from 'ava';
import { gatedControlPlane } from './_memory-world.js';

test('a check that hangs on one instance and a repair that hangs on another hold up neither the checks nor the repairs of the others', async (t) => {
  const { gates, components, controlPlane, running, until } = await gatedControlPlane(t, 200);
  const names = ['hung', 'stuck', 'other-1', 'other-2'];
  for (const name of names) t.is((await running(name)).status, 'Running');
  const statusOf = async (name: string) => (await controlPlane.get(name)).status;
  // Each read of the hung server waits for the worker's 5 s limit: checks queued behind it could not keep this bound.
  const promptly = 4_000;

  // One server stops answering its checks (each waits for its own time limit); another drifts and its repair is held for good.
  components.stall('hung');
  components.dropSource('stuck');
  await until('stuck is Reconfiguring with its repair held', async () => (await statusOf('stuck')) === 'Reconfiguring' && gates.pending('stuck', 'apply').length > 0);
  // Then the others drift, one after the other; their repairs go through.
  for (const name of ['other-1', 'other-2']) {
    components.dropSource(name);
    await until(`${name} drifted`, async () => (await controlPlane.status(name)).history.some((entry) => entry.cause === 'instance.drifted'), promptly);
    await until(
      `${name} repaired`,
      async () => {
        for (const held of gates.pending(name, 'apply')) held.release('ok');
        return (await statusOf(name)) === 'Running' && components.generationOf(name) === 1;
      },
      promptly,
    );
    t.is(await statusOf('stuck'), 'Reconfiguring', `stuck is still held while ${name} is repaired`);
  }
  t.is(components.generationOf('stuck'), undefined, 'the stuck server is still without its source');
  t.is(await statusOf('hung'), 'Running', 'a check in flight changes nothing');
  await until('other-2 found in sync by a later check', async () => (await controlPlane.drift('other-2'))?.outcome === 'in-sync');

  // Let it go: it is repaired too.
  await until('stuck repaired', async () => {
    for (const held of gates.pending('stuck', 'apply')) held.release('ok');
    return (await statusOf('stuck')) === 'Running';
  });
  t.is(components.generationOf('stuck'), 1);
});
