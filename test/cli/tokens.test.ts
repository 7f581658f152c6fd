/** `draas tokens` and `draas audit` as a person runs them: the real command, as a child process. */
import { mkdtemp, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import { execa } from 'execa';
import { FileTokenStore } from '../../src/auth/file-token-store.js';
import { hashToken } from '../../src/auth/tokens.js';

const cli = fileURLToPath(new URL('../../src/cli.ts', import.meta.url));
const draas = (args: string[]) => execa('node', ['--import=tsx', cli, ...args], { reject: false });

test('tokens add prints the token once (stdout), stores only its hash; list never shows it; revoke removes it; mistakes are readable', async (t) => {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'draas-tokens-'));
  t.teardown(() => rm(dataDir, { recursive: true, force: true }));
  const added = await draas(['tokens', 'add', 'ci-bot', '--role', 'operator', '--data-dir', dataDir]);
  t.is(added.exitCode, 0, added.stderr);
  const token = added.stdout.trim();
  t.regex(token, /^draas_[A-Za-z0-9_-]{43}$/);
  t.regex(added.stderr, /shown only now/);
  const store = new FileTokenStore(dataDir);
  const { readFile } = await import('node:fs/promises');
  const file = await readFile(store.file, 'utf8');
  t.false(file.includes(token), 'the token is not stored');
  t.true(file.includes(hashToken(token)), 'its hash is');
  t.is((await stat(store.file)).mode & 0o777, 0o600);
  t.deepEqual(await store.verify(token), { name: 'ci-bot', role: 'operator' });

  const duplicate = await draas(['tokens', 'add', 'ci-bot', '--role', 'admin', '--data-dir', dataDir]);
  t.is(duplicate.exitCode, 1);
  t.regex(duplicate.stderr, /draas: a token named "ci-bot" exists/);
  const badRole = await draas(['tokens', 'add', 'x', '--role', 'root', '--data-dir', dataDir]);
  t.is(badRole.exitCode, 2);
  t.regex(badRole.stderr, /--role must be one of viewer, operator, admin/);

  const listed = await draas(['tokens', 'list', '--data-dir', dataDir]);
  t.is(listed.exitCode, 0);
  t.regex(listed.stdout, /^NAME\s+ROLE\s+CREATED\nci-bot\s+operator\s+\d{4}-/);
  t.false(listed.stdout.includes(token));
  t.false(listed.stdout.includes(hashToken(token)));

  const unknown = await draas(['tokens', 'revoke', 'nobody', '--data-dir', dataDir]);
  t.is(unknown.exitCode, 1);
  t.regex(unknown.stderr, /draas: no token named "nobody"/);
  const revoked = await draas(['tokens', 'revoke', 'ci-bot', '--data-dir', dataDir]);
  t.is(revoked.exitCode, 0, revoked.stderr);
  t.is(await new FileTokenStore(dataDir).verify(token), undefined);
  const empty = await draas(['tokens', 'list', '--data-dir', dataDir]);
  t.is(empty.stdout, '');
  t.regex(empty.stderr, /no tokens; make one with/);
});

test('concurrent adds (separate processes) lose none', async (t) => {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'draas-tokens-'));
  t.teardown(() => rm(dataDir, { recursive: true, force: true }));
  const names = ['a1', 'a2', 'a3', 'a4'];
  const results = await Promise.all(names.map((name) => draas(['tokens', 'add', name, '--role', 'viewer', '--data-dir', dataDir])));
  for (const result of results) t.is(result.exitCode, 0, result.stderr);
  t.deepEqual((await new FileTokenStore(dataDir).list()).map((token) => token.name).sort(), names);
});

test('draas up --auth: says how to make the first token, refuses without one, accepts the one draas tokens add printed, audits; draas audit reads it', async (t) => {
  const { draasUp } = await import('../helpers/draas-up.js');
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'draas-up-auth-'));
  const up = draasUp(['--auth', '--platforms', 'process', '--data-dir', dataDir], { env: { DRAAS_DRASI_SERVER: 'drasi-server-not-needed' } });
  t.teardown(async () => {
    up.child.kill('SIGTERM');
    await up.child;
    await rm(dataDir, { recursive: true, force: true });
  });
  const url = await up.url;
  t.regex(up.output(), /no token exists yet.*draas tokens add NAME --role admin --data-dir /);
  t.is((await fetch(`${url}/api/server/instances`)).status, 401);
  t.is((await fetch(`${url}/healthz`)).status, 200);
  const added = await draas(['tokens', 'add', 'first', '--role', 'admin', '--data-dir', dataDir]);
  t.is(added.exitCode, 0, added.stderr);
  const headers = { authorization: `Bearer ${added.stdout.trim()}`, 'content-type': 'application/json' };
  t.is((await fetch(`${url}/api/server/instances`, { headers })).status, 200);
  t.is((await fetch(`${url}/api/server/instances`, { method: 'POST', headers, body: JSON.stringify({ name: 'from-cli', configuration: {} }) })).status, 201);
  const audit = await draas(['audit', '--data-dir', dataDir]);
  t.is(audit.exitCode, 0, audit.stderr);
  const entries = audit.stdout.trim().split('\n').map((line) => JSON.parse(line) as { operation: string; status: number; actor: { name?: string } });
  t.like(entries.at(-1), { operation: 'createInstance', status: 201, actor: { name: 'first' } });
  t.regex(audit.stderr, /next: draas audit --after \d+/);
});
