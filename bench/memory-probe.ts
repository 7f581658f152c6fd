/**
 * Child process of the memory benchmark (run with --expose-gc): creates N
 * idle instances (record + actor, no workload) and prints the heap and RSS
 * growth as JSON. `--baseline` stores N plain records in a Map instead.
 */
import { ControlPlane } from '../src/actors/control-plane.js';
import { MemoryTransport } from '../src/transport/memory.js';

const count = Number(process.argv[2]);
const baseline = process.argv.includes('--baseline');
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with --expose-gc');

const settle = () => {
  gc();
  gc();
  return process.memoryUsage();
};

const controlPlane = new ControlPlane({ transport: new MemoryTransport() });
await controlPlane.open();
const keep = new Map<string, unknown>();
// Warm up code paths so that compiled code is not counted as per-instance memory.
await controlPlane.create({ name: 'warm-up' });
const before = settle();
for (let i = 0; i < count; i++) {
  const name = `idle-${i}`;
  if (baseline) keep.set(name, { id: name, description: '', platformType: 'process', serverConfiguration: { host: '127.0.0.1' }, environment: {}, configuration: {}, generation: 1, createdAt: new Date().toISOString(), updatedAt: new Date().toISOString() });
  else await controlPlane.create({ name });
}
// Idle means idle: instances touched in the last second keep their XState actor (instance-actor.ts).
await new Promise((resolve) => setTimeout(resolve, 1_200));
const after = settle();
// Use both after measuring, so neither can be collected before the measurement.
const held = baseline ? keep.size : (await controlPlane.list()).length - 1;
if (held !== count) throw new Error(`expected ${count} instances, found ${held}`);
process.stdout.write(
  JSON.stringify({
    count,
    heapPerInstance: (after.heapUsed - before.heapUsed) / count,
    rssPerInstance: (after.rss - before.rss) / count,
    heapTotalMb: after.heapUsed / 2 ** 20,
    rssTotalMb: after.rss / 2 ** 20,
  }) + '\n',
);
