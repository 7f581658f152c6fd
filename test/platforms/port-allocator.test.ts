import test from 'ava';
import { createServer } from 'node:net';
import { PortAllocator, PortUnavailableError, isPortBindable } from '../../src/platforms/port-allocator.js';

// Fake probes: these ports are never bound, and the range is used by no other test.
const free = async (): Promise<boolean> => true;

test('hands out ports of the range, one per owner, never twice', async (t) => {
  const ports = new PortAllocator({ min: 45000, max: 45002 }, { probe: free });
  const a = await ports.allocate('a');
  const b = await ports.allocate('b');
  const c = await ports.allocate('c');
  t.deepEqual(new Set([a, b, c]), new Set([45000, 45001, 45002]));
  t.is(await ports.allocate('a'), a, 'an owner keeps its port');
  await t.throwsAsync(ports.allocate('d'), { instanceOf: PortUnavailableError, message: /no free port in the range 45000-45002/ });
  ports.release('b');
  ports.release('b');
  t.is(await ports.allocate('d'), b);
  t.is(ports.portOf('d'), b);
  t.is(ports.portOf('b'), undefined);
});

test('concurrent allocations never share a port', async (t) => {
  const slow = async (): Promise<boolean> => {
    await new Promise((resolve) => setTimeout(resolve, 5));
    return true;
  };
  const ports = new PortAllocator({ min: 45010, max: 45029 }, { probe: slow });
  const got = await Promise.all(Array.from({ length: 20 }, (_, i) => ports.allocate(`owner-${i}`)));
  t.is(new Set(got).size, 20);
});

test('ports that cannot be bound are skipped', async (t) => {
  const ports = new PortAllocator({ min: 45030, max: 45034 }, { probe: async (port) => port !== 45030 && port !== 45031 });
  t.is(await ports.allocate('a'), 45032);
});

test('a preferred port is used when free, else the range; a required port is exact or an error', async (t) => {
  const busy = new Set([45046]);
  const ports = new PortAllocator({ min: 45040, max: 45044 }, { probe: async (port) => !busy.has(port) });
  t.is(await ports.allocate('a', { preferred: 45043 }), 45043);
  t.is(await ports.allocate('b', { preferred: 45043 }), 45040, 'taken: falls back to the range');
  t.is(await ports.allocate('c', { required: 45045 }), 45045, 'outside the range is fine when required');
  await t.throwsAsync(ports.allocate('d', { required: 45045 }), { instanceOf: PortUnavailableError, message: /already used by instance "c"/ });
  await t.throwsAsync(ports.allocate('d', { required: 45046 }), { instanceOf: PortUnavailableError, message: /in use by another program/ });
  t.is(ports.portOf('d'), undefined);
});

test('two allocators of one process never hand out the same port', async (t) => {
  const first = new PortAllocator({ min: 45050, max: 45051 }, { probe: free });
  const second = new PortAllocator({ min: 45050, max: 45051 }, { probe: free });
  const a = await first.allocate('x');
  const b = await second.allocate('x');
  t.not(a, b);
  await t.throwsAsync(second.allocate('y'), { instanceOf: PortUnavailableError });
  await t.throwsAsync(second.allocate('z', { required: a }), { message: /another driver of this process/ });
  first.release('x');
  t.is(await second.allocate('y'), a);
});

test('reserve records a port without probing; invalid ranges are refused', async (t) => {
  const ports = new PortAllocator({ min: 45060, max: 45061 }, { probe: async () => false });
  ports.reserve('adopted', 45060);
  t.is(ports.portOf('adopted'), 45060);
  t.throws(() => ports.reserve('other', 45060), { instanceOf: PortUnavailableError });
  t.throws(() => new PortAllocator({ min: 10, max: 5 }), { instanceOf: RangeError });
  t.throws(() => new PortAllocator({ min: 0, max: 5 }), { instanceOf: RangeError });
});

test('isPortBindable tells a bound port from a free one', async (t) => {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => server.close());
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  t.false(await isPortBindable(port));
  await new Promise<void>((resolve) => server.close(() => resolve()));
  t.true(await isPortBindable(port));
});

test('ports fetch refuses to connect to ("bad ports", e.g. 10080) are never handed out, and asking for one says why', async (t) => {
  const ports = new PortAllocator({ min: 10079, max: 10081 }, { probe: free });
  t.deepEqual([await ports.allocate('a'), await ports.allocate('b')], [10079, 10081]);
  await t.throwsAsync(ports.allocate('c'), { instanceOf: PortUnavailableError, message: /no free port/ });
  const asked = new PortAllocator({ min: 6000, max: 6001 }, { probe: free });
  await t.throwsAsync(asked.allocate('x', { required: 6000 }), { instanceOf: PortUnavailableError, message: /port 6000 is one that HTTP clients refuse to connect to/ });
  t.is(await asked.allocate('y', { preferred: 6000 }), 6001, 'a preferred bad port is passed over');
  // fetch itself: what the allocator spares the health probe.
  const refused = await t.throwsAsync(fetch('http://127.0.0.1:10080/health'));
  t.regex(String((refused?.cause as Error | undefined)?.message), /bad port/);
});
