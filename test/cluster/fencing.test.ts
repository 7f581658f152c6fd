/**
 * The fencing check at work in the control plane: replica B still believes
 * it owns its instances after its leases ran out (a replica paused past its
 * lease, or whose clock runs slow, behaves so), while replica A has taken
 * them over. B's writes are refused by Redis and change nothing; A's land.
 */
import { randomUUID } from 'node:crypto';
import { ControlPlane } from '../../src/actors/control-plane.js';
import {
  ownershipView,
  shardLease,
  shardOf,
  type OwnerLocation,
  type Ownership,
  type OwnershipListener,
  type OwnershipView,
} from '../../src/actors/ownership.js';
import { startClusterControlPlane } from '../../src/cluster.js';
import type { WriteFence } from '../../src/store/instance-store.js';
import { RedisLeases } from '../../src/store/redis-leases.js';
import { RedisInstanceStore } from '../../src/store/redis-store.js';
import { createRedisTransport } from '../../src/transport/redis.js';
import { testWithRedis } from '../helpers/engines.js';
import { redisServer, sleep } from './_harness.js';

const { test } = testWithRedis('cluster mode');

const SHARDS = 4;
const LEASE_MS = 600;

/** Takes every shard once and never renews nor doubts it: the stale replica's view of the world. */
class StuckOwnership implements Ownership {
  readonly shardCount = SHARDS;
  readonly shared = true;
  private readonly tokens = new Map<number, number>();

  constructor(
    readonly replicaId: string,
    private readonly leases: RedisLeases,
  ) {}

  shardOf(instanceId: string): number {
    return shardOf(instanceId, SHARDS);
  }

  owns(): boolean {
    return true;
  }

  fence(instanceId: string): WriteFence {
    const shard = this.shardOf(instanceId);
    return { lease: shardLease(shard), token: this.tokens.get(shard) ?? 0 };
  }

  async locate(): Promise<OwnerLocation> {
    return { owner: this.replicaId, alive: true, retryAfterMs: 0 };
  }

  async liveReplicas(): Promise<string[]> {
    return [this.replicaId];
  }

  async describe(): Promise<OwnershipView> {
    return ownershipView(this.replicaId, Array.from({ length: SHARDS }, () => this.replicaId), [this.replicaId]);
  }

  async start(listener: OwnershipListener): Promise<void> {
    for (let shard = 0; shard < SHARDS; shard++) {
      const token = await this.leases.acquire(shardLease(shard), this.replicaId, LEASE_MS);
      if (token === undefined) throw new Error(`shard ${shard} is taken`);
      this.tokens.set(shard, token);
    }
    await listener.gained([...this.tokens.keys()]);
  }

  async close(): Promise<void> {}
}

test('a replica whose lease was taken over is refused by the fencing check; the new owner writes', async (t) => {
  t.timeout(60_000);
  const redis = await redisServer(t);
  const prefix = `fencing-${randomUUID().slice(0, 6)}:`;
  const connection = { url: redis.url, prefix };
  const messages: string[] = [];
  const log = (message: string) => messages.push(message);

  const leases = await RedisLeases.open(connection);
  const storeB = await RedisInstanceStore.open({ ...connection, log });
  const transportB = await createRedisTransport(connection);
  const b = new ControlPlane({ transport: transportB, store: storeB, ownership: new StuckOwnership('cp-b', leases), log });
  t.teardown(async () => {
    await b.close();
    await storeB.close();
    await transportB.close();
    await leases.close();
  });
  await b.open();
  await b.create({ name: 'contested' });
  t.is((await b.getConfig('contested')).generation, 1);

  // B's leases run out; A starts, takes every shard with newer tokens and rehydrates the instance.
  await sleep(LEASE_MS + 200);
  const a = await startClusterControlPlane({ redis: connection, replicaId: 'cp-a', leaseMs: LEASE_MS, shardCount: SHARDS, log });
  t.teardown(() => a.close());
  t.is((await a.get('contested')).status, 'Pending');

  // B still thinks it owns the instance and acts: Redis refuses its write, nothing changes.
  const refused = await t.throwsAsync(b.patchConfig('contested', [{ op: 'add', path: '/sources', value: [] }]));
  t.is((refused as { code?: string }).code, 'not-owner', String(refused));
  t.regex(String(refused?.message), /stale/);
  t.is((await a.getConfig('contested')).generation, 1, 'the stale write changed nothing');

  // The owner's write lands.
  const patched = await a.patchConfig('contested', [{ op: 'add', path: '/sources', value: [] }]);
  t.is(patched.generation, 2);
  t.is((await a.getConfig('contested')).generation, 2);
  // B deletes the instance on its own stale view (Pending → Deleted needs no worker): Redis refuses
  // the removal and B's snapshot writes, so A's instance and state are intact.
  await b.delete('contested');
  await sleep(300);
  t.true(messages.some((message) => /store: delete refused: .*stale/.test(message)), messages.join('\n'));
  t.is((await storeB.get('contested'))?.generation, 2, 'the record survived the stale delete');
  const stored = (await storeB.loadSnapshot('contested'))?.snapshot as { value?: string } | undefined;
  t.is(stored?.value, 'Pending', 'the stored snapshot is still the owner\'s');
  t.is((await a.get('contested')).status, 'Pending');
});
