import test from 'ava';
import { ownershipView } from '../../src/actors/ownership.js';

test('ownershipView groups shards by owner, lists live replicas without shards, and names unowned shards', (t) => {
  t.deepEqual(ownershipView('b', ['a', 'b', undefined, 'a'], ['b', 'a', 'c']), {
    replicaId: 'b',
    shardCount: 4,
    replicas: [
      { replicaId: 'a', alive: true, shards: [0, 3] },
      { replicaId: 'b', alive: true, shards: [1] },
      { replicaId: 'c', alive: true, shards: [] },
    ],
    unowned: [2],
  });
  // A lease whose holder's heartbeat lapsed still names it, as not alive (a dead replica's lease outlives its heartbeat).
  t.deepEqual(ownershipView('a', ['z'], ['a']).replicas, [
    { replicaId: 'a', alive: true, shards: [] },
    { replicaId: 'z', alive: false, shards: [0] },
  ]);
});
