/**
 * `platformType` and `platformOptions` at the HTTP boundary, and a Docker
 * worker that cannot reach its engine: no engine is needed for either.
 */
import test from 'ava';
import { embedded } from '../helpers/embedded.js';
import { api } from '../helpers/http-api.js';

/** A control plane whose Docker worker points at a socket nobody listens on. */
async function withUnreachableEngine(t: Parameters<typeof embedded>[0]) {
  const { draas } = await embedded(t, { platforms: ['process', 'docker'], docker: { host: 'unix:///nonexistent/draas-test/docker.sock', image: 'example/drasi:1' } });
  const { url } = await draas.listen({ port: 0 });
  return api(url);
}

const badOptions: [string, unknown, RegExp][] = [
  ['an image that is no image reference', { image: 'Not An Image!' }, /\/platformOptions\/image: must be an image reference/],
  ['a fractional memory limit', { memoryMb: 1.5 }, /\/platformOptions\/memoryMb: must be a whole number of MiB/],
  ['a memory limit below 16 MiB', { memoryMb: 8 }, /\/platformOptions\/memoryMb: must be at least 16/],
  ['zero CPUs', { cpus: 0 }, /\/platformOptions\/cpus: must be above 0/],
  ['an unknown network mode', { network: 'overlay' }, /\/platformOptions\/network: /],
  ['an option Docker does not have', { privileged: true }, /\/platformOptions: .*privileged.* \(not an option of platform "docker"\)/],
  ['options that are not an object', 'big', /\/platformOptions: /],
];

for (const [what, platformOptions, message] of badOptions) {
  test(`create with ${what} is a 400 problem that says which option and why`, async (t) => {
    const call = await withUnreachableEngine(t);
    const response = await call('POST', '/api/server/instances', { name: 'bad', platformType: 'docker', platformOptions });
    t.is(response.status, 400);
    t.regex(String(response.headers.get('content-type')), /application\/problem\+json/);
    t.regex(String(response.body['detail']), message);
    t.is((await call('GET', '/api/server/instances/bad')).status, 404, 'nothing was created');
  });
}

test('process instances take no platform options', async (t) => {
  const call = await withUnreachableEngine(t);
  const response = await call('POST', '/api/server/instances', { name: 'proc', platformOptions: { image: 'x' } });
  t.is(response.status, 400);
  t.regex(String(response.body['detail']), /not an option of platform "process"/);
});

test('valid docker options are kept in the record and shown', async (t) => {
  const call = await withUnreachableEngine(t);
  const options = { image: 'ghcr.io/drasi-project/drasi-server:0.2.0', memoryMb: 512, cpus: 1.5, network: 'host' };
  const created = await call('POST', '/api/server/instances', { name: 'kept', platformType: 'docker', platformOptions: options });
  t.is(created.status, 201);
  t.deepEqual(created.body['platformOptions'], options);
  t.deepEqual((await call('GET', '/api/server/instances/kept')).body['platformOptions'], options);
});

test('a Docker worker that cannot reach its engine is listed unavailable with the reason, and a docker start fails fast with 503', async (t) => {
  const call = await withUnreachableEngine(t);
  const platforms = (await call('GET', '/api/platforms')).body['platforms'] as { platform: string; available: boolean; workers: { details: Record<string, unknown> }[] }[];
  const docker = platforms.find((entry) => entry.platform === 'docker')!;
  t.false(docker.available);
  t.is(docker.workers.length, 1, 'the worker is alive and says so');
  t.regex(String(docker.workers[0]!.details['unavailableReason']), /Docker Engine at unix:\/\/\/nonexistent\/draas-test\/docker\.sock is unreachable/);
  t.true(platforms.find((entry) => entry.platform === 'process')!.available, 'the process worker is unaffected');

  await call('POST', '/api/server/instances', { name: 'nowhere', platformType: 'docker' });
  const start = await call('POST', '/api/server/instances/nowhere/start');
  t.is(start.status, 503);
  t.regex(String(start.body['detail']), /no live worker for platform "docker"/);
});
