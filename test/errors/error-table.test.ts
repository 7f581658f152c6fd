/**
 * Every error code travels intact: through a Redis reply (encode → decode)
 * and into problem+json (status, type, title), all read from the one table
 * in src/errors.ts. A code added to the table is covered here without edits.
 */
import test from 'ava';
import Koa from 'koa';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { DraasError, errorTable, isErrorCode, type ErrorCode } from '../../src/errors.js';
import { problemMiddleware } from '../../src/http/problem.js';
import { deserializeError, serializeError, type ReplyEnvelope } from '../../src/transport/envelope.js';
import { decodeReply, encodeReply, parseEntry } from '../../src/transport/redis-codec.js';

const codes = Object.keys(errorTable) as ErrorCode[];

test('the table lists the codes replicas, workers and the API use', (t) => {
  for (const code of ['bad-request', 'forbidden', 'not-found', 'conflict', 'invalid-config', 'no-live-worker', 'worker-timeout', 'workload-failed', 'worker-error', 'unavailable', 'not-owner', 'host-not-allowed', 'too-many-streams']) {
    t.true(isErrorCode(code), code);
  }
  t.false(isErrorCode('no-such-code'));
  t.false(isErrorCode('toString'), 'inherited names are not codes');
});

test('every code survives a Redis reply: encoded, decoded, and rebuilt with its status and retryability', (t) => {
  for (const code of codes) {
    const error = new DraasError(code, `a ${code} problem`, { instanceId: 'x1', marker: code });
    const reply: ReplyEnvelope = { commandId: `c-${code}`, ok: false, error: serializeError(error) };
    const entry = parseEntry(['1-0', encodeReply(`r-${code}`, reply)]);
    t.truthy(entry, code);
    const decoded = entry && decodeReply(entry);
    t.truthy(decoded, `a "${code}" reply is not dropped as malformed`);
    if (!decoded || decoded.reply.ok) continue;
    t.deepEqual(decoded, { requestId: `r-${code}`, reply });
    const rebuilt = deserializeError(decoded.reply.error);
    t.is(rebuilt.code, code);
    t.is(rebuilt.message, `a ${code} problem`);
    t.is(rebuilt.status, errorTable[code].status, code);
    t.is(rebuilt.retryable, errorTable[code].retryable, code);
  }
});

test('a reply with a code outside the table is still refused as malformed', (t) => {
  const entry = parseEntry(['1-0', ['requestId', 'r1', 'reply', JSON.stringify({ commandId: 'c1', ok: false, error: { code: 'made-up', message: 'm', details: {} } })]]);
  t.truthy(entry);
  t.is(entry && decodeReply(entry), undefined);
});

test('every code becomes problem+json with the status, type and title of the table', async (t) => {
  const app = new Koa();
  app.use(problemMiddleware(() => undefined));
  app.use((ctx) => {
    const code = ctx.path.slice(1);
    if (!isErrorCode(code)) throw new Error(`not a code: ${code}`);
    throw new DraasError(code, `a ${code} problem`, { marker: code });
  });
  const server = createServer(app.callback()).listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  for (const code of codes) {
    const response = await fetch(`${base}/${code}`);
    const { status, title } = errorTable[code];
    t.is(response.status, status, code);
    t.regex(response.headers.get('content-type') ?? '', /^application\/problem\+json/);
    t.deepEqual(await response.json(), {
      type: `urn:draas:problem:${code}`,
      title,
      status,
      detail: `a ${code} problem`,
      instance: `/${code}`,
      marker: code,
    });
  }
});

test('statuses are HTTP error statuses and every title is written', (t) => {
  for (const code of codes) {
    const { status, title } = errorTable[code];
    t.true(Number.isInteger(status) && status >= 400 && status <= 599, code);
    t.true(title.length > 0, code);
  }
});
