import test from 'ava';
import { ownershipView } from '../../src/actors/ownership.js';

test('ownershipView groups shards by owner, lists live replicas without shards, and names unowned shards', (t) => {
  t.deepEqual(ownershipView('b', ['a', 'b', undefined, 'a'], ['b', 'a', 'c']), {
    replicaId: 'b',
    shardCount: 4,
    replicas: [
      { replicaId: 'a', shards: [0, 3] },
      { replicaId: 'b', shards: [1] },
      { replicaId: 'c', shards: [] },
    ],
    unowned: [2],
  });
  // A lease whose holder's heartbeat lapsed still names it (the lease outlives the heartbeat by at most a round).
  t.deepEqual(ownershipView('a', ['z'], ['a']).replicas, [{ replicaId: 'a', shards: [] }, { replicaId: 'z', shards: [0] }]);
});
