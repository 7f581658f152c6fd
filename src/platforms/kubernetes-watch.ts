/**
 * The Deployments and pods of one namespace that carry the managed-by label,
 * kept current by two client-node informers (list, then watch from the
 * list's resourceVersion; a relist on 410 Gone; a new watch when the server
 * closes one). One per namespace in use, shared by every instance there.
 *
 * client-node 1.4's informer stops for good on any other watch or list
 * error: this wrapper starts it again with a capped backoff and reports the
 * namespace unwatched meanwhile. `stop()` makes the informer report an
 * AbortError, ignored here. Whoever owns the watch is told which instance
 * changed (and, after a relist, to look at everything again); it reads the
 * caches, never the events, so a change missed while a watch was down is
 * seen as the state it led to.
 */
import { makeInformer, type AppsV1Api, type CoreV1Api, type Informer, type KubeConfig, type KubernetesObject, type ObjectCache, type V1Deployment, type V1Pod } from '@kubernetes/client-node';
import { errorMessage } from '../errors.js';
import { labelledInstance, managedBySelector } from './kubernetes-objects.js';

export interface NamespaceWatchOptions {
  config: KubeConfig;
  apps: AppsV1Api;
  core: CoreV1Api;
  namespace: string;
  /** An object of the instance was added, changed or deleted. */
  onChange: (instanceId: string) => void;
  /** A list (first or after a gap) replaced the cache: look at everything again. */
  onResync: () => void;
  /** Watching stopped (with the reason) or works again. */
  onWatching: (watching: boolean, reason?: string) => void;
  /** Backoff before restarting a failed informer: 250 ms doubling to 10 s by default. */
  backoffMs?: (attempt: number) => number;
}

const defaultBackoff = (attempt: number) => Math.min(10_000, 250 * 2 ** attempt);

type Cached<T extends KubernetesObject> = Informer<T> & ObjectCache<T>;

/** One informer, restarted after errors. */
class RestartingInformer<T extends KubernetesObject> {
  readonly informer: Cached<T>;
  private attempt = 0;
  private retry: NodeJS.Timeout | undefined;
  private closed = false;
  private errors = 0;
  /** The last error while it does not watch; undefined while it does. */
  failure: string | undefined;
  /** Lists that succeeded. */
  lists = 0;
  private readonly waiters = new Set<() => void>();

  constructor(
    private readonly what: string,
    config: KubeConfig,
    path: string,
    list: () => Promise<{ items: T[]; metadata?: { resourceVersion?: string } }>,
    private readonly onChange: (object: T) => void,
    private readonly onResync: () => void,
    private readonly onWatching: (watching: boolean, reason?: string) => void,
    private readonly backoffMs: (attempt: number) => number,
  ) {
    const listed = async () => {
      // A list that ends after `stop()` would otherwise open a watch nobody stops.
      if (this.closed) throw new Error('closed');
      const result = await list();
      if (this.closed) throw new Error('closed');
      // The informer fills its cache from this list synchronously after the promise resolves: look after that.
      setImmediate(() => {
        if (this.closed) return;
        this.lists++;
        this.recovered();
        this.onResync();
        this.wake();
      });
      return result;
    };
    this.informer = makeInformer<T>(config, path, listed as never, managedBySelector);
    const changed = (object: T) => {
      this.recovered();
      this.onChange(object);
    };
    this.informer.on('add', changed);
    this.informer.on('update', changed);
    this.informer.on('delete', changed);
    this.informer.on('error', (error: unknown) => this.failed(error));
  }

  /**
   * Starts (or restarts) the informer. Not awaited: the informer's `start()`
   * resolves only once the watch response's headers arrive, which a server
   * may hold back until the first event. Success shows as a list, an event,
   * or that promise resolving without an error.
   */
  start(): void {
    const errorsBefore = this.errors;
    this.informer.start().then(
      () => {
        if (this.errors === errorsBefore) this.recovered();
      },
      (error: unknown) => this.failed(error),
    );
  }

  /** Watching works (again). */
  private recovered(): void {
    if (this.closed) return;
    this.attempt = 0;
    if (this.failure !== undefined) {
      this.failure = undefined;
      this.onWatching(true);
    }
  }

  private failed(error: unknown): void {
    if (this.closed) return; // stop() aborts the watch: an AbortError, not a failure
    this.errors++;
    const reason = `${this.what}: ${describeApiError(error)}`;
    const first = this.failure === undefined;
    this.failure = reason;
    this.wake();
    if (first) this.onWatching(false, reason);
    if (this.retry) return;
    this.retry = setTimeout(() => {
      this.retry = undefined;
      this.start();
    }, this.backoffMs(this.attempt++));
    this.retry.unref();
  }

  /** Resolves after the next list or failure. */
  changed(): Promise<void> {
    return new Promise((resolve) => this.waiters.add(resolve));
  }

  private wake(): void {
    const waiters = [...this.waiters];
    this.waiters.clear();
    for (const waiter of waiters) waiter();
  }

