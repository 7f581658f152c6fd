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
// Warm up to a steady process before measuring, so that what does not grow with the instances — compiled code,
// the young generation V8 grows to under allocation — is not counted per instance: a thousand instances made and
// deleted, one kept. The baseline stores plain objects and has nothing to warm up (its growth would then be
// masked by what V8 gives back of the warm-up's garbage).
const warmUps = baseline ? 0 : 1_000;
for (let i = 0; i < warmUps; i++) await controlPlane.create({ name: `warm-up-${i}` });
for (let i = 0; i < warmUps; i++) await controlPlane.delete(`warm-up-${i}`);
await controlPlane.create({ name: 'warm-up' });
// V8 gives freed pages back to the system about 3 s after allocation stops: both measurements wait that out, so
// that what the warm-up (or a collection) freed is not subtracted from the instances' growth.
const idle = () => new Promise((resolve) => setTimeout(resolve, 4_000));
await idle();
const before = settle();
for (let i = 0; i < count; i++) {
  const name = `idle-${i}`;
  if (baseline) keep.set(name, { id: name, description: '', platformType: 'process', serverConfiguration: { host: '127.0.0.1' }, environment: {}, configuration: {}, generation: 1, createdAt: new Date().toISOString(), updatedAt: new Date().toISOString() });
  else await controlPlane.create({ name });
}
// Idle means idle (instances touched in the last second keep their XState actor, instance-actor.ts).
await idle();
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
