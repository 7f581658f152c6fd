/**
 * Bearer JWTs of an OpenID Connect issuer, against a real issuer started
 * here: an HTTP server with a discovery document and a JWKS of keys jose
 * made. Roles from a claim, expiry, audience, issuer, unknown keys, key
 * rotation, a token without a role, an issuer that does not answer.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import test, { type ExecutionContext } from 'ava';
import { exportJWK, generateKeyPair, SignJWT, type JWK, type JWTPayload, type CryptoKey } from 'jose';
import { claimAt, roleFromClaim } from '../../src/auth/oidc.js';
import { FileAuditLog } from '../../src/auth/audit.js';
import { embedded } from '../helpers/embedded.js';

interface Issuer {
  url: string;
  /** Publishes a new key (and keeps the old ones unless `only`). */
  rotate(only?: boolean): Promise<{ kid: string; privateKey: CryptoKey }>;
  sign(payload: JWTPayload, options?: { key?: { kid: string; privateKey: CryptoKey }; issuer?: string; audience?: string; expiresIn?: string | number }): Promise<string>;
  jwksFetches: number;
  stop(): Promise<void>;
}

async function startIssuer(t: ExecutionContext): Promise<Issuer> {
  const keys: { kid: string; privateKey: CryptoKey; jwk: JWK }[] = [];
  let counter = 0;
  let jwksFetches = 0;
  const server = http.createServer((request, response) => {
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    if (request.url === '/.well-known/openid-configuration') {
      response.setHeader('content-type', 'application/json');
      response.end(JSON.stringify({ issuer: base, jwks_uri: `${base}/jwks`, id_token_signing_alg_values_supported: ['RS256', 'ES256'] }));
    } else if (request.url === '/jwks') {
      jwksFetches += 1;
      response.setHeader('content-type', 'application/json');
      response.end(JSON.stringify({ keys: keys.map((key) => key.jwk) }));
    } else {
      response.statusCode = 404;
      response.end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const stop = () => new Promise<void>((resolve) => server.close(() => resolve()));
  t.teardown(stop);
  const rotate = async (only = false) => {
    counter += 1;
    const { publicKey, privateKey } = await generateKeyPair('ES256', { extractable: true });
    const kid = `key-${counter}`;
    const jwk = { ...(await exportJWK(publicKey)), kid, alg: 'ES256', use: 'sig' };
    if (only) keys.splice(0);
    keys.push({ kid, privateKey, jwk });
    return { kid, privateKey };
  };
  await rotate();
  return {
    url,
    rotate,
    get jwksFetches() {
      return jwksFetches;
    },
    async sign(payload, options = {}) {
      const key = options.key ?? keys.at(-1)!;
      return new SignJWT(payload)
        .setProtectedHeader({ alg: 'ES256', kid: key.kid })
        .setIssuer(options.issuer ?? url)
        .setAudience(options.audience ?? 'draas')
        .setSubject(typeof payload.sub === 'string' ? payload.sub : 'someone')
        .setIssuedAt()
        .setExpirationTime(options.expiresIn ?? '5m')
        .sign(key.privateKey);
    },
    stop,
  };
}

async function withIssuer(t: ExecutionContext) {
  const issuer = await startIssuer(t);
  const { draas, dataDir } = await embedded(t, { auth: { oidc: { issuer: issuer.url, audience: 'draas', jwksCooldownMs: 0, clockToleranceSeconds: 5 } } });
  const { url } = await draas.listen({ port: 0, host: '127.0.0.1' });
  const get = async (token: string, path = '/api/server/instances') => {
    const response = await fetch(url + path, { headers: { authorization: `Bearer ${token}` } });
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  };
  return { issuer, url, dataDir, get };
}

test('roles come from the claim: the highest of viewer, operator, admin wins; a string or a list; a dotted path', (t) => {
  t.is(roleFromClaim(['viewer', 'admin', 'operator']), 'admin');
  t.is(roleFromClaim('viewer operator'), 'operator');
  t.is(roleFromClaim('operator'), 'operator');
  t.is(roleFromClaim(['root', 'owner']), undefined);
  t.is(roleFromClaim(42), undefined);
  t.is(roleFromClaim(undefined), undefined);
  t.deepEqual(claimAt({ realm_access: { roles: ['viewer'] } }, 'realm_access.roles'), ['viewer']);
  t.deepEqual(claimAt({ 'https://draas/roles': 'admin' }, 'https://draas/roles'), 'admin');
  t.is(claimAt({ a: 1 }, 'a.b'), undefined);
});

test('a valid token of each role is allowed as the catalog says; the subject and issuer are audited', async (t) => {
  const { issuer, url, dataDir, get } = await withIssuer(t);
  t.is((await get(await issuer.sign({ roles: ['viewer'] }))).status, 200);
  const operatorToken = await issuer.sign({ sub: 'ops-1', roles: 'operator' });
  const refused = await fetch(`${url}/api/status/updates`, { method: 'POST', headers: { authorization: `Bearer ${operatorToken}`, 'content-type': 'application/json' }, body: '{}' });
  t.is(refused.status, 403);
  const created = await fetch(`${url}/api/server/instances`, {
    method: 'POST',
    headers: { authorization: `Bearer ${operatorToken}`, 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'by-oidc', configuration: {} }),
  });
  t.is(created.status, 201);
  t.is((await get(await issuer.sign({ roles: ['viewer', 'admin'] }), '/api/audit')).status, 200);
  const { entries } = await new FileAuditLog(dataDir).read({ limit: 10 });
  t.like(entries.at(-1), { status: 201, role: 'operator', actor: { kind: 'oidc', subject: 'ops-1', issuer: issuer.url } });
});

test('expired, wrong audience, wrong issuer, unknown key, alg none and a tampered token are 401', async (t) => {
  const { issuer, get } = await withIssuer(t);
  const expired = await issuer.sign({ roles: ['admin'] }, { expiresIn: Math.floor(Date.now() / 1000) - 60 });
  t.is((await get(expired)).status, 401);
  t.is((await get(await issuer.sign({ roles: ['admin'] }, { audience: 'someone-else' }))).status, 401);
  t.is((await get(await issuer.sign({ roles: ['admin'] }, { issuer: 'https://evil.example' }))).status, 401);
  // A key the issuer never published.
  const { privateKey } = await generateKeyPair('ES256');
  t.is((await get(await issuer.sign({ roles: ['admin'] }, { key: { kid: 'not-published', privateKey } }))).status, 401);
  const unsigned = `${Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url')}.${Buffer.from(JSON.stringify({ iss: issuer.url, aud: 'draas', sub: 'x', exp: Math.floor(Date.now() / 1000) + 60, roles: ['admin'] })).toString('base64url')}.AAAA`;
  t.is((await get(unsigned)).status, 401);
  const good = await issuer.sign({ roles: ['viewer'] });
  const [header, , signature] = good.split('.');
  const tampered = `${header}.${Buffer.from(JSON.stringify({ iss: issuer.url, aud: 'draas', sub: 'x', exp: Math.floor(Date.now() / 1000) + 60, roles: ['admin'] })).toString('base64url')}.${signature}`;
  const answer = await get(tampered);
  t.is(answer.status, 401);
  t.is(answer.body.type, 'urn:draas:problem:unauthorized');
});

test('a valid token without a role is 403 naming the claim (authenticated, not authorized); public operations stay open', async (t) => {
  const { issuer, url, get } = await withIssuer(t);
  const answer = await get(await issuer.sign({ groups: ['admin'] }));
  t.is(answer.status, 403);
  t.is(answer.body.reason, 'no-role');
  t.regex(String(answer.body.detail), /"roles" claim/);
  t.is((await fetch(`${url}/healthz`)).status, 200);
});

test('key rotation: a token signed with a newly published key is accepted (the key set is fetched again); a retired key is not', async (t) => {
  const { issuer, get } = await withIssuer(t);
  const old = await issuer.sign({ roles: ['viewer'] });
  t.is((await get(old)).status, 200);
  const fetchesBefore = issuer.jwksFetches;
  await issuer.rotate(true);
  t.is((await get(await issuer.sign({ roles: ['viewer'] }))).status, 200);
  t.true(issuer.jwksFetches > fetchesBefore);
  // The old key is gone from the set; the verifier's cached copy is replaced on the refetch.
  t.is((await get(old)).status, 401);
});

test('an issuer that does not answer is a 503 (retry later), not a 401; DRaaS tokens still work', async (t) => {
  const issuer = await startIssuer(t);
  const token = await issuer.sign({ roles: ['viewer'] });
  await issuer.stop();
  const { draas, dataDir } = await embedded(t, { auth: { oidc: { issuer: issuer.url, audience: 'draas', fetchTimeoutMs: 1_000 } } });
  const { url } = await draas.listen({ port: 0, host: '127.0.0.1' });
  const answer = await fetch(`${url}/api/server/instances`, { headers: { authorization: `Bearer ${token}` } });
  t.is(answer.status, 503);
  t.regex(String(((await answer.json()) as { detail: string }).detail), /OIDC discovery/);
  const { FileTokenStore } = await import('../../src/auth/file-token-store.js');
  const { token: own } = await new FileTokenStore(dataDir).add('local', 'viewer');
  t.is((await fetch(`${url}/api/server/instances`, { headers: { authorization: `Bearer ${own}` } })).status, 200);
});
