/**
 * The calls one control-plane replica forwards to the replica that owns an
 * instance (queue `control-plane.replica.<id>`): the public API's operations,
 * by name, with their arguments. The owner re-validates what it runs, as it
 * would for a call of its own.
 */
import type { CreateInstanceRequest, StatusReport } from '../api/instance-requests.js';
import type { InstanceStatusView, InstanceView } from '../api/instance-view.js';
import type { LogRead } from '../platforms/driver.js';

export interface ReplicaCallArgs {
  create: [request: CreateInstanceRequest];
  get: [instanceId: string];
  start: [instanceId: string];
  stop: [instanceId: string];
  restart: [instanceId: string];
  delete: [instanceId: string];
  getConfig: [instanceId: string];
  patchConfig: [instanceId: string, patch: unknown];
  reportStatus: [report: StatusReport];
  status: [instanceId: string];
  logs: [instanceId: string, tail: number];
  readLogs: [instanceId: string, tail: number, after: string | null];
}

export interface ReplicaCallResults {
  create: InstanceView;
  get: InstanceView;
  start: InstanceView;
  stop: InstanceView;
  restart: InstanceView;
  delete: null;
  getConfig: { instanceId: string; generation: number; configuration: Record<string, unknown> };
  patchConfig: { instanceId: string; generation: number; configuration: Record<string, unknown> };
  reportStatus: InstanceStatusView;
  status: InstanceStatusView;
  logs: string[];
  readLogs: LogRead;
}

export type ReplicaOp = keyof ReplicaCallArgs;

export type ReplicaCall<K extends ReplicaOp = ReplicaOp> = { [Op in K]: { op: Op; args: ReplicaCallArgs[Op] } }[K];

const arities: Record<ReplicaOp, number> = {
  create: 1,
  get: 1,
  start: 1,
  stop: 1,
  restart: 1,
  delete: 1,
  getConfig: 1,
  patchConfig: 2,
  reportStatus: 1,
  status: 1,
  logs: 2,
  readLogs: 3,
};

/** The shape check of a forwarded call (its arguments are validated by the operation itself). */
export function isReplicaCall(value: unknown): value is ReplicaCall {
  if (typeof value !== 'object' || value === null) return false;
  const { op, args } = value as { op?: unknown; args?: unknown };
  return typeof op === 'string' && Object.hasOwn(arities, op) && Array.isArray(args) && args.length === arities[op as ReplicaOp];
}
