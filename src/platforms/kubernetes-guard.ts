/**
 * Puts the Kubernetes driver's API clients (apps, core, version) behind an
 * `EngineGuard`: their HTTP library sends each request through the API
 * server's circuit and retries what is safe to repeat (`kubernetesFault`):
 * a 429 or 503 after the Retry-After the server asked for, a read's 5xx and
 * connection trouble. The answer that is finally given up on is handed to
 * the generated client unchanged, so the driver sees the same `ApiException`
 * (with its status) as without the guard.
 *
 * The informers' lists go through the circuit without retries here (an
 * informer starts over with its own backoff). Not covered: the watch
 * streams themselves (reported to `availability` when they fail), log
 * streams and the pod proxy.
 */
import {
  createConfiguration,
  IsomorphicFetchHttpLibrary,
  ServerConfiguration,
  wrapHttpLibrary,
  type KubeConfig,
  type RequestContext,
  type ResponseContext,
} from '@kubernetes/client-node';
import { kubernetesFault, type EngineFault } from './engine-faults.js';
import type { EngineGuard } from './engine-guard.js';

/** An answer worth another attempt, carried through the retry loop as a failure. */
class RetryableAnswer extends Error {
  /** The HTTP status, where `describeApiError` and `statusOf` look for it. */
  readonly code: number;
  constructor(
    readonly response: ResponseContext,
    readonly fault: EngineFault,
  ) {
    super(`HTTP ${response.httpStatusCode}`);
    this.code = response.httpStatusCode;
  }
}

/** How a client's requests are guarded. */
export interface GuardedClientOptions {
  /** The longest one plain read may take (a hung API server answers nothing at all). */
  timeoutMs: number;
  /** Whether requests are retried here: not for what retries on its own (the informers' lists). Default true. */
  retries?: boolean;
}

function guardedHttp(guard: EngineGuard, { timeoutMs, retries = true }: GuardedClientOptions) {
  const inner = new IsomorphicFetchHttpLibrary();
  return wrapHttpLibrary({
    send: async (request: RequestContext): Promise<ResponseContext> => {
      const method = request.getHttpMethod().toString();
      const watch = /[?&]watch=(true|1)\b/.test(request.getUrl());
      const callerSignal = request.getSignal();
      const classified = (error: unknown): EngineFault => (error instanceof RetryableAnswer ? error.fault : (kubernetesFault({ error }, method) ?? { sick: false, retry: false, unreachable: false }));
      const classify = (error: unknown): EngineFault => (retries ? classified(error) : { ...classified(error), retry: false });
      try {
        return await guard.call(
          async (_attempt, signal) => {
            if (signal) request.setSignal(signal);
            const response = await inner.send(request).toPromise();
            const retryAfter = response.headers['retry-after'];
            const fault = kubernetesFault({ status: response.httpStatusCode, ...(retryAfter !== undefined ? { retryAfter } : {}) }, method);
            if (fault) throw new RetryableAnswer(response, fault);
            return response;
          },
          classify,
          { ...(callerSignal ? { signal: callerSignal } : {}), ...(method === 'GET' && !watch ? { timeoutMs } : {}) },
        );
      } catch (error) {
        // Given up on an answer: the generated client turns it into its usual ApiException.
        if (error instanceof RetryableAnswer) return error.response;
        throw error;
      }
    },
  });
}

/** An API client of `config`'s current cluster whose requests go through `guard`. */
export function guardedApiClient<T>(config: KubeConfig, server: string, guard: EngineGuard, Api: new (configuration: ReturnType<typeof createConfiguration>) => T, options: GuardedClientOptions): T {
  return new Api(
    createConfiguration({
      baseServer: new ServerConfiguration<Record<string, string>>(server, {}),
      authMethods: { default: config },
      httpApi: guardedHttp(guard, options),
    }),
  );
}
