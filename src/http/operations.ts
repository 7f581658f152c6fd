/**
 * Every operation the REST API serves, once: its id (the router's route name,
 * the OpenAPI operationId, the `operation` label of metrics and logs), method,
 * path and the least role that may call it. The router registers each route
 * under its id and a test checks both lists are the same, so a route cannot be
 * served without a role.
 */

/** Who may call an operation, from least to most. `public` needs no token (probes, the contract). */
export const roles = ['viewer', 'operator', 'admin'] as const;
export type Role = (typeof roles)[number];
export type Access = 'public' | Role;

export type HttpMethod = 'GET' | 'POST' | 'PATCH' | 'DELETE';

export interface Operation {
  readonly method: HttpMethod;
  /** Koa form (`:id`); the OpenAPI document writes `{id}`. */
  readonly path: string;
  readonly access: Access;
  /** One line for the API contract. */
  readonly summary: string;
  /** Changes something: written to the audit log. */
  readonly mutation: boolean;
}

const instance = '/api/server/instances/:id';

export const operations = {
  streamEvents: { method: 'GET', path: '/api/events', access: 'viewer', mutation: false, summary: 'Status changes (and heartbeats) as Server-Sent Events, resumable by event id' },
  listMachines: { method: 'GET', path: '/api/machines', access: 'viewer', mutation: false, summary: 'The state machines this control plane runs' },
  getMachine: { method: 'GET', path: '/api/machines/:id', access: 'viewer', mutation: false, summary: 'A state machine as data with a layout, Mermaid or Graphviz DOT' },
  createInstance: { method: 'POST', path: '/api/server/instances', access: 'operator', mutation: true, summary: 'Create an instance (Pending until started)' },
  listInstances: { method: 'GET', path: '/api/server/instances', access: 'viewer', mutation: false, summary: 'The instances' },
  getInstance: { method: 'GET', path: instance, access: 'viewer', mutation: false, summary: 'One instance' },
  deleteInstance: { method: 'DELETE', path: instance, access: 'operator', mutation: true, summary: 'Stop and delete an instance' },
  startInstance: { method: 'POST', path: `${instance}/start`, access: 'operator', mutation: true, summary: 'Start an instance and wait until it runs' },
  stopInstance: { method: 'POST', path: `${instance}/stop`, access: 'operator', mutation: true, summary: 'Stop an instance and wait until it stopped' },
  restartInstance: { method: 'POST', path: `${instance}/restart`, access: 'operator', mutation: true, summary: 'Restart an instance' },
  reconcileInstance: { method: 'POST', path: `${instance}/reconcile`, access: 'operator', mutation: true, summary: 'Compare an instance with what runs now and repair drift' },
  getInstanceLogs: { method: 'GET', path: `${instance}/logs`, access: 'viewer', mutation: false, summary: "An instance's server log: its last lines, or followed" },
  getConfiguration: { method: 'GET', path: '/api/configuration/instances/:id', access: 'viewer', mutation: false, summary: "An instance's configuration and generation" },
  patchConfiguration: { method: 'PATCH', path: '/api/configuration/instances/:id', access: 'operator', mutation: true, summary: "Change an instance's configuration (JSON merge patch or JSON Patch)" },
  reportStatus: { method: 'POST', path: '/api/status/updates', access: 'admin', mutation: true, summary: "Report an instance's status from outside (off unless --accept-status-reports)" },
  listRecentChanges: { method: 'GET', path: '/api/status/recent-changes', access: 'viewer', mutation: false, summary: 'The change log: status changes in order' },
  getStatus: { method: 'GET', path: '/api/status/:id/status', access: 'viewer', mutation: false, summary: "An instance's status, desired and observed state" },
  getDrift: { method: 'GET', path: '/api/status/:id/drift', access: 'viewer', mutation: false, summary: "The last comparison of an instance with what runs" },
  listReplicas: { method: 'GET', path: '/api/replicas', access: 'viewer', mutation: false, summary: 'The control-plane replicas and the shards each owns' },
  listPlatforms: { method: 'GET', path: '/api/platforms', access: 'viewer', mutation: false, summary: 'The platforms, whether each is available, and their workers' },
  listAuditEntries: { method: 'GET', path: '/api/audit', access: 'admin', mutation: false, summary: 'The audit log: requests to mutations, who made them and how they ended (with --auth)' },
  getOpenApi: { method: 'GET', path: '/openapi.json', access: 'public', mutation: false, summary: 'This API as an OpenAPI 3.1 document' },
  health: { method: 'GET', path: '/healthz', access: 'public', mutation: false, summary: 'The process answers' },
  readiness: { method: 'GET', path: '/readyz', access: 'public', mutation: false, summary: 'The control plane serves requests (its store and transport answer)' },
  getMetrics: { method: 'GET', path: '/metrics', access: 'viewer', mutation: false, summary: 'Prometheus metrics in the text format (also served alone, without a token, by --metrics-port)' },
} as const satisfies Record<string, Operation>;

export type OperationId = keyof typeof operations;

export const operationIds = Object.keys(operations) as OperationId[];

/** Whether `role` may call an operation of `access`. */
export function allows(role: Role, access: Access): boolean {
  return access === 'public' || roles.indexOf(role) >= roles.indexOf(access);
}
