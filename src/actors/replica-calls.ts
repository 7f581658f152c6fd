/**
 * The calls one control-plane replica forwards to the replica that owns an
 * instance (queue `control-plane.replica.<id>`): the public API's operations,
 * by name, with their arguments, and the cancellation of such a call. The
 * owner re-validates what it runs, as it would for a call of its own.
 */
import type { CreateInstanceRequest, PatchConfigOptions, ReportSender, StatusReport } from '../api/instance-requests.js';
import type { InstanceStatusView, InstanceView } from '../api/instance-view.js';
import { z } from 'zod';
import type { LogRead } from '../platforms/driver.js';
import type { DriftComparison } from './reconciler.js';

export interface ReplicaCallArgs {
  create: [request: CreateInstanceRequest];
  get: [instanceId: string];
  start: [instanceId: string];
  stop: [instanceId: string];
  restart: [instanceId: string];
  delete: [instanceId: string];
  getConfig: [instanceId: string];
  /** `restricted`: the caller may not use what only the operator's `--allow` permits (an `operator`, not an `admin`). */
  patchConfig: [instanceId: string, patch: unknown, options: PatchConfigOptions, restricted: boolean];
  reportStatus: [report: StatusReport, sender: ReportSender | null];
  status: [instanceId: string];
  logs: [instanceId: string, tail: number];
  readLogs: [instanceId: string, tail: number, after: string | null];
  drift: [instanceId: string];
  reconcile: [instanceId: string];
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
  drift: DriftComparison | null;
  reconcile: DriftComparison;
}

export type ReplicaOp = keyof ReplicaCallArgs;

export type ReplicaCall<K extends ReplicaOp = ReplicaOp> = { [Op in K]: { op: Op; args: ReplicaCallArgs[Op] } }[K];

/** The instance a call is about: it decides which replica runs the call. */
export function instanceIdOf(call: ReplicaCall): string {
  switch (call.op) {
    case 'create':
      return call.args[0].name;
    case 'reportStatus':
      return call.args[0].instanceId;
    default:
      return call.args[0];
  }
}

const arities: Record<ReplicaOp, number> = {
  create: 1,
  get: 1,
  start: 1,
  stop: 1,
  restart: 1,
  delete: 1,
  getConfig: 1,
  patchConfig: 4,
  reportStatus: 2,
  status: 1,
  logs: 2,
  readLogs: 3,
  drift: 1,
  reconcile: 1,
};

/** A call as it travels to the owner: the call, and when its caller stops waiting (epoch ms, on the sender's clock). */
export type ForwardedCall = ReplicaCall & { expiresAt: number };

const forwardedCallSchema = z
  .object({
    op: z.enum(Object.keys(arities) as [ReplicaOp, ...ReplicaOp[]]),
    args: z.array(z.unknown()),
    expiresAt: z.number(),
  })
  .refine((call) => call.args.length === arities[call.op], { message: 'wrong number of arguments' });

/**
 * The shape check of a forwarded call; undefined when it is not one. Its
 * arguments are validated by the operation itself, as for any input from
 * outside this process.
 */
export function parseForwardedCall(value: unknown): ForwardedCall | undefined {
  const parsed = forwardedCallSchema.safeParse(value);
  return parsed.success ? (parsed.data as ForwardedCall) : undefined;
}

/**
 * The event by which a replica tells an owner that the caller of a call it
 * forwarded went away: the owner stops working for it (or does not start).
 * An event, not a command on the owner's queue: that queue may be full of
 * the very calls being cancelled. Losing one (a Redis outage) only costs the
 * owner the work it would have saved.
 */
export const callCancelledEvent = 'replica.call-cancelled';


const callCancelledSchema = z.object({ replicaId: z.string(), commandId: z.string(), expiresAt: z.number() });

export type CallCancelled = z.infer<typeof callCancelledSchema>;

export function parseCallCancelled(value: unknown): CallCancelled | undefined {
  const parsed = callCancelledSchema.safeParse(value);
  return parsed.success ? parsed.data : undefined;
}
