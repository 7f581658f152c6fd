/**
 * The control plane: owns one instance actor per instance, keeps records in
 * the store, turns worker events into actor events and actor transitions into
 * published events. Every public method is what the REST API and the library
 * API call; none of them edits a status — they send events and await replies.
 */
import {
  createInstanceRequestSchema,
  instanceIdSchema,
  parseInstanceId,
  parseRequest,
  patchConfigCallOptionsSchema,
  refuseDeepInput,
  reportSenderSchema,
  statusReportSchema,
  type CreateInstanceRequest,
  type PatchConfigOptions,
  type ReportSender,
  type StatusReport,
} from '../api/instance-requests.js';
import { CHECK_TIMEOUT_MS, Reconciler, type DriftComparison } from './reconciler.js';
import { configEtag } from '../api/config-etag.js';
import { platformViews } from '../api/platform-view.js';
import { instanceStatusView, instanceView, type InstanceStatusView, type InstanceView } from '../api/instance-view.js';
import { configurationIssues, defaultOperatorPolicy, instanceIssues, operatorPolicy, refuseByPolicy, refuseBeyondDefaults, type InstanceFacts, type OperatorPolicy } from '../api/operator-policy.js';
import { applyConfigPatch, parseDrasiConfig, type DrasiServerConfig } from '../drasi/index.js';
import { ConflictError, DraasError, StaleOwnerError, errorMessage } from '../errors.js';
import type { InstanceMachine, RestartPolicy } from '../machines/instance.js';
import type { InstanceInput, InstanceRequestEvent } from '../machines/instance-types.js';
import { getInitialSnapshot } from 'xstate';
import { z } from 'zod';
import type { LogRead, PlatformType } from '../platforms/driver.js';
import { followLog } from './log-follower.js';
import type { SnapshotView } from './request-settlement.js';
import { topics, type Closeable, type Transport, type WorkerPresence } from '../transport/transport.js';
import {
  MemoryInstanceStore,
  type InstanceRecord,
  type InstanceStore,
  type PersistedInstanceSnapshot,
  type StatusChange,
} from '../store/instance-store.js';
import { SoleOwnership, type Ownership, type OwnershipView } from './ownership.js';
import type { ReplicaCallResults, ReplicaOp } from './replica-calls.js';
import { ReplicaRouter, type OperationTable } from './replica-router.js';
import type { StatusTransition } from './instance-actor.js';
import { instanceMachineWithWorkloads, keptConfigurations } from './workload-effects.js';
import { SnapshotWriter } from './snapshot-writer.js';
import { StatusChanges, type InstanceEventEnvelope, type StatusSubscribeOptions } from './status-changes.js';
import { HeldSnapshots } from './held-snapshots.js';
import { OwnTokens } from './held-writes.js';
import { WorkloadClient, type WorkerCircuitOptions, type WorkerCircuitState } from './workload-client.js';
import { WorkerPlacements } from './worker-placements.js';
import { InstanceRegistry } from './instance-registry.js';
import { ShardLoading, restoreSnapshot } from './shard-loading.js';
import { within } from '../time-bounds.js';
import type { WorkloadCommands } from './workload-commands.js';
import { inSpan } from '../observability/tracing.js';
import { toLogger, type LogOption, type Logger } from '../observability/logger.js';
import { MetricsRegistry, outcomeOf, secondsSince } from '../observability/metrics.js';
import { ControlPlaneMetrics, type LifecycleOperation } from '../observability/control-plane-metrics.js';

type LifecycleOp = 'start' | 'stop' | 'restart' | 'delete';

