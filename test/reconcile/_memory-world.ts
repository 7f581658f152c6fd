/**
 * A control plane whose worker runs the gated memory driver with an
 * in-process component API (see test/model/): each launch, graceful stop
 * and changing component call is held until the test lets it go.
 */
import type { ExecutionContext } from 'ava';
import { ControlPlane } from '../../src/actors/control-plane.js';
import { PlatformWorker } from '../../src/actors/platform-worker.js';
import { MemoryTransport } from '../../src/transport/memory.js';
import { ComponentServers } from '../model/component-servers.js';
import { GatedMemoryDriver } from '../model/gated-memory-driver.js';
import { Gates } from '../model/gates.js';

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export async function gatedControlPlane(t: ExecutionContext, reconcileIntervalMs: number) {
  const gates = new Gates();
  const components = new ComponentServers(gates);
  await components.listen();
  const transport = new MemoryTransport();
  const driver = new GatedMemoryDriver(gates, components);
  const worker = new PlatformWorker({ transport, driver, heartbeatMs: 60_000 });
  await worker.start();
  const controlPlane = new ControlPlane({ transport, startTimeoutMs: 2_000, replySlackMs: 200, stopGraceMs: 100, reconcileIntervalMs });
  await controlPlane.open();
  t.teardown(async () => {
    await controlPlane.close();
    gates.drain();
    await worker.close();
    await transport.close();
    await components.close();
  });
  /** Creates and starts an instance whose one source is `gen-1`, letting its launch go. */
  const running = async (name: string) => {
    await controlPlane.create({ name, configuration: { sources: [{ kind: 'mock', id: 'gen-1' }] } });
    const starting = controlPlane.start(name);
    while (gates.pending(name, 'start').length === 0) await sleep(5);
    for (const held of gates.pending(name, 'start')) held.release('ok');
    return starting;
  };
  /** Polls `check` until it holds, failing after `withinMs`. */
  const until = async (what: string, check: () => Promise<boolean>, withinMs = 10_000) => {
    const end = Date.now() + withinMs;
    while (!(await check())) {
      if (Date.now() > end) throw new Error(`${what} not within ${withinMs} ms`);
      await sleep(10);
    }
  };
  return { gates, components, driver, controlPlane, running, until };
}
