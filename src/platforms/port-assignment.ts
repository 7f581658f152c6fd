/**
 * How a driver gives each workload its port. Pluggable, because platforms
 * differ: a local process or a published container port needs a free port of
 * this host (`HostPorts`), while a Kubernetes pod has its own address and
 * always listens on the same container port (`FixedPort`).
 */
import { PortAllocator, type PortRange } from './port-allocator.js';

export interface PortAssignment {
  /**
   * The port for the instance's next workload. `required`: the user asked for
   * exactly this port; `preferred`: the port its previous workload had (try it
   * first). Rejects when no port can be had.
   */
  assign(instanceId: string, wishes: { required?: number; preferred?: number }): Promise<number>;
  /** A workload found running (re-adopted) holds `port`. Throws when the port is held for another instance. */
  hold(instanceId: string, port: number): void;
  /** Gives the instance's port back; with `port`, only while the instance still holds that one. Idempotent. */
  release(instanceId: string, port?: number): void;
}

/** Ports of this host from a range, never two alike in this process (see `PortAllocator`). */
export class HostPorts implements PortAssignment {
  private readonly allocator: PortAllocator;

  constructor(range: PortRange) {
    this.allocator = new PortAllocator(range);
  }

  assign(instanceId: string, wishes: { required?: number; preferred?: number }): Promise<number> {
    return this.allocator.allocate(instanceId, {
      ...(wishes.required !== undefined ? { required: wishes.required } : {}),
      ...(wishes.preferred !== undefined ? { preferred: wishes.preferred } : {}),
    });
  }

  hold(instanceId: string, port: number): void {
    this.allocator.reserve(instanceId, port);
  }

  release(instanceId: string, port?: number): void {
    if (port === undefined || this.allocator.portOf(instanceId) === port) this.allocator.release(instanceId);
  }
}

/**
 * The same port for every workload (the port the user asked for, else
 * `port`): for platforms where each workload has an address of its own, so
 * ports never collide and nothing is held.
 */
export class FixedPort implements PortAssignment {
  constructor(readonly port: number) {
    if (!Number.isInteger(port) || port < 1 || port > 65535) throw new RangeError(`port must be an integer between 1 and 65535 (got ${port})`);
  }

  async assign(_instanceId: string, wishes: { required?: number; preferred?: number }): Promise<number> {
    return wishes.required ?? this.port;
  }

  hold(): void {
    // Nothing is shared: nothing to hold.
  }

  release(): void {
    // Nothing was held.
  }
}
