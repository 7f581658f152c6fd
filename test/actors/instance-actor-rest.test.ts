/**
 * An idle instance actor rests without an XState actor (instance-actor.ts)
 * and answers exactly as a live one: the same snapshots, transitions, saves
 * and replies, whether an event is taken at rest (resting-step.ts) or by an
 * XState actor made again for it.
 */
import test from 'ava';
import { createActor } from 'xstate';
import { InstanceActor, restScheduler, type StatusTransition } from '../../src/actors/instance-actor.js';
import { toRestorable } from '../../src/machines/instance-snapshot.js';
import { machineInput, stubbedInstanceMachine, waitForValue } from '../store/fixtures.js';

/** Lets the current work finish, then rests what is idle at once (the scheduler would after a second). */
const settle = async () => {
  await new Promise((resolve) => setImmediate(resolve));
  restScheduler.restAll();
};

function restingActor(id: string) {
  const transitions: StatusTransition[] = [];
  const saved: unknown[] = [];
  const errors: unknown[] = [];
  const actor = new InstanceActor({
    machine: stubbedInstanceMachine(),
    input: machineInput(id),
    onTransition: (transition) => transitions.push(transition),
    onSnapshot: (self) => saved.push(JSON.parse(JSON.stringify(self.persistedSnapshot()))),
    onError: (error) => errors.push(error),
  });
  return { actor, transitions, saved, errors };
}

test('a new actor rests once created, and persists what an XState actor of the same machine persists', async (t) => {
  const { actor, transitions, saved } = restingActor('calm');
  t.false(actor.atRest, 'live while its creation is reported');
  await settle();
  t.true(actor.atRest);
  t.is(actor.view.status, 'Pending');
  t.deepEqual(transitions.map(({ from, to }) => [from, to]), [[null, 'Pending']]);
  const reference = createActor(stubbedInstanceMachine(), { input: machineInput('calm') }).start();
  t.deepEqual(JSON.parse(JSON.stringify(actor.persistedSnapshot())), JSON.parse(JSON.stringify(reference.getPersistedSnapshot())));
  t.deepEqual(saved.at(-1), JSON.parse(JSON.stringify(reference.getPersistedSnapshot())));
  reference.stop();
});

test('a request with a side effect wakes the actor; it answers, and rests again once idle', async (t) => {
  const { actor, transitions, errors } = restingActor('woken');
  await settle();
  t.true(actor.atRest);
  const answer = await actor.request({ type: 'instance.start' }, { timeoutMs: 5_000 });
  t.is(answer.status, 'Running');
  t.is(answer.context.workload?.workloadId, 'pid-42');
  await settle();
  t.true(actor.atRest);
  t.deepEqual(transitions.map(({ to }) => to), ['Pending', 'Starting', 'Running']);
  t.true(actor.can({ type: 'instance.stop' }), 'asked at rest, answered by the machine');
  const stopped = await actor.request({ type: 'instance.stop' }, { timeoutMs: 5_000 });
  t.is(stopped.status, 'Stopped');
  t.deepEqual(errors, []);
});

test('recover of an idle restored actor is taken at rest: recorded in its history and saved, no actor made', async (t) => {
  const live = createActor(stubbedInstanceMachine(), { input: machineInput('restored') }).start();
  live.send({ type: 'instance.start' });
  await waitForValue(live, 'Running');
  const persisted = live.getPersistedSnapshot();
  live.stop();
  const saved: unknown[] = [];
  const transitions: StatusTransition[] = [];
  const actor = new InstanceActor({
    machine: stubbedInstanceMachine(),
    input: machineInput('restored'),
    snapshot: toRestorable(JSON.parse(JSON.stringify(persisted)), 'restored'),
    onTransition: (transition) => transitions.push(transition),
    onSnapshot: (self) => saved.push(self.persistedSnapshot()),
    onError: () => {},
  });
  t.true(actor.atRest, 'restored idle: no XState actor');
  actor.recover();
  t.true(actor.atRest, 'the recovery changed data only');
  t.like(actor.view.context.history.at(-1), { from: 'Running', to: 'Running', cause: 'instance.recover' });
  t.is(saved.length, 1);
  t.deepEqual(transitions, [], 'no change of status');
  // The same step through a real actor gives the same state.
  const reference = createActor(stubbedInstanceMachine(), { snapshot: toRestorable(JSON.parse(JSON.stringify(persisted)), 'restored'), input: machineInput('restored') }).start();
  reference.send({ type: 'instance.recover' });
  const expected = reference.getSnapshot();
  t.is(actor.view.status, expected.value);
  t.deepEqual({ ...actor.view.context, history: actor.view.context.history.map(({ at: _at, ...entry }) => entry) }, { ...expected.context, history: expected.context.history.map(({ at: _at, ...entry }) => entry) });
  reference.stop();
});

test('a stopped actor at rest takes no more events', async (t) => {
  const { actor, saved } = restingActor('gone');
  await settle();
  const before = saved.length;
  actor.stop();
  actor.recover();
  actor.observe({ type: 'observed.report', status: 'Failed', source: 'probe' });
  await settle();
  t.is(saved.length, before, 'nothing processed, nothing saved');
  t.is(actor.view.status, 'Pending');
});

test.serial('an idle actor keeps its XState actor for a while, then rests on its own; a burst keeps at most MAX_AWAKE awake', async (t) => {
  const { actor } = restingActor('lingering');
  await new Promise((resolve) => setImmediate(resolve));
  t.false(actor.atRest, 'just used: still awake');
  const deadline = Date.now() + 10_000;
  while (!actor.atRest && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
  t.true(actor.atRest, 'rested once idle');

  const burst = Array.from({ length: 300 }, (_, n) => restingActor(`burst-${n}`).actor);
  await new Promise((resolve) => setImmediate(resolve));
  const awake = burst.filter((each) => !each.atRest).length;
  t.true(awake <= 128, `${awake} awake after a burst of 300`);
  t.true(burst[0]!.atRest, 'the longest idle rest first');
  restScheduler.restAll();
});
