/**
 * Authentication in cluster mode, on real Redis servers: tokens in Redis are
 * seen by every replica and a revocation reaches all of them within seconds;
 * requests forwarded between replicas keep the caller's limits; the audit
 * log is a Redis stream; a Redis with a password or an ACL user serves the
 * control plane, a worker and `draas tokens`; wrong credentials fail fast.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { ExecutionContext } from 'ava';
import { execa } from 'execa';
import { RedisAuditLog } from '../../src/auth/audit.js';
import { RedisTokenStore } from '../../src/auth/redis-token-store.js';
import { startClusterControlPlane, startClusterWorker } from '../../src/cluster.js';
import { doubleExecutable } from '../helpers/embedded.js';
import { testWithRedis } from '../helpers/engines.js';
import { cliPath, eventually, killEverythingUnder, ports, redisServer, sleep } from './_harness.js';

const { test } = testWithRedis('cluster auth');

const quiet = () => undefined;

async function replica(t: ExecutionContext, url: string, replicaId: string, extra: Partial<Parameters<typeof startClusterControlPlane>[0]> = {}) {
  const controlPlane = await startClusterControlPlane({ redis: { url }, replicaId, shardCount: 4, leaseMs: 2_000, auth: {}, log: quiet, ...extra });
  t.teardown(() => controlPlane.close());
  const { url: base } = await controlPlane.listen({ port: 0, host: '127.0.0.1' });
  return { controlPlane, base };
}

async function worker(t: ExecutionContext, url: string) {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'draas-auth-worker-'));
  const started = await startClusterWorker({ platform: 'process', workerId: `w-${path.basename(dataDir)}`, dataDir, drasiServer: doubleExecutable, ports: ports(10), stopGraceMs: 1_000, redis: { url }, log: quiet });
  t.teardown(async () => {
    await started.close();
    killEverythingUnder(dataDir);
    await rm(dataDir, { recursive: true, force: true });
  });
  return started;
}

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

test('a token added in Redis works on every replica; its revocation takes effect on all of them within seconds', async (t) => {
  const redis = await redisServer(t);
  const a = await replica(t, redis.url, 'auth-a');
  const b = await replica(t, redis.url, 'auth-b');
  const store = await RedisTokenStore.open({ url: redis.url });
  t.teardown(() => store.close());
  const { token } = await store.add('shared', 'viewer');
  for (const { base } of [a, b]) t.is((await fetch(`${base}/api/server/instances`, { headers: bearer(token) })).status, 200);

  await store.revoke('shared');
  const revokedAt = Date.now();
  for (const { base } of [a, b]) {
    await eventually(async () => (await fetch(`${base}/api/server/instances`, { headers: bearer(token) })).status === 401, 3_000, `revoked on ${base}`);
  }
  t.true(Date.now() - revokedAt < 3_000);
  t.deepEqual(await store.list(), []);

  // The store's refusals read as the file store's do.
  await store.add('twice', 'viewer');
  await t.throwsAsync(store.add('twice', 'admin'), { name: 'TokenStoreError', message: 'a token named "twice" exists; revoke it first or choose another name' });
  await t.throwsAsync(store.revoke('never'), { name: 'TokenStoreError', message: 'no token named "never"' });
  await t.throwsAsync(store.add('bad name', 'viewer'), { name: 'TokenStoreError', message: /a token name is 1-63/ });
  t.deepEqual((await store.list()).map((info) => [info.name, info.role]), [['twice', 'viewer']]);
});

test('forwarded requests keep the caller’s limits; the audit log is one Redis stream for all replicas', async (t) => {
  const redis = await redisServer(t);
  const a = await replica(t, redis.url, 'audit-a', { policy: { allow: ['unverified-plugins'] } });
  const b = await replica(t, redis.url, 'audit-b', { policy: { allow: ['unverified-plugins'] } });
  await worker(t, redis.url);
  const store = await RedisTokenStore.open({ url: redis.url });
  t.teardown(() => store.close());
  const operator = (await store.add('op', 'operator')).token;
  const admin = (await store.add('root', 'admin')).token;
  // Wait until both replicas hold leases, so some requests are forwarded.
  await sleep(500);
  const names = ['fw-0', 'fw-1', 'fw-2', 'fw-3', 'fw-4', 'fw-5'];
  for (const [index, name] of names.entries()) {
    const base = index % 2 === 0 ? a.base : b.base;
    // While the replicas still share out the shards a create may be a retryable 503 (not-owner): retried, as a client would.
    let created: Response;
    for (let attempt = 1; ; attempt += 1) {
      created = await fetch(`${base}/api/server/instances`, {
        method: 'POST',
        headers: { ...bearer(operator), 'content-type': 'application/json' },
        body: JSON.stringify({ name, configuration: { sources: [], queries: [], reactions: [] } }),
      });
      if (created.status !== 503 || attempt === 20) break;
      await sleep(250);
    }
    t.is(created.status, 201, `${name}: ${await created.text()}`);
    // An operator's change that turns plugin checks off (allowed by --allow) is refused on whichever replica owns the instance; an admin's lands.
    const patch = (token: string) =>
      fetch(`${index % 2 === 0 ? b.base : a.base}/api/configuration/instances/${name}`, {
        method: 'PATCH',
        headers: { ...bearer(token), 'content-type': 'application/json-patch+json' },
        body: JSON.stringify([{ op: 'add', path: '/verifyPlugins', value: false }]),
      });
    const refused = await patch(operator);
    const problem = (await refused.json()) as { reason?: string; allowedBy?: string[] };
    t.is(refused.status, 403, `${name}: ${JSON.stringify(problem)}`);
    t.deepEqual([problem.reason, problem.allowedBy], ['admin-only', ['unverified-plugins']]);
    t.is((await patch(admin)).status, 200, name);
  }
  const audit = await RedisAuditLog.open({ url: redis.url });
  t.teardown(() => audit.close());
  const { entries } = await audit.read({ limit: 100 });
  t.is(entries.filter((entry) => entry.operation === 'createInstance' && entry.status === 201).length, names.length);
  t.is(entries.filter((entry) => entry.operation === 'patchConfiguration' && entry.status === 403 && entry.role === 'operator').length, names.length);
  t.true(entries.every((entry) => entry.actor.kind === 'token'));
  const page = (await (await fetch(`${b.base}/api/audit?limit=2`, { headers: bearer(admin) })).json()) as { entries: { id: string }[]; next: string };
  t.is(page.entries.length, 2);
  t.regex(page.next, /^\d+-\d+$/);
  t.deepEqual(entries.slice(-2).map((entry) => entry.id), page.entries.map((entry) => entry.id));
});

test('a Redis with a password (requirepass): control plane, worker and draas tokens work with redis://:pass@; a wrong password fails fast and says so', async (t) => {
  const redis = await redisServer(t, { args: ['--requirepass', 's3cret'] });
  const url = `redis://:s3cret@127.0.0.1:${redis.port}`;
  const { base } = await replica(t, url, 'pw-a');
  await worker(t, url);

  const added = await execa('node', ['--import=tsx', cliPath, 'tokens', 'add', 'ops', '--role', 'operator', '--redis', url], { reject: false });
  t.is(added.exitCode, 0, added.stderr);
  const token = added.stdout.trim();
  const created = await fetch(`${base}/api/server/instances`, {
    method: 'POST',
    headers: { ...bearer(token), 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'behind-password', configuration: { sources: [], queries: [], reactions: [] } }),
  });
  t.is(created.status, 201);
  const started = await fetch(`${base}/api/server/instances/behind-password/start`, { method: 'POST', headers: bearer(token) });
  t.is(started.status, 200, await started.text());

  const wrong = `redis://:nope@127.0.0.1:${redis.port}`;
  const began = Date.now();
  const refused = await t.throwsAsync(startClusterControlPlane({ redis: { url: wrong, connectTimeoutMs: 10_000 }, log: quiet }));
  t.true(Date.now() - began < 5_000, `took ${Date.now() - began} ms`);
  t.regex(String(refused?.message), /refused the credentials/);
  t.false(String(refused?.message).includes('nope'), 'the password is not shown');
  const cli = await execa('node', ['--import=tsx', cliPath, 'tokens', 'list', '--redis', wrong], { reject: false, timeout: 30_000 });
  t.is(cli.exitCode, 1);
  t.regex(cli.stderr, /refused the credentials/);
});

test('a Redis ACL user limited to the draas: keys serves the control plane, a worker and the tokens', async (t) => {
  const redis = await redisServer(t, { args: ['--user', 'draas', 'on', '>pa55', '~draas:*', '+@all', '-@dangerous', '+info', '--user', 'default', 'off'] });
  const url = `redis://draas:pa55@127.0.0.1:${redis.port}`;
  const { base } = await replica(t, url, 'acl-a');
  await worker(t, url);
  const store = await RedisTokenStore.open({ url });
  t.teardown(() => store.close());
  const { token } = await store.add('acl-admin', 'admin');
  const created = await fetch(`${base}/api/server/instances`, {
    method: 'POST',
    headers: { ...bearer(token), 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'acl', configuration: { sources: [], queries: [], reactions: [] } }),
  });
  t.is(created.status, 201);
  const started = await fetch(`${base}/api/server/instances/acl/start`, { method: 'POST', headers: bearer(token) });
  t.is(started.status, 200, await started.text());
  const audit = await fetch(`${base}/api/audit`, { headers: bearer(token) });
  t.is(audit.status, 200);
  t.true(((await audit.json()) as { entries: unknown[] }).entries.length >= 2);

  // A user that does not exist is refused at once, with a message that says so.
  const refused = await t.throwsAsync(RedisTokenStore.open({ url: `redis://nobody:x@127.0.0.1:${redis.port}` }));
  t.regex(String(refused?.message), /refused the credentials/);
});