  async stop(): Promise<void> {
    this.closed = true;
    if (this.retry) clearTimeout(this.retry);
    this.retry = undefined;
    this.wake();
    await this.informer.stop().catch(() => undefined);
  }
}

export class NamespaceWatch {
  readonly namespace: string;
  private readonly deployments: RestartingInformer<V1Deployment>;
  private readonly pods: RestartingInformer<V1Pod>;
  private started = false;

  constructor(options: NamespaceWatchOptions) {
    this.namespace = options.namespace;
    const backoff = options.backoffMs ?? defaultBackoff;
    const namespace = encodeURIComponent(options.namespace);
    const changed = (object: KubernetesObject) => {
      const instanceId = labelledInstance(object.metadata);
      if (instanceId !== undefined) options.onChange(instanceId);
    };
    const watching = (watching: boolean, reason?: string) => {
      // The namespace counts as watched only while both informers watch.
      if (watching && (this.deployments.failure !== undefined || this.pods.failure !== undefined)) return;
      options.onWatching(watching, reason);
    };
    this.deployments = new RestartingInformer<V1Deployment>(
      `watching Deployments in namespace ${options.namespace}`,
      options.config,
      `/apis/apps/v1/namespaces/${namespace}/deployments`,
      () => options.apps.listNamespacedDeployment({ namespace: options.namespace, labelSelector: managedBySelector }),
      changed,
      options.onResync,
      watching,
      backoff,
    );
    this.pods = new RestartingInformer<V1Pod>(
      `watching pods in namespace ${options.namespace}`,
      options.config,
      `/api/v1/namespaces/${namespace}/pods`,
      () => options.core.listNamespacedPod({ namespace: options.namespace, labelSelector: managedBySelector }),
      changed,
      options.onResync,
      watching,
      backoff,
    );
  }

  /** Why the namespace is not watched now; undefined while it is. */
  get failure(): string | undefined {
    return this.deployments.failure ?? this.pods.failure;
  }

  /** Whether both caches were filled by a list at least once. */
  get synced(): boolean {
    return this.deployments.lists > 0 && this.pods.lists > 0;
  }

  /**
   * Starts both informers (once) and resolves when both caches were listed;
   * rejects with the reason when a list fails (the informers keep retrying in
   * the background, so a later call may succeed).
   */
  async whenSynced(): Promise<void> {
    if (!this.started) {
      this.started = true;
      this.deployments.start();
      this.pods.start();
    }
    while (!this.synced) {
      const failure = this.failure;
      if (failure !== undefined) throw new Error(failure);
      await Promise.race([this.deployments.changed(), this.pods.changed()]);
    }
  }

  deployment(name: string): V1Deployment | undefined {
    return this.deployments.informer.get(name, this.namespace);
  }

  allDeployments(): readonly V1Deployment[] {
    return this.deployments.informer.list(this.namespace);
  }

  podsOf(instanceId: string): V1Pod[] {
    return this.pods.informer.list(this.namespace).filter((pod) => labelledInstance(pod.metadata) === instanceId);
  }

  async stop(): Promise<void> {
    await Promise.all([this.deployments.stop(), this.pods.stop()]);
  }
}

/** An API error as a sentence: the HTTP status and the server's message, or the connection error. No request details (they may carry credentials). */
export function describeApiError(error: unknown): string {
  if (typeof error === 'object' && error !== null) {
    const record = error as { code?: unknown; statusCode?: unknown; body?: unknown };
    const status = typeof record.code === 'number' ? record.code : typeof record.statusCode === 'number' ? record.statusCode : undefined;
    if (status !== undefined) {
      const message = serverMessage(record.body);
      const meaning = status === 401 ? 'unauthorized (the credentials were refused)' : status === 403 ? 'forbidden (RBAC denies it)' : status === 404 ? 'not found' : undefined;
      return `HTTP ${status}${meaning ? ` ${meaning}` : ''}${message ? `: ${message}` : ''}`;
    }
    const cause = (error as { cause?: unknown }).cause;
    const code = (error as { code?: unknown }).code ?? (typeof cause === 'object' && cause !== null ? (cause as { code?: unknown }).code : undefined);
    if (code === 'ECONNREFUSED') return 'connection refused';
    if (typeof code === 'string' && code !== '') return `${code}: ${errorMessage(error).split('\n')[0]}`;
  }
  return errorMessage(error).split('\n')[0] ?? 'unknown error';
}

/** The HTTP status of an API error, if it has one. */
export function statusOf(error: unknown): number | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const record = error as { code?: unknown; statusCode?: unknown };
  if (typeof record.code === 'number') return record.code;
  if (typeof record.statusCode === 'number') return record.statusCode;
  return undefined;
}

function serverMessage(body: unknown): string | undefined {
  let value: unknown = body;
  if (typeof body === 'string') {
    try {
      value = JSON.parse(body);
    } catch {
      return body.length > 200 ? `${body.slice(0, 200)}…` : body || undefined;
    }
  }
  if (typeof value === 'object' && value !== null && typeof (value as { message?: unknown }).message === 'string') return (value as { message: string }).message;
  return undefined;
}
