import { createServer } from 'node:net';

/** An inclusive range of TCP ports. */
export interface PortRange {
  min: number;
  max: number;
}

/** Tells whether a port can be bound right now. */
export type PortProbe = (port: number) => Promise<boolean>;

export interface AllocateOptions {
  /** The port must be exactly this one (the user asked for it); fails when it is not available. May lie outside the range. */
  required?: number;
  /** Try this one first (e.g. the port the owner had before); fall back to the range when it is not available. */
  preferred?: number;
}

/** No port could be handed out. */
export class PortUnavailableError extends Error {
  readonly port: number | undefined;
  constructor(message: string, port?: number) {
    super(message);
    this.name = 'PortUnavailableError';
    this.port = port;
  }
}

/**
 * True when `port` can be bound on `host` at this moment (it binds and closes
 * a listener). A port held by another process, by any address that overlaps
 * `host` (e.g. `0.0.0.0`), makes it false.
 */
export function isPortBindable(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.unref();
    server.once('error', () => resolve(false));
    server.listen({ port, host, exclusive: true }, () => {
      server.close(() => resolve(true));
    });
  });
}

/**
 * Ports reserved by any allocator of this process, so that two drivers (e.g.
 * two embedded control planes, or tests) never hand out the same port even
 * when their ranges overlap.
 */
const reservedInProcess = new Map<number, PortAllocator>();

function checkPort(port: number, what: string): void {
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new RangeError(`${what} must be an integer between 1 and 65535 (got ${port})`);
}

/**
 * Ports that WHATWG fetch (Node's `fetch` included) refuses to connect to
 * ("bad port"): a server on one could never be probed or called, so none is
 * handed out. The list of the Fetch standard, from 1024 up (the ports below
 * are privileged anyway).
 */
const FETCH_BLOCKED_PORTS: ReadonlySet<number> = new Set([1719, 1720, 1723, 2049, 3659, 4045, 4190, 5060, 5061, 6000, 6566, 6665, 6666, 6667, 6668, 6669, 6679, 6697, 10080]);

/**
 * Hands out TCP ports to owners (instance ids) from a range.
 *
 * - Never the same port to two owners: a candidate is reserved synchronously
 *   before it is probed, so concurrent allocations cannot pick the same one;
 *   reservations are shared by every allocator of the process.
 * - A port is handed out only when it is actually bindable on 127.0.0.1 (the
 *   probe), so ports used by other programs are skipped; and never one that
 *   fetch refuses to connect to.
 * - One port per owner: allocating again for an owner that holds a port
 *   returns that port.
 * - Free ports are searched round-robin from after the last one handed out,
 *   so a just-released port is not reused at once (unless asked for).
 */
export class PortAllocator {
  readonly range: PortRange;
  private readonly probe: PortProbe;
  private readonly byOwner = new Map<string, number>();
  private readonly byPort = new Map<number, string>();
  private cursor: number;

  constructor(range: PortRange, options: { probe?: PortProbe } = {}) {
    checkPort(range.min, 'ports.min');
    checkPort(range.max, 'ports.max');
    if (range.min > range.max) throw new RangeError(`ports.min (${range.min}) is greater than ports.max (${range.max})`);
    this.range = { min: range.min, max: range.max };
    this.probe = options.probe ?? ((port) => isPortBindable(port));
    this.cursor = range.min;
  }

  /** The port `owner` holds, if any. */
  portOf(owner: string): number | undefined {
    return this.byOwner.get(owner);
  }

  /** Every reservation, owner → port. */
  reservations(): ReadonlyMap<string, number> {
    return new Map(this.byOwner);
  }

  /**
   * A port for `owner`. Rejects with `PortUnavailableError` when the required
   * port is held by another owner or not bindable, or when no port of the
   * range is free.
   */
  async allocate(owner: string, options: AllocateOptions = {}): Promise<number> {
    const held = this.byOwner.get(owner);
    if (held !== undefined) {
      if (options.required === undefined || options.required === held) return held;
      this.release(owner);
    }
    if (options.required !== undefined) {
      checkPort(options.required, 'the requested port');
      const holder = this.byPort.get(options.required);
      if (holder !== undefined) {
        throw new PortUnavailableError(`port ${options.required} is already used by instance "${holder}"`, options.required);
      }
      if (FETCH_BLOCKED_PORTS.has(options.required)) {
        throw new PortUnavailableError(`port ${options.required} is one that HTTP clients refuse to connect to (a "bad port" of the Fetch standard)`, options.required);
      }
      if (reservedInProcess.has(options.required)) {
        throw new PortUnavailableError(`port ${options.required} is already used by another driver of this process`, options.required);
      }
      if (await this.tryTake(owner, options.required)) return options.required;
      throw new PortUnavailableError(`port ${options.required} is in use by another program`, options.required);
    }
    if (options.preferred !== undefined && Number.isInteger(options.preferred) && options.preferred >= 1 && options.preferred <= 65535 && !FETCH_BLOCKED_PORTS.has(options.preferred)) {
      if (await this.tryTake(owner, options.preferred)) return options.preferred;
      const taken = this.byOwner.get(owner);
      if (taken !== undefined) return taken;
    }
    const size = this.range.max - this.range.min + 1;
    for (let i = 0; i < size; i++) {
      const port = this.range.min + ((this.cursor - this.range.min + i) % size);
      if (reservedInProcess.has(port) || FETCH_BLOCKED_PORTS.has(port)) continue;
      if (await this.tryTake(owner, port)) {
        this.cursor = port + 1 > this.range.max ? this.range.min : port + 1;
        return port;
      }
      // A concurrent call for the same owner may have finished meanwhile.
      const taken = this.byOwner.get(owner);
      if (taken !== undefined) return taken;
    }
    throw new PortUnavailableError(`no free port in the range ${this.range.min}-${this.range.max}`);
  }

  /**
   * Records that `owner` holds `port` without probing it (for a workload found
   * already running). Fails when another owner holds it.
   */
  reserve(owner: string, port: number): void {
    checkPort(port, 'port');
    const holder = this.byPort.get(port);
    if (holder !== undefined && holder !== owner) throw new PortUnavailableError(`port ${port} is already used by instance "${holder}"`, port);
    const allocator = reservedInProcess.get(port);
    if (allocator !== undefined && allocator !== this) throw new PortUnavailableError(`port ${port} is already used by another driver of this process`, port);
    this.release(owner);
    this.byOwner.set(owner, port);
    this.byPort.set(port, owner);
    reservedInProcess.set(port, this);
  }

  /** Gives the owner's port back. Idempotent. */
  release(owner: string): void {
    const port = this.byOwner.get(owner);
    if (port === undefined) return;
    this.byOwner.delete(owner);
    if (this.byPort.get(port) === owner) this.unreserve(port);
  }

  /** Reserves first, then probes, so no concurrent allocation can take the same port. */
  private async tryTake(owner: string, port: number): Promise<boolean> {
    if (this.byPort.has(port) || reservedInProcess.has(port)) return false;
    this.byPort.set(port, owner);
    reservedInProcess.set(port, this);
    let bindable = false;
    try {
      bindable = await this.probe(port);
    } catch {
      bindable = false;
    }
    if (bindable && this.byPort.get(port) === owner && !this.byOwner.has(owner)) {
      this.byOwner.set(owner, port);
      return true;
    }
    if (this.byPort.get(port) === owner && this.byOwner.get(owner) !== port) this.unreserve(port);
    return false;
  }

  private unreserve(port: number): void {
    this.byPort.delete(port);
    if (reservedInProcess.get(port) === this) reservedInProcess.delete(port);
  }
}
