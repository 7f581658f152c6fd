/**
 * DRaaS as a library: embed the control plane in a Node program, drive
 * instances without HTTP, or mount the REST API in your own Koa app.
 *
 * ```ts
 * import { createControlPlane } from 'draas';
 * const draas = await createControlPlane({ dataDir: './.draas', drasiServer: '/usr/local/bin/drasi-server' });
 * await draas.create({ name: 'analytics', configuration: { sources: [], queries: [], reactions: [] } });
 * await draas.start('analytics');
 * ```
 */
export { createControlPlane, type EmbeddedControlPlane, type EmbeddedControlPlaneOptions } from './embedded.js';
export { HostedControlPlane } from './hosted-control-plane.js';
export { startClusterControlPlane, startClusterWorker, type ClusterControlPlaneOptions, type ClusterWorker, type ClusterWorkerOptions } from './cluster.js';
export { RedisTransport, createRedisTransport, type RedisTransportOptions } from './transport/redis.js';
export {
  ControlPlane,
  type ControlPlaneOptions,
  type InstanceEventEnvelope,
  type StatusChangedPayload,
  type CallOptions,
  type CallerPowers,
  type InstanceConfig,
} from './actors/control-plane.js';
export { SoleOwnership, shardOf, type Ownership, type OwnershipListener, type OwnershipView, type OwnerLocation } from './actors/ownership.js';
export { LeasedOwnership, type LeasedOwnershipOptions } from './actors/leased-ownership.js';
export { PlatformWorker, type PlatformWorkerOptions } from './actors/platform-worker.js';
export type { CreateInstanceRequest, PatchConfigOptions, StatusReport, LogLevel } from './api/instance-requests.js';
export {
  ALLOW_SWITCHES,
  defaultOperatorPolicy,
  operatorPolicy,
  type AllowSwitch,
  type OperatorPolicy,
  type PolicyIssue,
} from './api/operator-policy.js';
export { BUILT_IN_DENIED_ENVIRONMENT, type DeniedVariable } from './api/environment-policy.js';
export type { InstanceView, InstanceStatusView } from './api/instance-view.js';
export type { InstanceStatus, DesiredState, ObservedState, Failure, HistoryEntry, RestartPolicy } from './machines/instance-types.js';
export {
  instanceMachineDocument,
  type MachineDocument,
  type MachineDocumentState,
  type MachineDocumentTransition,
} from './machines/machine-document.js';
export type { MachineLayout, LayoutNode, LayoutEdge } from './machines/machine-layout.js';
export type { PlatformDriver, PlatformType, WorkloadSpec, WorkloadRef } from './platforms/driver.js';
export { MissingPlatformSdkError } from './platforms/platform-sdk.js';
export type { Transport, WorkerPresence, QueueStats } from './transport/transport.js';
export { MetricsRegistry, METRICS_CONTENT_TYPE, type Sample, type SampleSource } from './observability/metrics.js';
export { serveMetrics, type MetricsListener, type MetricsListenOptions } from './observability/metrics-server.js';
export { MemoryTransport } from './transport/memory.js';
export {
  MemoryInstanceStore,
  type InstanceStore,
  type InstanceRecord,
  type StatusChange,
  type PersistedInstanceSnapshot,
  type StoredInstance,
  type WriteFence,
  type WriteOptions,
} from './store/instance-store.js';
export { RedisInstanceStore, type RedisInstanceStoreOptions } from './store/redis-store.js';
export { RedisLeases, type RedisLeasesOptions } from './store/redis-leases.js';
export { FileInstanceStore, StoreLockedError, type FileInstanceStoreOptions } from './store/file-store.js';
export { checkSnapshotVersion, SnapshotVersionError, type SnapshotMigrations } from './store/snapshot-version.js';
export { createHttpApp, type HttpAppOptions } from './http/app.js';
export type { Logger, LogFields, LogMethod, LogOption } from './observability/logger.js';
export type { HttpAuthOptions, Caller } from './http/auth.js';
export { operations, roles, allows, type Role, type Access, type OperationId } from './http/operations.js';
export type { AuthSettings } from './auth/settings.js';
export { TokenStoreError, type TokenStore, type TokenInfo, type TokenIdentity } from './auth/tokens.js';
export { FileTokenStore, type FileTokenStoreOptions } from './auth/file-token-store.js';
export { RedisTokenStore, type RedisTokenStoreOptions } from './auth/redis-token-store.js';
export { OidcVerifier, DEFAULT_ROLE_CLAIM, type OidcOptions, type OidcIdentity } from './auth/oidc.js';
export { FileAuditLog, RedisAuditLog, type AuditLog, type AuditEntry, type AuditActor, type AuditPage, type StoredAuditEntry, type RedisAuditLogOptions } from './auth/audit.js';
export { openApiDocument } from './http/openapi.js';
export type { IdempotencyOptions } from './http/idempotency.js';
export { MemoryIdempotencyStore, type IdempotencyStore, type ClaimResult, type StoredResponse } from './store/idempotency-store.js';
export { RedisIdempotencyStore, type RedisIdempotencyStoreOptions } from './store/redis-idempotency-store.js';
export { configEtag } from './api/config-etag.js';
export * from './errors.js';
