/**
 * `rediss://`: a redis-server with TLS (a CA and a server certificate made
 * here with openssl), a control plane with --auth and `draas tokens` as child
 * processes trusting the CA through NODE_EXTRA_CA_CERTS; without the CA the
 * connection is refused with a message that says why.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { inert, testWithRedis, toolAvailable } from '../helpers/engines.js';
import { freePort } from '../helpers/redis-server.js';
import { cliPath, redisServer } from './_harness.js';

const { test } = testWithRedis('redis tls');
const withOpenssl = toolAvailable('openssl', 'redis tls') ? test : inert;

async function certificates(dir: string): Promise<void> {
  const openssl = (args: string[]) => execa('openssl', args, { cwd: dir });
  await openssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '1', '-subj', '/CN=draas-test-ca']);
  await openssl(['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=127.0.0.1']);
  await writeFile(path.join(dir, 'ext.cnf'), 'subjectAltName=IP:127.0.0.1\n');
  await openssl(['x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.pem', '-days', '1', '-extfile', 'ext.cnf']);
}

withOpenssl('a control plane and draas tokens over rediss:// with a password; an untrusted certificate is refused and said so', async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'draas-tls-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await certificates(dir);
  const tlsPort = await freePort();
  await redisServer(t, {
    args: [
      '--tls-port', String(tlsPort),
      '--tls-cert-file', path.join(dir, 'server.pem'),
      '--tls-key-file', path.join(dir, 'server.key'),
      '--tls-ca-cert-file', path.join(dir, 'ca.pem'),
      '--tls-auth-clients', 'no',
      '--requirepass', 'tls-secret',
    ],
  });
  const url = `rediss://:tls-secret@127.0.0.1:${tlsPort}`;
  const env = { ...process.env, NODE_EXTRA_CA_CERTS: path.join(dir, 'ca.pem') };

  const added = await execa('node', ['--import=tsx', cliPath, 'tokens', 'add', 'over-tls', '--role', 'viewer', '--redis', url], { env, reject: false, timeout: 30_000 });
  t.is(added.exitCode, 0, added.stderr);
  const token = added.stdout.trim();

  const controlPlane = execa('node', ['--import=tsx', cliPath, 'control-plane', '--auth', '--port', '0', '--redis', url], { env, reject: false, buffer: false, stdin: 'ignore' });
  t.teardown(async () => {
    controlPlane.kill('SIGTERM');
    await controlPlane;
  });
  let output = '';
  let notListening: NodeJS.Timeout | undefined;
  const base = await new Promise<string>((resolve, reject) => {
    controlPlane.stderr?.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      const match = /listening on (http:\/\/[\d.:]+)/.exec(output);
      if (match) resolve(match[1]!);
    });
    void controlPlane.then(() => reject(new Error(`control plane exited:\n${output}`)));
    notListening = setTimeout(() => reject(new Error(`control plane not listening within 45 s:\n${output}`)), 45_000);
  }).finally(() => clearTimeout(notListening));
  t.is((await fetch(`${base}/api/server/instances`, { headers: { authorization: `Bearer ${token}` } })).status, 200);
  t.is((await fetch(`${base}/api/server/instances`)).status, 401);
  t.false(output.includes('tls-secret'), 'the password is not logged');

  // Without the CA the server's certificate is not trusted: refused, with the reason.
  const { NODE_EXTRA_CA_CERTS: _ca, ...untrusting } = env;
  const refused = await execa('node', ['--import=tsx', cliPath, 'tokens', 'list', '--redis', url], { env: untrusting, reject: false, timeout: 30_000 });
  t.is(refused.exitCode, 1);
  t.regex(refused.stderr, /redis unreachable at rediss:\/\/:\*\*\*@127\.0\.0\.1.*certificate/);
});
