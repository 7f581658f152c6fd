import test from 'ava';
import { OutcomeCache } from '../../src/actors/outcome-cache.js';
import { WorkloadFailedError } from '../../src/errors.js';

test('a command id runs once; a second delivery gets the first outcome, also while it runs', async (t) => {
  const cache = new OutcomeCache();
  let runs = 0;
  const task = async () => ++runs;
  const [a, b] = await Promise.all([cache.once('c1', task), cache.once('c1', task)]);
  t.deepEqual([a, b, await cache.once('c1', task)], [1, 1, 1]);
  t.is(runs, 1);
});

test('a considered failure (DraasError) is remembered; a crash is forgotten so a redelivery runs again', async (t) => {
  const cache = new OutcomeCache();
  let runs = 0;
  const refuse = async () => {
    runs++;
    throw new WorkloadFailedError('exited with code 1');
  };
  await t.throwsAsync(cache.once('c1', refuse));
  await t.throwsAsync(cache.once('c1', refuse));
  t.is(runs, 1);
  let crashes = 0;
  const crash = async () => {
    crashes++;
    throw new Error('handler bug');
  };
  await t.throwsAsync(cache.once('c2', crash));
  await new Promise((resolve) => setImmediate(resolve));
  await t.throwsAsync(cache.once('c2', crash));
  t.is(crashes, 2);
});

test('the cache is bounded: the oldest command ids are forgotten first', async (t) => {
  const cache = new OutcomeCache(2);
  let runs = 0;
  const task = async () => ++runs;
  await cache.once('a', task);
  await cache.once('b', task);
  await cache.once('c', task);
  await cache.once('a', task);
  t.is(runs, 4);
});
