/**
 * Which failures of an engine call (the Docker Engine API, the Kubernetes
 * API) say the engine is sick, which may be retried, and which are answers.
 * Pure: decided from the error's shape (a socket error code, an HTTP status)
 * and the request's method, so every case is unit-tested.
 *
 * - An answer (404, 409, 422, 403, 401; Docker's 304 and a 500 to a write,
 *   which is usually about that request, e.g. a port already taken) means the
 *   engine works: never retried here, never counted against it.
 * - A connection that could not be made (refused, the socket file missing)
 *   sent nothing: any request may be repeated.
 * - A connection lost mid-request (reset, broken pipe, hang-up, timeout) or
 *   a 5xx may have been acted upon: only a read (GET, HEAD) is repeated here.
 *   The Kubernetes driver's writes are level-triggered (create, else read and
 *   replace with the resourceVersion; a delete that finds nothing is done), so
 *   a write the API server sheds before acting on it (429, 503) is repeated too.
 */

export interface EngineFault {
  /** The engine is sick (counts toward its circuit breaker). */
  sick: boolean;
  /** Repeating the request is safe and may succeed. */
  retry: boolean;
  /** The engine was not reached or did not serve (no connection, a 502/503/504): the call fails as "engine unavailable" (503). */
  unreachable: boolean;
  /** A delay the engine asked for (Retry-After), in ms. */
  retryAfterMs?: number;
}

const answer: EngineFault = { sick: false, retry: false, unreachable: false };

/** Socket errors of a connection that was never made: nothing was sent. */
const notConnected = new Set(['ECONNREFUSED', 'ENOENT', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN', 'ENOTFOUND']);
/** Socket errors of a connection lost while the request was under way: it may have been acted upon. */
const connectionLost = new Set(['ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'ESOCKETTIMEDOUT', 'ECONNABORTED', 'UND_ERR_SOCKET', 'UND_ERR_CONNECT_TIMEOUT']);

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null;
}

/** The socket error code of an error or of its causes (node-fetch and undici wrap them). */
export function socketCode(error: unknown): string | undefined {
  for (let current: unknown = error, depth = 0; isRecord(current) && depth < 4; current = current['cause'], depth++) {
    const code = current['code'] ?? current['errno'];
    if (typeof code === 'string' && (notConnected.has(code) || connectionLost.has(code))) return code;
    if (typeof current['message'] === 'string' && /socket hang up/i.test(current['message'])) return 'ECONNRESET';
  }
  return undefined;
}

function isRead(method: string): boolean {
  const upper = method.toUpperCase();
  return upper === 'GET' || upper === 'HEAD';
}

/** A failure without an HTTP status: connection trouble, or something that is not the engine's (a bug, an abort). */
function connectionFault(error: unknown, method: string, replayable: boolean): EngineFault | undefined {
  const code = socketCode(error);
  if (code === undefined) return undefined;
  if (notConnected.has(code)) return { sick: true, retry: replayable, unreachable: true };
  return { sick: true, retry: replayable && isRead(method), unreachable: true };
}

/**
 * A Docker Engine API call's failure. `status` is the HTTP status when the
 * Engine answered (dockerode's `statusCode`); `replayable` is false when the
 * request's body was a stream that cannot be sent twice.
 */
export function dockerFault(error: unknown, method: string, replayable = true): EngineFault {
  const status = isRecord(error) && typeof error['statusCode'] === 'number' ? error['statusCode'] : undefined;
  if (status === undefined) return connectionFault(error, method, replayable) ?? answer;
  // Not served (a proxy in front, a daemon shutting down): the engine is unavailable, not the request wrong.
  if (status === 502 || status === 503 || status === 504) return { sick: true, retry: replayable && isRead(method), unreachable: true };
  // A 500 to a read says the daemon is unwell; to a write it is mostly about that request (a port taken, a bad image).
  if (status === 500 && isRead(method)) return { sick: true, retry: true, unreachable: false };
  return answer;
}

/** Seconds (or an HTTP date) of a Retry-After header → ms, if it parses. Pure. */
export function retryAfterMs(value: string | undefined, now: number = Date.now()): number | undefined {
  if (value === undefined || value.trim() === '') return undefined;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1_000;
  const at = Date.parse(trimmed);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/**
 * A Kubernetes API call's outcome: an HTTP status the API server answered
 * with (with its Retry-After), or a failure without one.
 */
export function kubernetesFault(outcome: { status: number; retryAfter?: string } | { error: unknown }, method: string, now: number = Date.now()): EngineFault | undefined {
  if ('error' in outcome) return connectionFault(outcome.error, method, true) ?? answer;
  const { status } = outcome;
  const hint = retryAfterMs(outcome.retryAfter, now);
  const withHint = (fault: EngineFault): EngineFault => (hint !== undefined ? { ...fault, retryAfterMs: hint } : fault);
  // Shed before it was acted upon (API priority and fairness, or a server not ready): safe to repeat; the server answers, so not sick.
  if (status === 429) return withHint({ sick: false, retry: true, unreachable: false });
  // Not served: the API server (or what stands before it) is unavailable; the call fails as such, not as the request's fault.
  if (status === 503) return withHint({ sick: true, retry: true, unreachable: true });
  if (status === 502 || status === 504) return withHint({ sick: true, retry: isRead(method), unreachable: true });
  if (status === 500) return withHint({ sick: true, retry: isRead(method), unreachable: false });
  return undefined;
}