export interface ControlPlaneOptions {
  transport: Transport;
  store?: InstanceStore;
  /** Epoch ms; injectable for tests. */
  now?: () => number;
  /** How long a server may take to answer /health after launch. Default 30 s. */
  startTimeoutMs?: number;
  /** SIGINT → SIGKILL grace period on stop. Default 10 s. */
  stopGraceMs?: number;
  /** Extra time a worker gets for a reply beyond the operation's own deadline. Default 10 s. */
  replySlackMs?: number;
  restartPolicy?: RestartPolicy;
  /** Address the servers bind to unless an instance says otherwise. Default 127.0.0.1. */
  defaultHost?: string;
  historyLimit?: number;
  /** Pause between two reads of a followed log. Default 300 ms. */
  logPollMs?: number;
  /** Which instances this control plane acts for. Default: all of them (one replica). */
  ownership?: Ownership;
  /**
   * Keep the records of the instances this replica owns in memory (only the
   * owner writes them, so the copy is exact). Default: when replicas share
   * the fleet, whose store is remote; a local store is read in memory anyway.
   */
  cacheRecords?: boolean;
  /** How long a worker presence answer is reused (default 200 ms; see WorkloadClient). */
  presenceCacheMs?: number;
  /** The circuit breaker toward each worker (see WorkloadClient); defaults when left out. */
  workerCircuit?: WorkerCircuitOptions;
  /**
   * How long after its worker is lost a Running instance is started on another
   * worker (the new worker reaps the old workload first where it can reach it:
   * the same host). Default null: never — the instance waits for its worker to
   * return (its workload may still run there; two servers of one instance
   * must not run). See docs/architecture.md, "Placement and lost workers".
   */
  workerLostTimeoutMs?: number | null;
  /** How often worker presence is checked for lost and returning workers. Default 1 s. */
  workerCheckMs?: number;
  /**
   * How often each instance is compared with what runs (drift; see
   * `reconciler.ts`), spread over the interval. Default 30 s; null or 0: only
   * when asked (`reconcile`).
   */
  reconcileIntervalMs?: number | null;
  /**
   * What instances may ask for beyond the safe defaults (`allow`), and which
   * environment variables they may not set beyond the built-in list
   * (`deniedEnvironment`). Default: nothing allowed, the built-in list only.
   * See docs/security.md.
   */
  policy?: Partial<{ deniedEnvironment: Iterable<string>; allow: Iterable<string> }>;
  /**
   * Where this control plane's metrics are kept (see `observability/metrics.ts`).
   * Default: a registry of its own. Embedded mode shares one with its workers.
   */
  metrics?: MetricsRegistry;
  /** Where the control plane logs: a `Logger`, or a function that takes each message (info and above). */
  log?: LogOption;
}

export type { InstanceEventEnvelope, StatusChangedPayload, StatusSubscribeOptions } from './status-changes.js';

export interface InstanceConfig {
  instanceId: string;
  generation: number;
  configuration: Record<string, unknown>;
}

/** What the caller may do beyond the operator's defaults (the HTTP API sets it from the caller's role). */
export interface CallerPowers {
  /**
   * The caller may not use what only the operator's `--allow` permits (an
   * `operator`, not an `admin`): such a request is 403. Default false (a
   * program embedding DRaaS has every power its policy gives).
   */
  restricted?: boolean;
}

export interface CallOptions {
  signal?: AbortSignal;
}

/** How long one step of close() waits for the store or transport (four steps: well within a default shutdown grace). */
const CLOSE_STEP_MS = 1_000;

const listPageOptionsSchema = z.object({ limit: z.number().int().min(1).max(1_000), after: instanceIdSchema.optional() }).strict();

const followLogsOptionsSchema = z.object({ tail: z.number().int().min(0).max(10_000).optional() });

export class ControlPlane {
  readonly transport: Transport;
  readonly store: InstanceStore;
  private readonly now: () => number;
  private readonly startTimeoutMs: number;
  private readonly stopGraceMs: number;
  private readonly replySlackMs: number;
  private readonly logPollMs: number;
  private readonly restartPolicy: RestartPolicy;
  private readonly defaultHost: string;
  private readonly historyLimit: number;
  /** The operator's policy, applied to every create, configuration change and start. */
  readonly policy: OperatorPolicy;
  private readonly log: Logger;
  private readonly workloads: WorkloadClient;
  private readonly machine: InstanceMachine;
  /** The owned instances: their actors and records. */
  private readonly registry: InstanceRegistry;
  /** Which shards this replica loads or owns, and what that means for its instances. */
  private readonly shards: ShardLoading;
  private readonly snapshots: SnapshotWriter;
  private readonly statusChanges: StatusChanges;
  /** The lease tokens this replica held, and the unwritten state of instances whose lease lapsed (held-writes.ts). */
  private readonly ownTokens = new OwnTokens();
  private readonly heldSnapshots = new HeldSnapshots(this.ownTokens);
  readonly ownership: Ownership;
  /** Runs each operation on the instance's owner: here, or forwarded. */
  private readonly router: ReplicaRouter;
  /** Which worker each instance is placed on, and what workers report. */
  private readonly placements: WorkerPlacements;
  private readonly reconciler: Reconciler;
  private subscriptions: Closeable[] = [];
  private closing: Promise<void> | undefined;
  /** Its Prometheus series: `await metrics.text()` is a scrape (`GET /metrics`). */
  readonly metrics: MetricsRegistry;
  private readonly measures: ControlPlaneMetrics;

