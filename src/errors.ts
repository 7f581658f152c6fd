/**
 * Errors that cross layer boundaries. Each has a stable `code` (also the last
 * segment of the problem+json `type`), an HTTP status (mapped once, in the
 * HTTP error middleware) and whether retrying the same request may succeed.
 */
export type ErrorCode =
  | 'bad-request'
  | 'not-found'
  | 'conflict'
  | 'invalid-config'
  | 'no-live-worker'
  | 'worker-timeout'
  | 'workload-failed'
  | 'worker-error'
  | 'unavailable'
  | 'not-owner';

const httpStatusOf: Record<ErrorCode, number> = {
  'bad-request': 400,
  'not-found': 404,
  conflict: 409,
  'invalid-config': 422,
  'no-live-worker': 503,
  'worker-timeout': 504,
  'workload-failed': 502,
  'worker-error': 502,
  unavailable: 503,
  'not-owner': 503,
};

const retryableCodes = new Set<ErrorCode>(['no-live-worker', 'worker-timeout', 'unavailable', 'not-owner']);

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
    return httpStatusOf[this.code];
  }

  get retryable(): boolean {
    return retryableCodes.has(this.code);
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
  constructor(platform: string) {
    super('no-live-worker', `no live worker for platform "${platform}"`, { platform });
    this.name = 'NoLiveWorkerError';
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
