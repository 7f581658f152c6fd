/**
 * Which failures are transient (retried, counted against the engine) and
 * which are answers: Docker Engine API, Kubernetes API (with Retry-After),
 * and Redis (ioredis connection errors and Redis's own transient replies).
 */
import test from 'ava';
import { ReplyError } from 'ioredis';
import { DraasError } from '../../src/errors.js';
import { dockerFault, kubernetesFault, retryAfterMs, socketCode } from '../../src/platforms/engine-faults.js';
import { isTransientRedisError } from '../../src/redis/transient.js';

const socketError = (code: string, message = `connect ${code} /tmp/x.sock`) => Object.assign(new Error(message), { code });
const httpError = (statusCode: number) => Object.assign(new Error(`(HTTP code ${statusCode})`), { statusCode });

test('docker: no connection made (refused, socket missing) is sick, unreachable and retried whatever the method', (t) => {
  for (const code of ['ECONNREFUSED', 'ENOENT']) {
    for (const method of ['GET', 'POST', 'DELETE']) t.deepEqual(dockerFault(socketError(code), method), { sick: true, retry: true, unreachable: true }, `${code} ${method}`);
  }
  t.false(dockerFault(socketError('ECONNREFUSED'), 'POST', false).retry, 'a stream body cannot be sent twice');
});

test('docker: a connection lost mid-request is retried for reads only', (t) => {
  for (const error of [socketError('ECONNRESET'), socketError('EPIPE'), new Error('socket hang up')]) {
    t.deepEqual(dockerFault(error, 'GET'), { sick: true, retry: true, unreachable: true });
    t.deepEqual(dockerFault(error, 'POST'), { sick: true, retry: false, unreachable: true });
  }
});

test('docker: 502/503/504 are sick and fail as "unavailable"; a 500 is sick for a read, an answer for a write; 4xx and 304 are answers', (t) => {
  for (const status of [502, 503, 504]) {
    t.deepEqual(dockerFault(httpError(status), 'GET'), { sick: true, retry: true, unreachable: true });
    t.deepEqual(dockerFault(httpError(status), 'POST'), { sick: true, retry: false, unreachable: true });
  }
  t.deepEqual(dockerFault(httpError(500), 'GET'), { sick: true, retry: true, unreachable: false });
  t.false(dockerFault(httpError(500), 'POST').sick, 'e.g. "port is already allocated"');
  for (const status of [304, 400, 404, 409]) t.deepEqual(dockerFault(httpError(status), 'GET'), { sick: false, retry: false, unreachable: false }, String(status));
  t.false(dockerFault(new TypeError('a bug'), 'GET').sick, 'not the engine: not counted');
});

test('socket codes are found in causes (fetch wraps them)', (t) => {
  t.is(socketCode(new Error('fetch failed', { cause: socketError('ECONNREFUSED') })), 'ECONNREFUSED');
  t.is(socketCode(Object.assign(new Error('request to https://x failed'), { type: 'system', errno: 'ECONNRESET', code: 'ECONNRESET' })), 'ECONNRESET');
  t.is(socketCode(new Error('nothing')), undefined);
});

test('kubernetes: 429 and 503 are retried for any method with their Retry-After; a 429 is not sickness', (t) => {
  t.deepEqual(kubernetesFault({ status: 429, retryAfter: '2' }, 'POST'), { sick: false, retry: true, unreachable: false, retryAfterMs: 2_000 });
  t.deepEqual(kubernetesFault({ status: 503, retryAfter: '1' }, 'PUT'), { sick: true, retry: true, unreachable: true, retryAfterMs: 1_000 });
  t.deepEqual(kubernetesFault({ status: 503 }, 'GET'), { sick: true, retry: true, unreachable: true });
});

test('kubernetes: 500/502/504 are sick, retried for reads only; 403/404/409/422 are answers', (t) => {
  for (const status of [502, 504]) {
    t.deepEqual(kubernetesFault({ status }, 'GET'), { sick: true, retry: true, unreachable: true });
    t.deepEqual(kubernetesFault({ status }, 'POST'), { sick: true, retry: false, unreachable: true });
  }
  t.deepEqual(kubernetesFault({ status: 500 }, 'GET'), { sick: true, retry: true, unreachable: false });
  t.deepEqual(kubernetesFault({ status: 500 }, 'POST'), { sick: true, retry: false, unreachable: false });
  for (const status of [200, 201, 401, 403, 404, 409, 422]) t.is(kubernetesFault({ status }, 'GET'), undefined, String(status));
  t.deepEqual(kubernetesFault({ error: socketError('ECONNREFUSED') }, 'POST'), { sick: true, retry: true, unreachable: true });
});

test('Retry-After: seconds or an HTTP date', (t) => {
  t.is(retryAfterMs('3'), 3_000);
  t.is(retryAfterMs(new Date(10_000).toUTCString(), 4_000), 6_000);
  t.is(retryAfterMs('soon'), undefined);
  t.is(retryAfterMs(undefined), undefined);
});

test('redis: connection failures and LOADING/TRYAGAIN/READONLY/CLUSTERDOWN/MASTERDOWN/BUSY are transient', (t) => {
  t.true(isTransientRedisError(new Error("Stream isn't writeable and enableOfflineQueue options is false")));
  t.true(isTransientRedisError(new Error('Connection is closed.')));
  t.true(isTransientRedisError(Object.assign(new Error('Reached the max retries per request limit (which is 1).'), { name: 'MaxRetriesPerRequestError' })));
  t.true(isTransientRedisError(socketError('ECONNRESET', 'read ECONNRESET')));
  for (const reply of ['LOADING Redis is loading the dataset in memory', 'TRYAGAIN Multiple keys request during rehashing', 'READONLY You can\'t write against a read only replica.', 'CLUSTERDOWN The cluster is down', 'MASTERDOWN Link with MASTER is down', 'BUSY Redis is busy running a script']) {
    t.true(isTransientRedisError(new ReplyError(reply)), reply);
  }
});

test('redis: WRONGTYPE, NOAUTH, NOPERM, script errors and our own errors are permanent', (t) => {
  for (const reply of ['WRONGTYPE Operation against a key holding the wrong kind of value', 'NOAUTH Authentication required.', 'WRONGPASS invalid username-password pair', 'NOPERM this user has no permissions', 'ERR Error running script', 'NOSCRIPT No matching script', 'DRAAS_STALE_FENCE lease']) {
    t.false(isTransientRedisError(new ReplyError(reply)), reply);
  }
  t.false(isTransientRedisError(new DraasError('unavailable', 'redis unreachable')));
  t.false(isTransientRedisError(new Error('redis transaction aborted')));
  t.false(isTransientRedisError('a string'));
});