  constructor(options: ControlPlaneOptions) {
    this.metrics = options.metrics ?? new MetricsRegistry();
    this.measures = new ControlPlaneMetrics(this.metrics);
    this.transport = options.transport;
    this.store = options.store ?? new MemoryInstanceStore();
    this.now = options.now ?? Date.now;
    this.startTimeoutMs = options.startTimeoutMs ?? 30_000;
    this.stopGraceMs = options.stopGraceMs ?? 10_000;
    this.replySlackMs = options.replySlackMs ?? 10_000;
    this.logPollMs = options.logPollMs ?? 300;
    this.restartPolicy = options.restartPolicy ?? { initialBackoffMs: 1_000, maxBackoffMs: 60_000 };
    this.defaultHost = options.defaultHost ?? '127.0.0.1';
    this.historyLimit = options.historyLimit ?? 32;
    this.policy = operatorPolicy(options.policy);
    this.log = toLogger(options.log);
    this.workloads = new WorkloadClient(
      this.transport,
      options.presenceCacheMs,
      this.now,
      {
        observe: (platform, type, outcome, seconds) => this.measures.commandRoundTrip(platform, type, outcome, seconds),
        ...(options.workerCircuit !== undefined ? { circuit: options.workerCircuit } : {}),
      },
    );
    this.placements = new WorkerPlacements({
      workloads: this.workloads,
      host: {
        actor: (id) => this.registry.actor(id),
        actors: () => this.registry.all(),
        updateRecord: async (id, change) => void (await this.registry.updateRecord(id, change)),
        isOrphan: (id) => this.shards.isOrphan(id),
      },
      now: this.now,
      workerLostTimeoutMs: options.workerLostTimeoutMs ?? null,
      workerCheckMs: options.workerCheckMs ?? 1_000,
      stopGraceMs: this.stopGraceMs,
      replySlackMs: this.replySlackMs,
      log: this.log,
    });
    this.reconciler = new Reconciler({
      host: {
        actor: (id) => this.registry.actor(id),
        actors: () => this.registry.all(),
        record: (id) => this.registry.requireRecord(id),
        placementOf: (record) => this.placements.placementOf(record),
        verifyRunning: (actors) => this.placements.verifyRunning(actors),
      },
      workloads: this.workloads,
      intervalMs: options.reconcileIntervalMs === undefined ? 30_000 : options.reconcileIntervalMs,
      stopGraceMs: this.stopGraceMs,
      replySlackMs: this.replySlackMs,
      now: this.now,
      log: this.log,
      onResult: (outcome) => this.measures.reconciled(outcome),
    });
    this.ownership = options.ownership ?? new SoleOwnership();
    this.router = new ReplicaRouter({
      transport: this.transport,
      ownership: this.ownership,
      operations: this.operationTable(),
      timeoutOf: (op) => this.timeoutOf(op),
      replySlackMs: this.replySlackMs,
      loaded: (id) => this.shards.loaded(id),
      now: this.now,
      log: this.log,
    });
    this.snapshots = new SnapshotWriter(this.store, (id, error) => this.log.error(`instance ${id}: snapshot not saved: ${errorMessage(error)}`, { instanceId: id }), {
      fenceOf: (id) => this.ownership.fence(id),
      // A stale owner's write will never land: the new owner writes its own.
      retryable: (error) => !(error instanceof StaleOwnerError),
      closeTimeoutMs: CLOSE_STEP_MS,
    });
    this.statusChanges = new StatusChanges({
      store: this.store,
      snapshots: this.snapshots,
      ownership: this.ownership,
      ownTokens: this.ownTokens,
      now: this.now,
      log: this.log,
    });
    this.machine = instanceMachineWithWorkloads({
      now: this.now,
      workloads: this.workloads,
      startTimeoutMs: this.startTimeoutMs,
      stopGraceMs: this.stopGraceMs,
      replySlackMs: this.replySlackMs,
      // Checked right before every workload command: a replica whose lease ran out sends none.
      record: (id) => {
        if (!this.ownership.owns(id)) {
          return Promise.reject(new StaleOwnerError(`replica ${this.ownership.replicaId} no longer owns instance "${id}"`, { instanceId: id }));
        }
        return this.registry.requireRecord(id);
      },
      // Records stored before the policy (or under a looser one) are refused here, with the same reasons as a create.
      admit: (record) => refuseByPolicy(instanceIssues(recordFacts(record, this.defaultHost), this.policy), `instance "${record.id}"`),
      placementOf: (record) => this.placements.placementOf(record),
      place: (id, workerId) => this.placements.place(id, workerId),
      workerLostTimeoutMs: options.workerLostTimeoutMs ?? null,
      log: this.log,
    });
    this.registry = new InstanceRegistry({
      store: this.store,
      ownership: this.ownership,
      machine: () => this.machine,
      actorInput: (record) => this.actorInput(record),
      snapshots: this.snapshots,
      heldSnapshots: this.heldSnapshots,
      placements: () => this.placements,
      cacheRecords: options.cacheRecords ?? this.ownership.shared,
      onTransition: (transition) => this.onTransition(transition),
      now: this.now,
      log: this.log,
    });
    this.shards = new ShardLoading({
      store: this.store,
      ownership: this.ownership,
      registry: this.registry,
      snapshots: this.snapshots,
      heldSnapshots: this.heldSnapshots,
      ownTokens: this.ownTokens,
      statusChanges: this.statusChanges,
      placements: this.placements,
      log: this.log,
    });
    this.measures.watch({
      instances: () => [...this.registry.all()].map(({ view: { status, context } }) => ({
        platform: context.settings.platform,
        status,
        desired: context.desired,
        consecutiveFailures: context.consecutiveFailures,
      })),
      workers: () => this.transport.presence.live(),
      ownership: () => this.ownership.describe(),
      queues: async () => (this.transport.queueStats ? this.transport.queueStats() : []),
      ready: () => this.ready(),
      platforms: async () => platformViews(await this.platforms(), this.circuitStates()),
    });
  }

