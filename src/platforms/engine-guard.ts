/**
 * What stands between a driver and its engine (the Docker Engine, the
 * Kubernetes API server): one circuit breaker for the engine, and retries of
 * the calls that are safe to repeat (see `engine-faults.ts`).
 *
 * Every engine call goes through `call`: while the circuit is open it fails
 * at once with `EngineUnavailableError` (503, `Retry-After` = the time until
 * the next probe) without touching the engine; a call whose engine could not
 * be reached at all fails the same way; other failures (answers, a 5xx the
 * driver words itself) are passed on as they are. A call and its retries
 * count once toward the circuit.
 */
import { DraasError, errorMessage } from '../errors.js';
import { CircuitBreaker, type Admission, type CircuitSettings, type CircuitState } from '../resilience/circuit-breaker.js';
import { retry, type RetryPolicy } from '../resilience/retry.js';
import { socketCode, type EngineFault } from './engine-faults.js';

/** The engine was not reached (no connection, or its circuit is open): nothing was done there. */
export class EngineUnavailableError extends DraasError {
  constructor(message: string, details: Record<string, unknown>, cause?: unknown) {
    super('unavailable', message, details, cause === undefined ? undefined : { cause });
    this.name = 'EngineUnavailableError';
  }
}

/** Retries of one engine call: a few quick ones, never past a second and a half in all. */
export const defaultEngineRetry: RetryPolicy = { attempts: 3, baseMs: 100, maxDelayMs: 800, deadlineMs: 1_500 };

/** Settings of the breaker and retries in front of an engine. */
export interface EngineResilience {
  circuit?: Partial<CircuitSettings>;
  retry?: Partial<RetryPolicy>;
  /** The longest one plain read of the engine may take (default 10 s). */
  readTimeoutMs?: number;
}

export interface EngineGuardOptions {
  /** The breaker's name, e.g. `docker-engine`. */
  name: string;
  /** How the engine reads in messages, e.g. `Docker Engine at unix:///var/run/docker.sock`. */
  description: string;
  circuit?: Partial<CircuitSettings>;
  retry?: Partial<RetryPolicy>;
  /** How a failure reads in messages (default: its message). */
  describe?: (error: unknown) => string;
  clock?: () => number;
  random?: () => number;
  /** Told after every change of the circuit's status. */
  onChange?: (state: CircuitState) => void;
}

export class EngineGuard {
  readonly breaker: CircuitBreaker;
  readonly description: string;
  private readonly policy: RetryPolicy;
  private readonly describe: (error: unknown) => string;
  private readonly clock: () => number;
  private readonly random: () => number;

  constructor(options: EngineGuardOptions) {
    this.description = options.description;
    this.clock = options.clock ?? Date.now;
    this.random = options.random ?? Math.random;
    this.policy = { ...defaultEngineRetry, ...options.retry };
    this.describe = options.describe ?? errorMessage;
    this.breaker = new CircuitBreaker(options.name, {
      ...(options.circuit ? { settings: options.circuit } : {}),
      clock: this.clock,
      random: this.random,
      ...(options.onChange ? { onChange: options.onChange } : {}),
    });
  }

  /**
   * Runs an engine call through the circuit, retrying what `classify` says
   * may be repeated. `run` gets the attempt number and a signal that aborts
   * when the caller's does or the attempt's `timeoutMs` runs out (an attempt
   * without an answer in time counts against the engine, and is not repeated).
   */
  async call<T>(
    run: (attempt: number, signal: AbortSignal | undefined) => Promise<T>,
    classify: (error: unknown) => EngineFault,
    options: { signal?: AbortSignal; timeoutMs?: number } = {},
  ): Promise<T> {
    const { signal, timeoutMs } = options;
    const admission = this.breaker.admit();
    if (!admission.admitted) throw this.refused(admission);
    const permit = admission.permit;
    let timedOut: number | undefined;
    const attempt = async (number: number): Promise<T> => {
      if (timeoutMs === undefined) return run(number, signal);
      const timer = new AbortController();
      const timeout = setTimeout(() => {
        timedOut = timeoutMs;
        timer.abort(new Error(`no answer within ${timeoutMs} ms`));
      }, timeoutMs);
      try {
        return await run(number, signal ? AbortSignal.any([signal, timer.signal]) : timer.signal);
      } finally {
        clearTimeout(timeout);
      }
    };
    const faultOf = (error: unknown): EngineFault => (timedOut !== undefined ? { sick: true, retry: false, unreachable: true } : classify(error));
    try {
      const result = await retry(attempt, {
        policy: this.policy,
        retryable: (error) => faultOf(error).retry,
        delayHint: (error) => faultOf(error).retryAfterMs,
        ...(signal ? { signal } : {}),
        clock: this.clock,
        random: this.random,
      });
      this.breaker.success(permit);
      return result;
    } catch (error) {
      if (signal?.aborted) {
        this.breaker.release(permit);
        throw error;
      }
      const fault = faultOf(error);
      const why = timedOut !== undefined ? `no answer within ${timedOut} ms` : this.describe(error);
      if (fault.sick) this.breaker.failure(permit, why);
      else this.breaker.success(permit);
      if (fault.unreachable) {
        // No connection (or no answer): unreachable; an answer that it cannot serve (502/503/504): unavailable.
        const how = timedOut !== undefined || socketCode(error) !== undefined ? 'unreachable' : 'unavailable';
        throw new EngineUnavailableError(`${this.description} is ${how}: ${why}`, this.details(), error);
      }
      throw error;
    }
  }

  state(): CircuitState {
    return this.breaker.state();
  }

  /** Why the engine takes no calls now (its circuit is open), or undefined. Touches nothing. */
  openReason(): string | undefined {
    const state = this.breaker.state();
    if (state.status !== 'open') return undefined;
    return `${this.description}: circuit open since ${state.openedAt ?? '?'} after ${state.consecutiveFailures} failure(s) (last: ${state.lastError ?? 'unknown'}); next probe at ${state.nextProbeAt ?? '?'}`;
  }

  private refused(admission: Extract<Admission, { admitted: false }>): EngineUnavailableError {
    const seconds = Math.max(1, Math.ceil(admission.retryAfterMs / 1000));
    const state = admission.state;
    const why = state.status === 'open' ? `its circuit is open (${state.consecutiveFailures} failure(s), last: ${state.lastError ?? 'unknown'})` : 'a probe of it is under way';
    return new EngineUnavailableError(`${this.description} is not called: ${why}; retry in ${seconds} s`, { ...this.details(), retryAfterSeconds: seconds });
  }

  private details(): Record<string, unknown> {
    const circuit = this.breaker.state();
    const next = circuit.nextProbeAt === null ? undefined : Date.parse(circuit.nextProbeAt) - this.clock();
    return { engine: circuit.name, circuit, retryAfterSeconds: next === undefined ? 1 : Math.max(1, Math.ceil(next / 1000)) };
  }
}
