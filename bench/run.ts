/**
 * `npm run bench [-- --quick | --large] [-- --only lifecycle-http,control-plane,memory,fan-out,recovery,transport,kubernetes,reconfigure,api-edge,faults]`:
 * runs the benchmarks, prints one table per part and writes
 * bench/results/<part>.json. Every figure sits beside a baseline measured in
 * the same run; only ratios compare across machines.
 */
import { parseArgs } from 'node:util';
import { benchControlPlane } from './control-plane.js';
import { benchFanOut } from './fan-out.js';
import { benchFaults } from './faults.js';
import { benchKubernetes } from './kubernetes.js';
import { benchLifecycleHttp } from './lifecycle-http.js';
import { benchMemory } from './memory.js';
import { benchReconfigure } from './reconfigure.js';
import { benchApiEdge } from './api-edge.js';
import { benchRecovery } from './recovery.js';
import { formatTable, machineDescription, writeResult, type Row } from './lib/results.js';
import { benchTransport } from './transport.js';

const parts: Record<string, (options: { quick: boolean; large: boolean }) => Promise<Row[]>> = {
  'lifecycle-http': benchLifecycleHttp,
  'control-plane': benchControlPlane,
  memory: benchMemory,
  'fan-out': benchFanOut,
  recovery: benchRecovery,
  transport: benchTransport,
  kubernetes: benchKubernetes,
  reconfigure: benchReconfigure,
  'api-edge': benchApiEdge,
  faults: benchFaults,
};

const { values } = parseArgs({
  options: { quick: { type: 'boolean', default: false }, large: { type: 'boolean', default: false }, only: { type: 'string' } },
  strict: true,
});
const chosen = values.only ? values.only.split(',') : Object.keys(parts);
for (const name of chosen) {
  if (!parts[name]) {
    process.stderr.write(`bench: unknown part "${name}" (parts: ${Object.keys(parts).join(', ')})\n`);
    process.exit(2);
  }
}

const machine = machineDescription();
process.stdout.write(`machine: ${machine}${values.quick ? ' (quick sizes)' : ''}\n`);
for (const name of chosen) {
  process.stdout.write(`\n## ${name} … running\n`);
  const began = Date.now();
  const rows = await parts[name]!({ quick: values.quick, large: values.large });
  const result = { name, machine, date: new Date().toISOString(), rows };
  process.stdout.write(`${formatTable(result)}\n(${((Date.now() - began) / 1000).toFixed(1)} s; written to ${writeResult(result, values.quick)})\n`);
}
process.exit(0);