  /** Runs a lifecycle request, counting it and timing it by its outcome (`ok` or the problem code). */
  private async measured<T>(operation: LifecycleOperation, run: () => Promise<T>): Promise<T> {
    const began = performance.now();
    try {
      const result = await run();
      this.measures.lifecycle(operation, 'ok', secondsSince(began));
      return result;
    } catch (error) {
      this.measures.lifecycle(operation, outcomeOf(error), secondsSince(began));
      throw error;
    }
  }

  /**
   * Subscribes to worker events, answers requests other replicas forward,
   * and takes ownership: every instance of the shards it gains is
   * rehydrated from the store. Call once before use.
   */
  async open(): Promise<void> {
    this.subscriptions.push(
      await this.transport.subscribe(topics.workloadEvents, (event) => this.placements.onWorkloadEvent(event)),
    );
    if (this.ownership.shared) this.subscriptions.push(await this.router.open());
    await this.ownership.start({ gained: (shards) => this.shards.gain(shards), lost: async (shards) => this.shards.lose(shards) });
    this.placements.start();
    this.reconciler.start();
  }

  private actorInput(record: InstanceRecord): InstanceInput {
    return {
      instanceId: record.id,
      platform: record.platformType,
      generation: record.generation,
      // The machine's deadline is a backstop behind the driver's own and the reply timeout.
      startTimeoutMs: this.startTimeoutMs + 2 * this.replySlackMs,
      restartPolicy: this.restartPolicy,
      historyLimit: this.historyLimit,
    };
  }

  private onTransition(transition: StatusTransition): void {
    const { instanceId, to } = transition;
    this.measures.transition(transition.from, to);
    if (to === 'Deleted') {
      this.registry.forget(instanceId);
      this.reconciler.forget(instanceId);
      void this.store.delete(instanceId, this.registry.writeOptions(instanceId)).catch((error: unknown) => this.log.error(`store: ${errorMessage(error)}`, { instanceId }));
      this.heldSnapshots.forget(instanceId);
    }
    this.statusChanges.record(transition);
  }

  // ---- routing: each instance's requests run on the replica that owns it (replica-router.ts) ----

  /**
   * The one implementation of each operation, run for this replica's own
   * callers and for calls other replicas forward alike. Arguments are checked
   * here (ids by `requireActor`), as a forwarded call's come from another process.
   */
  private operationTable(): OperationTable {
    return {
      create: ([request]) => this.createValidated(request),
      get: ([id]) => this.registry.view(id),
      start: ([id], options) => this.lifecycle('start', id, options),
      stop: ([id], options) => this.lifecycle('stop', id, options),
      restart: ([id], options) => this.lifecycle('restart', id, options),
      delete: ([id], options) => this.lifecycle('delete', id, options),
      getConfig: ([id]) => this.getConfigHere(id),
      patchConfig: ([id, patch, options, restricted]) =>
        this.patchConfigHere(id, patch, parseRequest(patchConfigCallOptionsSchema, options, 'configuration change options'), restricted !== false),
      reportStatus: ([report, sender]) =>
        this.reportStatusHere(
          parseRequest(statusReportSchema, report, 'status report'),
          sender === null ? undefined : parseRequest(reportSenderSchema, sender, 'status report sender'),
        ),
      status: ([id]) => this.statusHere(id),
      logs: ([id, tail], options) => this.logsHere(id, tail, options),
      readLogs: ([id, tail, after], options) => this.readLogsHere(id, tail, after, options.signal),
      drift: ([id]) => this.driftHere(id),
      reconcile: ([id]) => this.reconcileHere(id),
    };
  }

  /** How long the owner may take to answer an operation. */
  private timeoutOf(op: ReplicaOp): number {
    if (op === 'reconcile') return this.stopGraceMs + CHECK_TIMEOUT_MS + 2 * this.replySlackMs; // may stop an unwanted workload
    return op === 'start' || op === 'stop' || op === 'restart' || op === 'delete' ? this.lifecycleTimeoutMs(op) : this.replySlackMs;
  }

  private lifecycleTimeoutMs(op: LifecycleOp): number {
    return op === 'start'
      ? this.startTimeoutMs + 2 * this.replySlackMs
      : this.startTimeoutMs + this.stopGraceMs + 2 * this.replySlackMs;
  }

  // ---- the API ----

