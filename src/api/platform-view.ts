/**
 * What `GET /api/platforms` says of each platform: whether a worker takes
 * commands (and why not), its workers, and the circuit breakers in front of
 * them — the control plane's toward each worker and each worker's toward its
 * engine. Pure: built from worker presences and breaker states.
 */
import { platformTypes, type PlatformType } from '../platforms/driver.js';
import type { WorkerPresence } from '../transport/transport.js';
import type { WorkerCircuitState } from '../actors/workload-client.js';
import type { CircuitState } from '../resilience/circuit-breaker.js';

/** One circuit breaker of a platform, as `GET /api/platforms` lists it: the control plane's toward a worker, or a worker's toward its engine. */
export type PlatformCircuit = CircuitState & { kind: 'worker' | 'engine'; workerId: string };

export interface PlatformView {
  platform: PlatformType;
  available: boolean;
  reason?: string;
  workers: Array<WorkerPresence & { circuit?: CircuitState & { workerId: string } }>;
  circuits: PlatformCircuit[];
}

/** A worker breaker's state without the platform (it is listed under it). */
function withoutOwner(circuit: WorkerCircuitState): CircuitState & { workerId: string } {
  const { platform: _platform, ...state } = circuit;
  return state;
}

/** Why a platform takes no commands: what its workers say (e.g. the API server does not answer), or that none is running. */
function unavailableReason(workers: WorkerPresence[], open: WorkerCircuitState[] = []): string {
  const said = workers.map((worker) => worker.details['unavailableReason']).filter((reason): reason is string => typeof reason === 'string');
  const silent = open.map((circuit) => `worker ${circuit.workerId} does not answer commands (circuit open since ${circuit.openedAt ?? '?'}; next probe at ${circuit.nextProbeAt ?? '?'})`);
  const reasons = [...new Set([...said, ...silent])];
  if (reasons.length > 0) return reasons.join('; ');
  return workers.length === 0 ? 'no worker of this platform is running' : 'its workers are unavailable';
}

/** The engine breakers a worker reports in its presence (plain data from the transport: only well-formed entries). */
function engineCircuits(worker: WorkerPresence): PlatformCircuit[] {
  const reported = worker.details['circuits'];
  if (!Array.isArray(reported)) return [];
  return reported
    .filter((entry): entry is CircuitState => typeof entry === 'object' && entry !== null && typeof (entry as Record<string, unknown>)['name'] === 'string' && typeof (entry as Record<string, unknown>)['status'] === 'string')
    .map((entry) => ({ kind: 'engine' as const, workerId: worker.workerId, ...entry }));
}

/** Every platform type, with its live workers (`workers`) and this replica's breakers toward them (`toWorkers`). */
export function platformViews(workers: WorkerPresence[], toWorkers: WorkerCircuitState[]): PlatformView[] {
  return platformTypes.map((platform) => {
    const ours = toWorkers.filter((circuit) => circuit.platform === platform);
    const circuitOf = (workerId: string) => ours.find((circuit) => circuit.workerId === workerId);
    const live = workers
      .filter((worker) => worker.platform === platform)
      .map((worker) => {
        const circuit = circuitOf(worker.workerId);
        return circuit ? { ...worker, circuit: withoutOwner(circuit) } : worker;
      });
    const open = ours.filter((circuit) => circuit.status === 'open' && live.some((worker) => worker.workerId === circuit.workerId));
    const available = live.some((worker) => worker.available && circuitOf(worker.workerId)?.status !== 'open');
    // The control plane's breakers toward the live workers (a departed worker's is moot: it is lost), then theirs toward their engines.
    const circuits: PlatformCircuit[] = [
      ...ours
        .filter((circuit) => live.some((worker) => worker.workerId === circuit.workerId))
        .map((circuit) => ({ kind: 'worker' as const, ...withoutOwner(circuit), workerId: circuit.workerId })),
      ...live.flatMap(engineCircuits),
    ];
    return { platform, available, ...(available ? {} : { reason: unavailableReason(live, open) }), workers: live, circuits };
  });
}
