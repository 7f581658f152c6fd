import test from 'ava';
import { OutcomeWindow } from '../../src/resilience/outcome-window.js';

test('an outcome counts until the window has passed it', (t) => {
  const window = new OutcomeWindow(1_000);
  window.record(0, true);
  window.record(500, false);
  t.deepEqual(window.counts(999), { calls: 2, failures: 1 });
  t.deepEqual(window.counts(1_000), { calls: 1, failures: 0 }, 'the first left at exactly windowMs after it');
  t.deepEqual(window.counts(1_500), { calls: 0, failures: 0 });
});

test('a long run keeps exact counts and only the window in memory', (t) => {
  const window = new OutcomeWindow(100);
  // One call per ms for 50,000 ms, every third one failed: the window always holds the last 100.
  for (let at = 1; at <= 50_000; at++) window.record(at, at % 3 === 0);
  const { calls, failures } = window.counts(50_000);
  t.is(calls, 100);
  let expected = 0;
  for (let at = 49_901; at <= 50_000; at++) if (at % 3 === 0) expected++;
  t.is(failures, expected);
  const held = (window as unknown as { times: number[] }).times.length;
  t.true(held <= 2 * 1_024 + 100, `held ${held} entries`);
});

test('clear forgets every outcome', (t) => {
  const window = new OutcomeWindow(1_000);
  window.record(1, true);
  window.clear();
  t.deepEqual(window.counts(2), { calls: 0, failures: 0 });
  window.record(3, true);
  t.deepEqual(window.counts(4), { calls: 1, failures: 1 });
});
