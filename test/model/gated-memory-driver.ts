/**
 * The memory driver, with every launch and every stop of a running workload
 * held at the gates until the path lets it go, as succeeded or failed (see
 * `causes` in lifecycle-paths.ts). A start that finds its workload, and a stop
 * that finds none, complete at once, as the process driver's do. Its servers'
 * component API is `ComponentServers` (each changing call held too).
 */
import { DraasError, WorkloadFailedError } from '../../src/errors.js';
import type { StopOptions, StopOutcome, WorkloadRef, WorkloadSpec } from '../../src/platforms/driver.js';
import { directServerHttp, type ServerHttp } from '../../src/platforms/timed-fetch.js';
import { MemoryDriver } from '../fixtures/memory-driver.js';
import type { ComponentServers } from './component-servers.js';
import type { Gates } from './gates.js';

export class GatedMemoryDriver extends MemoryDriver {
  constructor(
    private readonly gates: Gates,
    private readonly components: ComponentServers,
  ) {
    super('process');
  }

  override async start(spec: WorkloadSpec): Promise<WorkloadRef> {
    const launches = !this.running.has(spec.instanceId);
    if (launches && (await this.gates.hold('start', spec.instanceId)) === 'fail') {
      throw new WorkloadFailedError('the model test failed this start', { exitCode: 1, signal: null, lastLogLines: [] });
    }
    const ref = await super.start(spec);
    if (launches) this.components.load(spec.instanceId, spec.config);
    return ref;
  }

  serverApi(instanceId: string): ServerHttp | undefined {
    return this.running.has(instanceId) ? directServerHttp(this.components.endpoint(instanceId)) : undefined;
  }

  override async stop(instanceId: string, options: StopOptions): Promise<StopOutcome> {
    await this.held(instanceId, 'stop');
    return super.stop(instanceId, options);
  }

  override async remove(instanceId: string, options: StopOptions): Promise<void> {
    await this.held(instanceId, 'removal');
    // MemoryDriver.remove would call the (held) stop again.
    await super.stop(instanceId, options);
    this.calls.push({ op: 'remove', instanceId });
  }

  private async held(instanceId: string, what: string): Promise<void> {
    if (!this.running.has(instanceId)) return;
    if ((await this.gates.hold('stop', instanceId)) === 'fail') {
      throw new DraasError('worker-error', `the model test failed this ${what}`, { instanceId });
    }
  }
}
