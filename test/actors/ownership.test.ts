import test from 'ava';
import { planLeases, shardOf } from '../../src/actors/ownership.js';

test('shardOf is stable and spreads ids over every shard', (t) => {
  t.is(shardOf('test1', 16), shardOf('test1', 16));
  const counts = new Array<number>(16).fill(0);
  for (let i = 0; i < 16_000; i++) counts[shardOf(`instance-${i}`, 16)]! += 1;
  t.true(counts.every((count) => count > 800 && count < 1_200), counts.join(','));
  t.is(shardOf('anything', 1), 0);
});

test('planLeases: alone, take every shard; two replicas, half each; a surplus is handed back, highest first', (t) => {
  t.deepEqual(planLeases([], 16, 1), { acquire: 16, release: [] });
  t.deepEqual(planLeases([], 16, 2), { acquire: 8, release: [] });
  t.deepEqual(planLeases([0, 1, 2, 3, 4, 5, 6, 7, 8, 9], 16, 2), { acquire: 0, release: [9, 8] });
  t.deepEqual(planLeases([0, 1, 2, 3, 4, 5], 16, 3), { acquire: 0, release: [] }, 'ceil(16/3) = 6');
  t.deepEqual(planLeases([3], 16, 0), { acquire: 15, release: [] }, 'a replica counts itself even before its heartbeat lands');
});
