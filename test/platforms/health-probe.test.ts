import test, { type ExecutionContext } from 'ava';
import { createServer, type Server } from 'node:http';
import { checkHealth, probeHost, waitForHealthy } from '../../src/platforms/health-probe.js';

async function serve(t: ExecutionContext, handler: Parameters<typeof createServer>[1]): Promise<string> {
  const server: Server = createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    server.closeAllConnections();
    server.close();
  });
  const address = server.address();
  return `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}/health`;
}

test('waits until the server answers 200', async (t) => {
  let calls = 0;
  const url = await serve(t, (_request, response) => {
    calls++;
    response.statusCode = calls < 3 ? 503 : 200;
    response.end('{}');
  });
  const outcome = await waitForHealthy({ url, timeoutMs: 5_000, intervalMs: 10 });
  t.like(outcome, { healthy: true, attempts: 3 });
});

test('times out, and says what the last attempt saw', async (t) => {
  const url = await serve(t, (_request, response) => {
    response.statusCode = 500;
    response.end();
  });
  const before = Date.now();
  // Generous budget: on a loaded machine the first request alone may take a while.
  const outcome = await waitForHealthy({ url, timeoutMs: 1_500, intervalMs: 20 });
  t.like(outcome, { healthy: false, reason: 'timeout', lastError: 'HTTP 500' });
  const took = Date.now() - before;
  t.true(took >= 1_500 && took < 6_000, `took ${took} ms`);
});

test('nothing listening: connection errors until the deadline', async (t) => {
  const outcome = await waitForHealthy({ url: 'http://127.0.0.1:1/health', timeoutMs: 150, intervalMs: 20 });
  t.like(outcome, { healthy: false, reason: 'timeout' });
});

test('an abort stops the probe at once, also during a hanging request', async (t) => {
  const url = await serve(t, () => undefined); // never answers
  const controller = new AbortController();
  setTimeout(() => controller.abort(), 100);
  const before = Date.now();
  const outcome = await waitForHealthy({ url, timeoutMs: 10_000, intervalMs: 10, signal: controller.signal });
  t.like(outcome, { healthy: false, reason: 'aborted' });
  t.true(Date.now() - before < 5_000, 'stopped by the abort, not by the 10 s deadline');
  t.like(await checkHealth(url, { timeoutMs: 50 }), { ok: false });
});

test('a verifier can refuse a 200', async (t) => {
  const url = await serve(t, (_request, response) => response.end('{}'));
  let allowed = false;
  setTimeout(() => {
    allowed = true;
  }, 100);
  const outcome = await waitForHealthy({ url, timeoutMs: 5_000, intervalMs: 10, verify: async () => (allowed ? undefined : 'not ours') });
  t.true(outcome.healthy);
  t.like(await waitForHealthy({ url, timeoutMs: 1_500, intervalMs: 10, verify: async () => 'not ours' }), { healthy: false, lastError: 'not ours' });
});

test('probeHost maps wildcard and unresolved hosts to loopback', (t) => {
  t.is(probeHost(undefined), '127.0.0.1');
  t.is(probeHost('0.0.0.0'), '127.0.0.1');
  t.is(probeHost('::'), '127.0.0.1');
  t.is(probeHost('${HOST}'), '127.0.0.1');
  t.is(probeHost('::1'), '[::1]');
  t.is(probeHost('10.1.2.3'), '10.1.2.3');
});