  /** Creates an instance (Pending). Throws BadRequestError, InvalidConfigError, ConflictError (name taken). */
  async create(request: CreateInstanceRequest | unknown, caller: CallerPowers = {}): Promise<InstanceView> {
    return this.measured('createInstance', async () => {
      const { body, facts } = this.validateCreate(request); // a bad request is answered here, before it is forwarded
      if (caller.restricted === true) refuseBeyondDefaults(instanceIssues(facts, defaultOperatorPolicy), this.policy, `instance "${body.name}"`);
      return this.router.call('create', [body]);
    });
  }

  /** A create on the owner: validated (again) here, as a forwarded one comes from another process. */
  private createValidated(request: unknown): Promise<InstanceView> {
    const { body, configuration } = this.validateCreate(request);
    return this.createHere(body, configuration);
  }

  /** The request's schema (400), its Drasi Server config (422), then the operator's policy (400). */
  private validateCreate(request: unknown): { body: CreateInstanceRequest; configuration: DrasiServerConfig; facts: InstanceFacts } {
    const body = parseRequest(createInstanceRequestSchema, request, 'instance');
    const configuration = parseDrasiConfig(body.configuration ?? {});
    const facts: InstanceFacts = {
      platformType: (body.platformType ?? 'process') as PlatformType,
      platformOptions: body.platformOptions,
      serverConfiguration: body.serverConfiguration,
      environment: body.environment,
      configuration: configuration as Record<string, unknown>,
    };
    refuseByPolicy(instanceIssues(facts, this.policy), `instance "${body.name}"`);
    return { body, configuration, facts };
  }

  private async createHere(body: CreateInstanceRequest, configuration: DrasiServerConfig): Promise<InstanceView> {
    return this.registry.serialized(body.name, async () => {
      const at = new Date(this.now()).toISOString();
      const server = body.serverConfiguration ?? {};
      const record: InstanceRecord = {
        id: body.name,
        description: body.description ?? '',
        platformType: (body.platformType ?? 'process') as PlatformType,
        serverConfiguration: {
          host: server.host ?? this.defaultHost,
          ...(server.logLevel !== undefined ? { logLevel: server.logLevel } : {}),
          ...(server.port !== undefined ? { port: server.port } : {}),
        },
        environment: body.environment ?? {},
        ...(body.platformOptions !== undefined ? { platformOptions: body.platformOptions } : {}),
        ...(body.updateStrategy !== undefined ? { updateStrategy: body.updateStrategy } : {}),
        configuration: configuration as Record<string, unknown>,
        generation: 1,
        createdAt: at,
        updatedAt: at,
      };
      if (!(await this.registry.insertRecord(record))) {
        throw new ConflictError(`instance "${record.id}" already exists`, { instanceId: record.id });
      }
      this.registry.spawn(record);
      return this.registry.view(record.id);
    });
  }

  async get(id: string): Promise<InstanceView> {
    const instanceId = parseInstanceId(id);
    return this.router.call('get', [instanceId]);
  }

