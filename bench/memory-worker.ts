/**
 * A platform worker with the in-memory driver on a Redis transport, in its own
 * process: what the cluster part of the control-plane bench talks to, as a
 * control plane talks to a worker on another host. Benchmark use only.
 *
 *   node --import=tsx bench/memory-worker.ts <redis-url> <prefix>
 *
 * Prints "ready" once it consumes commands; exits on SIGTERM.
 */
import { PlatformWorker } from '../src/actors/platform-worker.js';
import { createRedisTransport } from '../src/transport/redis.js';
import { MemoryDriver } from '../test/fixtures/memory-driver.js';

const [url, prefix] = process.argv.slice(2);
if (!url || !prefix) {
  process.stderr.write('usage: memory-worker.ts <redis-url> <prefix>\n');
  process.exit(2);
}
const transport = await createRedisTransport({ url, prefix });
const worker = new PlatformWorker({ transport, driver: new MemoryDriver() });
await worker.start();
process.stdout.write('ready\n');
process.once('SIGTERM', () => {
  void worker
    .close()
    .then(() => transport.close())
    .finally(() => process.exit(0));
});
