/**
 * `draas up` is SIGKILLed with 50 Drasi Servers running and started again on
 * the same data dir: every instance is Running with the same pid, none was
 * restarted, each history shows the recovery.
 */
import test from 'ava';
import type { ResultPromise } from 'execa';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { InstanceStatusView, InstanceView } from '../../src/api/instance-view.js';
import { doubleExecutable, portRange } from '../helpers/embedded.js';
import { draasUp, json } from '../helpers/draas-up.js';
import { isAlive, pidsWithArgument, waitFor } from '../helpers/processes.js';

function up(dataDir: string, ports: { min: number; max: number }) {
  return draasUp(['--data-dir', dataDir, '--drasi-server', doubleExecutable, '--ports', `${ports.min}-${ports.max}`]);
}

test('50 running instances survive a SIGKILL of draas up: same pids, none restarted, the recovery in each history', async (t) => {
  t.timeout(180_000);
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'draas-restart-'));
  const ports = portRange(60);
  const children: ResultPromise[] = [];
  t.teardown(async () => {
    for (const child of children) child.kill('SIGKILL');
    for (const pid of pidsWithArgument(dataDir)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
    await rm(dataDir, { recursive: true, force: true });
  });

  const first = up(dataDir, ports);
  children.push(first.child);
  const base = await first.url;
  const names = Array.from({ length: 50 }, (_, i) => `keep-${i}`);
  const pids = new Map<string, string>();
  for (let i = 0; i < names.length; i += 10) {
    await Promise.all(
      names.slice(i, i + 10).map(async (name) => {
        await json(fetch(`${base}/api/server/instances`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name }) }));
        const view = await json<InstanceView>(fetch(`${base}/api/server/instances/${name}/start`, { method: 'POST' }));
        pids.set(name, view.runtime!.workloadId);
      }),
    );
  }
  first.child.kill('SIGKILL');
  await first.child;
  t.true([...pids.values()].every((pid) => isAlive(Number(pid))), 'the servers outlive the control plane');

  const second = up(dataDir, ports);
  children.push(second.child);
  const again = await second.url;
  await waitFor(async () => (await json<InstanceView[]>(fetch(`${again}/api/server/instances`))).length === 50, 20_000, 'all 50 rehydrated');
  const views = await json<InstanceView[]>(fetch(`${again}/api/server/instances`));
  for (const view of views) {
    t.is(view.status, 'Running', view.id);
    t.is(view.runtime?.workloadId, pids.get(view.id), `${view.id} kept its pid`);
  }
  t.is(pidsWithArgument(path.join(dataDir, 'instances')).length, 50, 'exactly 50 servers: none restarted or duplicated');
  const status = await json<InstanceStatusView>(fetch(`${again}/api/status/keep-7/status`));
  t.like(status.history.at(-1), { from: 'Running', to: 'Running', cause: 'instance.recover' });
  // Still manageable after the restart.
  const stopped = await json<InstanceView>(fetch(`${again}/api/server/instances/keep-7/stop`, { method: 'POST' }));
  t.is(stopped.status, 'Stopped');
  t.false(isAlive(Number(pids.get('keep-7'))));
});