  /**
   * Every instance. With one replica, from the actors; with several, the
   * instances other replicas own are read from their persisted snapshots
   * (one read of the store, instead of a call to every replica).
   */
  async list(): Promise<InstanceView[]> {
    const views: InstanceView[] = [];
    if (!this.ownership.shared) {
      for (const record of await this.store.list()) {
        const actor = this.registry.actor(record.id);
        if (actor) views.push(instanceView(record, actor.view));
      }
    } else {
      const records = await this.store.list();
      const actors = records.map((record) => this.registry.actor(record.id));
      if (actors.every((actor) => actor !== undefined)) {
        // This replica acts for every instance (alone, or the others own none): their actors answer, no snapshot is read.
        records.forEach((record, index) => views.push(instanceView(record, actors[index]!.view)));
      } else {
        for (const { record, snapshot } of await this.store.loadAll()) {
          const actor = this.registry.actor(record.id);
          const view = actor ? actor.view : this.storedView(record, snapshot);
          if (view) views.push(instanceView(record, view));
        }
      }
    }
    // Code-point order, the order of the pages (ids are lowercase letters, digits and '-').
    return views.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  /**
   * One page of the instances in id order (code-point order): at most `limit`
   * after the id `after`, and the id to continue after (null on the last
   * page). Reads only the page's records from the store (see `loadPage`).
   * A page may hold fewer than `limit` when an instance was refused on restore.
   */
  async listPage(options: { limit: number; after?: string }): Promise<{ items: InstanceView[]; next: string | null }> {
    const { limit, after } = parseRequest(listPageOptionsSchema, options, 'list options');
    const page = await this.store.loadPage(after, limit);
    const items: InstanceView[] = [];
    for (const { record, snapshot } of page.items) {
      const actor = this.registry.actor(record.id);
      const view = actor ? actor.view : this.ownership.shared ? this.storedView(record, snapshot) : undefined;
      if (view) items.push(instanceView(record, view));
    }
    const last = page.items.at(-1);
    return { items, next: page.more && last ? last.record.id : null };
  }

  /** An instance's view as its owner last saved it; a record saved without a snapshot yet is Pending. */
  private storedView(record: InstanceRecord, snapshot: PersistedInstanceSnapshot | undefined): SnapshotView | undefined {
    if (!snapshot) {
      const initial = getInitialSnapshot(this.machine, this.actorInput(record));
      return { status: initial.value as SnapshotView['status'], context: initial.context };
    }
    try {
      const restorable = restoreSnapshot(snapshot, record.id);
      return { status: restorable.value, context: restorable.context };
    } catch {
      return undefined; // refused; its owner logged why when it restored the instance
    }
  }

  /** A lifecycle request, on the owner: resolves with the view once the machine settled it. */
  private async lifecycle<K extends LifecycleOp>(op: K, id: string, options: CallOptions): Promise<ReplicaCallResults[K]> {
    const timeoutMs = this.lifecycleTimeoutMs(op);
    const actor = this.registry.requireActor(id);
    const event = { type: `instance.${op}` } as Extract<InstanceRequestEvent, { type: `instance.${LifecycleOp}` }>;
    // The span covers the machine's whole answer: the commands it sends to the worker are its children.
    await inSpan(`instance.${op}`, { attributes: { 'draas.instance_id': id, 'draas.request': event.type } }, () =>
      actor.request(event, { timeoutMs, ...(options.signal ? { signal: options.signal } : {}) }),
    );
    return (op === 'delete' ? null : await this.registry.view(id)) as ReplicaCallResults[K];
  }

  /** Resolves once Running; rejects with the failure when the start fails. Idempotent. */
  start(id: string, options: CallOptions = {}): Promise<InstanceView> {
    return this.measured('startInstance', () => this.router.call('start', [parseInstanceId(id)], options));
  }

  /** Resolves once Stopped. Stopping a Stopped instance succeeds. */
  stop(id: string, options: CallOptions = {}): Promise<InstanceView> {
    return this.measured('stopInstance', () => this.router.call('stop', [parseInstanceId(id)], options));
  }

  /** Stops (if running) and starts again; resolves once Running with a new workload. */
  restart(id: string, options: CallOptions = {}): Promise<InstanceView> {
    return this.measured('restartInstance', () => this.router.call('restart', [parseInstanceId(id)], options));
  }

  /** Stops and removes the workload and forgets the instance. */
  async delete(id: string, options: CallOptions = {}): Promise<void> {
    await this.measured('deleteInstance', () => this.router.call('delete', [parseInstanceId(id)], options));
  }

  /** The last comparison of the instance with what runs (see `reconciler.ts`), or null before its first check. */
  async drift(id: string): Promise<DriftComparison | null> {
    return this.router.call('drift', [parseInstanceId(id)]);
  }

  private async driftHere(id: string): Promise<DriftComparison | null> {
    this.registry.requireActor(id);
    return this.reconciler.lastComparison(id) ?? null;
  }

  /** Compares the instance with what runs now; a difference found is repaired as by the periodic check. */
  async reconcile(id: string): Promise<DriftComparison> {
    return this.measured('reconcileInstance', () => this.router.call('reconcile', [parseInstanceId(id)]));
  }

  private async reconcileHere(id: string): Promise<DriftComparison> {
    this.registry.requireActor(id);
    return this.reconciler.check(id);
  }

  async getConfig(id: string): Promise<InstanceConfig> {
    return this.router.call('getConfig', [parseInstanceId(id)]);
  }

  private async getConfigHere(id: string): Promise<InstanceConfig> {
    this.registry.requireActor(id);
    const record = await this.registry.requireRecord(id);
    return { instanceId: id, generation: record.generation, configuration: record.configuration };
  }

  /**
   * Applies an RFC 6902 JSON Patch atomically: a patch that fails or yields an
   * invalid config changes nothing. Bumps the generation. A Running instance
   * takes it by its update strategy (the instance's, or `options.updateStrategy`
   * for this change): `auto` applies it to the running server where only
   * components changed, else restarts; `restart` restarts; `manual` keeps the
   * running generation until the next start. Resolves once recorded, not once applied.
   */
  async patchConfig(id: string, patch: unknown, options: PatchConfigOptions | unknown = {}, caller: CallerPowers = {}): Promise<InstanceConfig> {
    return this.measured('patchConfiguration', async () => {
      const instanceId = parseInstanceId(id);
      // Checked before it may be forwarded: a patch nested too deep for JSON must be a 400, not a transport failure.
      refuseDeepInput(patch, 'JSON Patch');
      const checked = parseRequest(patchConfigCallOptionsSchema, options, 'configuration change options');
      return this.router.call('patchConfig', [instanceId, patch, checked, caller.restricted === true]);
    });
  }

  private async patchConfigHere(id: string, patch: unknown, options: PatchConfigOptions, restricted: boolean): Promise<InstanceConfig> {
    const actor = this.registry.requireActor(id);
    return this.registry.serialized(id, async () => {
      const record = await this.registry.requireRecord(id);
      // The precondition is checked here, in the instance's serialized step: no other change can land between check and write.
      if (options.ifGeneration !== undefined && !options.ifGeneration.includes(record.generation)) {
        throw new DraasError('precondition-failed', `the configuration of "${id}" is at generation ${record.generation}, not the one the change was made for`, {
          instanceId: id,
          generation: record.generation,
          etag: configEtag(record.generation),
        });
      }
      const { configuration, changed } = applyConfigPatch(parseDrasiConfig(record.configuration), patch);
      // Nothing changed (an empty or test-only patch): no new generation, nothing for the machine to accept or refuse.
      if (!changed) return { instanceId: id, generation: record.generation, configuration: record.configuration };
      // Checked before anything is stored: a refused change leaves the record (config and generation) as it was.
      const facts = { ...recordFacts(record, this.defaultHost), configuration: configuration as Record<string, unknown> };
      refuseByPolicy(configurationIssues(facts, this.policy), `the configuration change of "${id}"`);
      if (restricted) {
        // Only what the change adds: an operator may still edit an instance an admin gave such powers.
        const before = new Set(configurationIssues(recordFacts(record, this.defaultHost), defaultOperatorPolicy).map((issue) => issue.path));
        const added = configurationIssues(facts, defaultOperatorPolicy).filter((issue) => !before.has(issue.path));
        refuseBeyondDefaults(added.map((issue) => ({ ...issue, path: `/configuration${issue.path}` })), this.policy, `the configuration change of "${id}"`);
      }
      const next = record.generation + 1;
      const event = { type: 'instance.configure' as const, generation: next, update: options.updateStrategy ?? record.updateStrategy ?? 'auto' };
      if (!actor.can(event)) {
        throw new ConflictError(`cannot change the configuration of "${id}" while it is ${actor.view.status}`, {
          state: actor.view.status,
        });
      }
      // Copies of what the server runs (or an apply in flight brings it to): to apply the change as a difference and judge drift by.
      const { context, status } = actor.view;
      const kept = keptConfigurations(record, { observedGeneration: context.observedGeneration, hasWorkload: context.workload !== null, applying: status === 'Reconfiguring' });
      const { runningConfigurations: _previous, ...rest } = record;
      const updated: InstanceRecord = {
        ...rest,
        configuration: configuration as Record<string, unknown>,
        generation: next,
        updatedAt: new Date(this.now()).toISOString(),
        ...(kept.length > 0 ? { runningConfigurations: kept } : {}),
      };
      await this.registry.saveRecord(updated);
      await inSpan('instance.configure', { attributes: { 'draas.instance_id': id, 'draas.request': event.type, 'draas.generation': next } }, () =>
        actor.request(event, { timeoutMs: 1_000 }),
      );
      return { instanceId: id, generation: next, configuration: updated.configuration };
    });
  }

  /**
   * An observed-state report from outside; becomes an event for the actor
   * (409 if the machine refuses it). `sender` is who sent it, when the REST
   * API took it: recorded with the report's `source` in the failure it causes.
   */
  async reportStatus(report: StatusReport | unknown, sender?: ReportSender): Promise<InstanceStatusView> {
    const body = parseRequest(statusReportSchema, report, 'status report');
    const from = sender === undefined ? null : parseRequest(reportSenderSchema, sender, 'status report sender');
    return this.router.call('reportStatus', [body, from]);
  }

  private async reportStatusHere(body: StatusReport, sender: ReportSender | undefined): Promise<InstanceStatusView> {
    const actor = this.registry.requireActor(body.instanceId);
    const accepted = actor.observe({
      type: 'observed.report',
      status: body.status,
      source: body.source ?? 'api',
      ...(sender !== undefined ? { remoteAddress: sender.remoteAddress } : {}),
      ...(body.message !== undefined ? { message: body.message } : {}),
    });
    if (!accepted) {
      throw new ConflictError(`a "${body.status}" report does not apply to "${body.instanceId}" while it is ${actor.view.status}`, {
        state: actor.view.status,
      });
    }
    return instanceStatusView(actor.view);
  }

  async status(id: string): Promise<InstanceStatusView> {
    return this.router.call('status', [parseInstanceId(id)]);
  }

  private async statusHere(id: string): Promise<InstanceStatusView> {
    return instanceStatusView(this.registry.requireActor(id).view);
  }

  async recentChanges(options: { limit?: number; afterSequence?: number; instanceId?: string } = {}): Promise<StatusChange[]> {
    return this.statusChanges.recent({ ...options, limit: options.limit ?? 100 });
  }

  /** The newest log lines of the instance's server, from its worker. */
  async logs(id: string, options: { tail?: number } & CallOptions = {}): Promise<string[]> {
    const instanceId = parseInstanceId(id);
    const tail = options.tail ?? 200;
    return this.router.call('logs', [instanceId, tail], options.signal ? { signal: options.signal } : {});
  }

  private async logsHere(id: string, tail: number, options: CallOptions = {}): Promise<string[]> {
    return (await this.sendLogs(id, { tail }, options.signal)).lines;
  }

  /** `workload.logs` to the worker the instance is placed on (nothing to read before its first placement). */
  private async sendLogs(id: string, payload: WorkloadCommands['workload.logs']['payload'], signal: AbortSignal | undefined) {
    this.registry.requireActor(id);
    const record = await this.registry.requireRecord(id);
    const workerId = this.placements.placementOf(record);
    if (workerId === undefined) return { lines: [], ...(payload.after !== undefined ? { cursor: payload.after ?? '' } : {}) };
    return this.workloads.send(record.platformType, 'workload.logs', id, payload, {
      timeoutMs: this.replySlackMs,
      workerId,
      ...(signal ? { signal } : {}),
    });
  }

  /**
   * The instance's log as it grows: the newest `tail` lines (default 200; 0
   * for only new ones), then each new line once, in order, polling its
   * worker through the owning replica. Marker lines say where a new workload
   * starts or lines could not be delivered; the stream ends with a final line
   * when the instance is deleted, and at once when `signal` aborts. Throws
   * (on the first read) NotFoundError and BadRequestError.
   */
  followLogs(id: string, options: { tail?: number } & CallOptions = {}): AsyncIterable<string> {
    const instanceId = parseInstanceId(id);
    const tail = parseRequest(followLogsOptionsSchema, { tail: options.tail }, 'follow options').tail ?? 200;
    const read = (count: number, after: string | null, signal: AbortSignal | undefined) =>
      this.router.call('readLogs', [instanceId, count, after], signal ? { signal } : {});
    return followLog(read, { instanceId, tail, pollMs: this.logPollMs, ...(options.signal ? { signal: options.signal } : {}) });
  }

  private async readLogsHere(id: string, tail: number, after: string | null, signal?: AbortSignal): Promise<LogRead> {
    const result = await this.sendLogs(id, { tail, after }, signal);
    if (result.cursor === undefined) throw new DraasError('worker-error', `the worker of "${id}" answered a cursor read without a cursor`);
    return { lines: result.lines, cursor: result.cursor };
  }

  /** Which control-plane replica owns which instances (shards), and which replicas are alive. */
  async replicas(): Promise<OwnershipView> {
    return this.ownership.describe();
  }

  /** Live workers per platform. */
  async platforms(): Promise<WorkerPresence[]> {
    return this.transport.presence.live();
  }

  /** This replica's circuit breaker toward each worker it sent commands to (the engines' own are in the workers' presence). */
  circuitStates(): WorkerCircuitState[] {
    return this.workloads.circuitStates();
  }

  /**
   * Every recorded status change from now on (or after `afterSequence`), in
   * the change log's order, once each; see StatusSubscribeOptions for resets.
   * Returns an unsubscribe function.
   */
  async subscribe(listener: (event: InstanceEventEnvelope) => void, options: StatusSubscribeOptions = {}): Promise<() => Promise<void>> {
    return this.statusChanges.subscribe(listener, options);
  }

  /** Whether the control plane can serve requests. */
  async ready(): Promise<boolean> {
    return this.transport.healthy();
  }

  /** Stops the actors (not the workloads) and the subscriptions. Idempotent. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      this.placements.stop();
      this.reconciler.stop();
      // Each step waits for the store and transport a bounded time (a Redis that never answers must not hold a
      // shutdown); what does not land is logged by the step, with what happens to it instead.
      await within(Promise.all(this.subscriptions.map((subscription) => subscription.close())), CLOSE_STEP_MS);
      this.subscriptions = [];
      this.registry.stopAll();
      await this.snapshots.close();
      if (!(await within(this.statusChanges.close(), CLOSE_STEP_MS)).settled) {
        this.log.warn(`shutdown: status changes not recorded within ${CLOSE_STEP_MS} ms were given up (the instances' snapshots and histories still hold them)`);
      }
      // Leases go last: until the snapshots are written, this replica must still own its instances.
      await this.ownership.close();
    })();
    return this.closing;
  }
}

/**
 * What the operator's policy looks at in a stored instance. A host equal to
 * the control plane's `defaultHost` is the operator's own choice (a create
 * that names none gets it), not the caller's, and is not checked.
 */
function recordFacts(record: InstanceRecord, defaultHost: string): InstanceFacts {
  const { host, port } = record.serverConfiguration;
  return {
    platformType: record.platformType,
    platformOptions: record.platformOptions,
    serverConfiguration: { ...(host !== defaultHost ? { host } : {}), ...(port !== undefined ? { port } : {}) },
    environment: record.environment,
    configuration: record.configuration,
  };
}
