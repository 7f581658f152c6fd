/**
 * One HTTP exchange with a Drasi Server that never throws: its own time
 * limit (covering headers and body), the caller's abort signal, and a
 * missing answer reported as an outcome (timeout, aborted, connection) —
 * the health probe and the component API client both judge a server this way.
 */

export interface TimedFetchOptions {
  timeoutMs: number;
  signal?: AbortSignal;
}

export type TimedFetchOutcome<T> =
  | { answered: true; status: number; value: T }
  | { answered: false; reason: 'timeout' | 'aborted' | 'connection'; detail: string };

/**
 * Fetches `url` and reads the answer with `read` (which must consume the
 * body, so that the connection is released), all within `timeoutMs`.
 */
export async function timedFetch<T>(
  url: string,
  init: Omit<RequestInit, 'signal'>,
  options: TimedFetchOptions,
  read: (response: Response) => Promise<T>,
): Promise<TimedFetchOutcome<T>> {
  if (options.signal?.aborted) return { answered: false, reason: 'aborted', detail: 'aborted' };
  const controller = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    controller.abort(new Error(`no answer within ${options.timeoutMs} ms`));
  }, Math.max(1, options.timeoutMs));
  const onAbort = (): void => controller.abort(options.signal?.reason);
  options.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    const response = await fetch(url, { ...init, signal: controller.signal, redirect: 'manual' });
    return { answered: true, status: response.status, value: await read(response) };
  } catch (error) {
    if (timedOut) return { answered: false, reason: 'timeout', detail: `no answer within ${options.timeoutMs} ms` };
    if (options.signal?.aborted) return { answered: false, reason: 'aborted', detail: 'aborted' };
    return { answered: false, reason: 'connection', detail: describeFetchError(error) };
  } finally {
    clearTimeout(timer);
    options.signal?.removeEventListener('abort', onAbort);
  }
}

/** One request to a server's own HTTP API: a path on the server (`/api/v1/queries`), JSON text as the body. */
export interface ServerRequest {
  method: string;
  path: string;
  body?: string;
}

/**
 * How a worker reaches a running server's own HTTP API: one exchange, never
 * throwing, the answer's body as text. Directly (`directServerHttp`), or
 * through whatever stands between (the Kubernetes API server's pod proxy).
 */
export type ServerHttp = (request: ServerRequest, options: TimedFetchOptions) => Promise<TimedFetchOutcome<string>>;

/** The headers of a request to a server's API: JSON answers, and a JSON body when there is one. */
export function serverRequestHeaders(request: ServerRequest): Record<string, string> {
  return { accept: 'application/json', ...(request.body !== undefined ? { 'content-type': 'application/json' } : {}) };
}

/** A server reached directly at `baseUrl`, e.g. `http://127.0.0.1:8080`. */
export function directServerHttp(baseUrl: string): ServerHttp {
  const base = baseUrl.replace(/\/+$/, '');
  return (request, options) =>
    timedFetch(
      `${base}${request.path}`,
      { method: request.method, headers: serverRequestHeaders(request), ...(request.body !== undefined ? { body: request.body } : {}) },
      options,
      (response) => response.text(),
    );
}

/** Why a fetch failed, as its cause says it (`ECONNREFUSED`, or the cause's message), else its own message. */
function describeFetchError(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const cause = error.cause;
  if (cause instanceof Error && 'code' in cause && typeof cause.code === 'string') return cause.code;
  if (cause instanceof Error) return cause.message;
  return error.message;
}
