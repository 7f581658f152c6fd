/**
 * Errors that cross layer boundaries. Each has a stable `code` (also the last
 * segment of the problem+json `type`), an HTTP status (mapped once, in the
 * HTTP error middleware) and whether retrying the same request may succeed.
 */

/** What the one table says about a code. */
export interface ErrorKind {
  /** The HTTP status of a problem+json answer with this code. */
  status: number;
  /** Whether the same request may succeed later (the failure was not the request's fault). */
  retryable: boolean;
  /** The problem+json `title`: the same for every occurrence of the code. */
  title: string;
}

/**
 * The one table of error codes. The errors, the reply codec (which refuses a
 * code missing here) and problem+json all read it: adding a code here is the
 * only step a new code needs. The last four are what the HTTP framework
 * itself raises (unknown method, body too large, wrong media type, a bug).
 */
export const errorTable = {
  'bad-request': { status: 400, retryable: false, title: 'Bad request' },
  unauthorized: { status: 401, retryable: false, title: 'Unauthorized' },
  forbidden: { status: 403, retryable: false, title: 'Forbidden' },
  'not-found': { status: 404, retryable: false, title: 'Not found' },
  conflict: { status: 409, retryable: false, title: 'Not allowed in the current state' },
  'invalid-config': { status: 422, retryable: false, title: 'Invalid configuration' },
  'precondition-failed': { status: 412, retryable: false, title: 'Precondition failed' },
  'idempotency-key-reused': { status: 422, retryable: false, title: 'Idempotency key reused with another request' },
  'idempotency-key-in-flight': { status: 409, retryable: true, title: 'A request with this idempotency key is in progress' },
  'no-live-worker': { status: 503, retryable: true, title: 'No live worker for the platform' },
  'worker-lost': { status: 503, retryable: true, title: "The instance's worker is lost" },
  'worker-timeout': { status: 504, retryable: true, title: 'Worker did not answer in time' },
  'workload-failed': { status: 502, retryable: false, title: 'Workload failed' },
  'worker-error': { status: 502, retryable: false, title: 'Worker error' },
  unavailable: { status: 503, retryable: true, title: 'Service unavailable' },
  'not-owner': { status: 503, retryable: true, title: 'Instance owner changed; retry' },
  'host-not-allowed': { status: 421, retryable: false, title: 'Host not allowed' },
  'too-many-streams': { status: 503, retryable: true, title: 'Too many open streams; retry' },
  'method-not-allowed': { status: 405, retryable: false, title: 'Method not allowed' },
  'payload-too-large': { status: 413, retryable: false, title: 'Payload too large' },
  'unsupported-media-type': { status: 415, retryable: false, title: 'Unsupported media type' },
  internal: { status: 500, retryable: false, title: 'Internal error' },
} as const satisfies Record<string, ErrorKind>;

export type ErrorCode = keyof typeof errorTable;

/** Whether a value (e.g. read from a reply) is a code of the table; inherited names are not. */
export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && Object.hasOwn(errorTable, value);
}

export class DraasError extends Error {
  readonly code: ErrorCode;
  /** Extra members for the problem+json body (e.g. the instance's current state). */
  readonly details: Record<string, unknown>;

  constructor(code: ErrorCode, message: string, details: Record<string, unknown> = {}, options?: ErrorOptions) {
    super(message, options);
    this.name = 'DraasError';
    this.code = code;
    this.details = details;
  }

  get status(): number {
    return errorTable[this.code].status;
  }

  get retryable(): boolean {
    return errorTable[this.code].retryable;
  }
}

export class BadRequestError extends DraasError {
  constructor(message: string, details: Record<string, unknown> = {}) {
    super('bad-request', message, details);
    this.name = 'BadRequestError';
  }
}

export class NotFoundError extends DraasError {
  constructor(message: string, details: Record<string, unknown> = {}) {
    super('not-found', message, details);
    this.name = 'NotFoundError';
  }
}

/** The request is legal in general but not in the instance's current state. */
export class ConflictError extends DraasError {
  constructor(message: string, details: Record<string, unknown> = {}) {
    super('conflict', message, details);
    this.name = 'ConflictError';
  }
}

/** One problem found in a configuration document, located by a JSON Pointer. */
export interface ConfigIssue {
  path: string;
  message: string;
}

export class InvalidConfigError extends DraasError {
  readonly issues: ConfigIssue[];
  constructor(message: string, issues: ConfigIssue[]) {
    super('invalid-config', message, { issues });
    this.name = 'InvalidConfigError';
    this.issues = issues;
  }
}

export class NoLiveWorkerError extends DraasError {
  /**
   * `unavailable`: why the platform's live workers take no commands (e.g. the
   * engine's circuit is open), and when one may take them again.
   */
  constructor(platform: string, unavailable?: { reason: string; retryAfterSeconds?: number }) {
    super(
      'no-live-worker',
      unavailable ? `no live worker for platform "${platform}" takes commands: ${unavailable.reason}` : `no live worker for platform "${platform}"`,
      { platform, ...(unavailable?.retryAfterSeconds !== undefined ? { retryAfterSeconds: unavailable.retryAfterSeconds } : {}) },
    );
    this.name = 'NoLiveWorkerError';
  }
}

/**
 * The worker an instance is placed on is gone (presence expired or
 * withdrawn). Its workload may still run there, so nothing is started
 * elsewhere until it returns or the worker-lost timeout passes.
 */
export class WorkerLostError extends DraasError {
  constructor(instanceId: string, lostWorker: { workerId: string; since: string }, what = 'its workload') {
    super(
      'worker-lost',
      `worker ${lostWorker.workerId} of instance "${instanceId}" is lost (since ${lostWorker.since}); ${what} waits for it to return`,
      { instanceId, lostWorker },
    );
    this.name = 'WorkerLostError';
  }
}

export class WorkerTimeoutError extends DraasError {
  constructor(queue: string, timeoutMs: number) {
    super('worker-timeout', `no reply from a worker on "${queue}" within ${timeoutMs} ms`, { queue, timeoutMs });
    this.name = 'WorkerTimeoutError';
  }
}

/** The platform could not run the workload (start failed, exited, unhealthy). */
export class WorkloadFailedError extends DraasError {
  constructor(message: string, details: Record<string, unknown> = {}) {
    super('workload-failed', message, details);
    this.name = 'WorkloadFailedError';
  }
}

/**
 * This replica is not (or no longer) the owner of the instance: its lease
 * expired or another replica holds it. Retrying reaches the current owner.
 */
export class StaleOwnerError extends DraasError {
  constructor(message: string, details: Record<string, unknown> = {}) {
    super('not-owner', message, details);
    this.name = 'StaleOwnerError';
  }
}

export function isDraasError(error: unknown): error is DraasError {
  return error instanceof DraasError;
}

export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
