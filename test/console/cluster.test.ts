/**
 * The console in cluster mode: two control-plane replicas on one Redis, one
 * worker, each replica owning half of the instances. A page served by one
 * replica shows the changes of every instance — also those the other replica
 * owns and records — and its buttons reach instances owned elsewhere.
 */
import { shardOf } from '../../src/actors/ownership.js';
import { closeBrowser, newPage, pageProblems, testWithBrowser } from '../helpers/browser.js';
import { testWithRedis } from '../helpers/engines.js';
import { eventually, leaseTable, mapLimit, ports, redisServer, startControlPlane, startWorker, waitForWorker } from '../cluster/_harness.js';

const redisSuite = testWithRedis('console › cluster');
const browserSuite = testWithBrowser('console › cluster');
const test = redisSuite.available ? browserSuite.test : redisSuite.test;
test.after.always(closeBrowser);

const SHARDS = 16;

test("a page on one replica follows the instances the other replica owns, and its buttons reach them", async (t) => {
  t.timeout(180_000);
  const redis = await redisServer(t);
  const leases = leaseTable(t, redis.url, SHARDS);
  const a = await startControlPlane(t, redis.url, { replicaId: 'cp-a', leaseMs: 2_000 });
  const b = await startControlPlane(t, redis.url, { replicaId: 'cp-b', leaseMs: 2_000 });
  const worker = await startWorker(t, redis.url, { workerId: 'w', ports: ports(20) });
  await waitForWorker(a, worker);
  await eventually(async () => (await leases()).filter((lease) => lease.owner === 'cp-b').length === SHARDS / 2, 20_000, 'the shards split 8/8', [a.process, b.process]);

  // Names until one lands on a shard of each replica.
  const owned = await leases();
  const names = Array.from({ length: 12 }, (_, i) => `c-${i}`);
  const ofB = names.find((name) => owned[shardOf(name, SHARDS)]?.owner === 'cp-b');
  const ofA = names.find((name) => owned[shardOf(name, SHARDS)]?.owner === 'cp-a');
  if (ofA === undefined || ofB === undefined) return t.fail('no name on a shard of each replica');

  const page = await newPage(t);
  await page.goto(`${a.base}/ui`);
  await page.locator('#connection[data-state="live"]').waitFor({ timeout: 10_000 });

  await mapLimit([ofA, ofB], 2, async (name) => {
    t.is((await b.call('POST', '/api/server/instances', { name })).status, 201);
    t.is((await b.call('POST', `/api/server/instances/${name}/start`)).body.status, 'Running');
  });
  for (const name of [ofA, ofB]) {
    await page.locator(`[data-instance="${name}"][data-status="Running"]`).waitFor({ timeout: 5_000 });
  }
  t.pass(`the page on cp-a shows ${ofB} (owned by cp-b) and ${ofA} Running`);

  await page.locator(`[data-instance="${ofB}"] a`).click();
  await page.locator('[data-state="Running"][aria-current="step"]').waitFor({ timeout: 5_000 });
  await page.getByRole('button', { name: 'Stop', exact: true }).click();
  await page.locator('[data-state="Stopped"][aria-current="step"]').waitFor({ timeout: 10_000 });
  t.is((await a.call('GET', `/api/server/instances/${ofB}`)).body.status, 'Stopped');
  t.deepEqual(pageProblems(page), []);
});
