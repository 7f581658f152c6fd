/**
 * A circuit breaker: stops calling something that keeps failing, so callers
 * fail fast instead of each waiting for their own timeout, and lets one
 * probe through now and then to find out when it works again.
 *
 * - **closed**: calls go through. It opens after `failureThreshold`
 *   consecutive failures, or when at least `minimumCalls` calls ended in the
 *   last `windowMs` and the share of failures among them reached
 *   `failureRatio`.
 * - **open**: calls are refused (the caller fails them fast, saying when to
 *   retry) until the cool-down has passed: `coolDownMs` plus up to
 *   `jitter` of it at random (so that breakers opened together do not probe
 *   together), doubled after each failed probe up to `maxCoolDownMs`.
 * - **half-open**: the first call admitted is the probe; the others are
 *   refused while it runs. Its success closes the circuit, its failure opens
 *   it again. A probe that never ends does not hold the circuit forever:
 *   after a cool-down another probe is let through.
 *
 * What counts as a failure is the caller's decision (`record`): only what
 * says the other side is sick (no connection, a timeout, a 503), never an
 * answer (a 404 is a working engine saying no). Outcomes of calls admitted
 * before the circuit last changed state are ignored (a slow call that
 * started while it was closed says nothing about the probe).
 *
 * Pure state machine with an injectable clock and randomness: no timers.
 */
import { OutcomeWindow } from './outcome-window.js';

export type CircuitStatus = 'closed' | 'open' | 'half-open';

export interface CircuitSettings {
  /** Consecutive failures that open the circuit. */
  failureThreshold: number;
  /** Share of failed calls in the window that opens the circuit (0 < ratio <= 1); undefined: consecutive failures only. */
  failureRatio?: number;
  /** The window the ratio is taken over. */
  windowMs: number;
  /** Calls the window must hold before the ratio counts. */
  minimumCalls: number;
  /** Time open before the first probe. */
  coolDownMs: number;
  /** Cap of the cool-down, which doubles after each failed probe. */
  maxCoolDownMs: number;
  /** Up to this share of the cool-down is added at random (0: none). */
  jitter: number;
}

export const defaultCircuitSettings: CircuitSettings = {
  failureThreshold: 5,
  failureRatio: 0.5,
  windowMs: 30_000,
  minimumCalls: 10,
  coolDownMs: 5_000,
  maxCoolDownMs: 60_000,
  jitter: 0.2,
};

/** A breaker's state as shown to people (`GET /api/platforms`) and to metrics. Plain data. */
export interface CircuitState {
  /** What the breaker guards, e.g. `docker-engine` or `worker docker-host-1`. */
  name: string;
  status: CircuitStatus;
  consecutiveFailures: number;
  /** ISO 8601: when it last opened; null while it has not opened since it last closed. */
  openedAt: string | null;
  /** ISO 8601: when the next probe may go (open only). */
  nextProbeAt: string | null;
  /** The last failure's description, kept after closing for the record. */
  lastError: string | null;
  /** ISO 8601 of the last failure. */
  lastFailureAt: string | null;
}

/** Leave to call, or the refusal with how long until a probe may go. */
export type Admission = { admitted: true; permit: Permit } | { admitted: false; retryAfterMs: number; state: CircuitState };

/** What an admitted call hands back with its outcome. */
export interface Permit {
  readonly probe: boolean;
  /** The state change count when admitted (outcomes of older calls are ignored). */
  readonly epoch: number;
}

export interface CircuitBreakerOptions {
  settings?: Partial<CircuitSettings>;
  clock?: () => number;
  random?: () => number;
  /** Told after every change of status. */
  onChange?: (state: CircuitState) => void;
}

export class CircuitBreaker {
  readonly settings: CircuitSettings;
  private readonly clock: () => number;
  private readonly random: () => number;
  private readonly onChange: ((state: CircuitState) => void) | undefined;
  private status: CircuitStatus = 'closed';
  private epoch = 0;
  private consecutiveFailures = 0;
  private openedAt: number | null = null;
  private nextProbeAt: number | null = null;
  private coolDownMs: number;
  private probeStartedAt: number | null = null;
  private lastError: string | null = null;
  private lastFailureAt: number | null = null;
  /** Outcomes in the ratio window. */
  private readonly window: OutcomeWindow;

  constructor(
    readonly name: string,
    options: CircuitBreakerOptions = {},
  ) {
    this.settings = { ...defaultCircuitSettings, ...options.settings };
    const { failureThreshold, coolDownMs, maxCoolDownMs, failureRatio, jitter } = this.settings;
    if (!Number.isInteger(failureThreshold) || failureThreshold < 1) throw new RangeError('failureThreshold must be a positive integer');
    if (!(coolDownMs > 0) || !(maxCoolDownMs >= coolDownMs)) throw new RangeError('coolDownMs must be positive and at most maxCoolDownMs');
    if (failureRatio !== undefined && !(failureRatio > 0 && failureRatio <= 1)) throw new RangeError('failureRatio must be in (0, 1]');
    if (!(jitter >= 0)) throw new RangeError('jitter must not be negative');
    this.clock = options.clock ?? Date.now;
    this.random = options.random ?? Math.random;
    this.onChange = options.onChange;
    this.coolDownMs = coolDownMs;
    this.window = new OutcomeWindow(this.settings.windowMs);
  }

  /** Whether a call may go now. In half-open the first call admitted is the probe. */
  admit(): Admission {
    const now = this.clock();
    if (this.status === 'open') {
      if (now < (this.nextProbeAt ?? now)) return { admitted: false, retryAfterMs: (this.nextProbeAt ?? now) - now, state: this.state() };
      this.change('half-open');
    }
    if (this.status === 'half-open') {
      // One probe at a time; one that hangs for a whole cool-down no longer holds the others back.
      if (this.probeStartedAt !== null && now - this.probeStartedAt < this.coolDownMs) {
        return { admitted: false, retryAfterMs: this.probeStartedAt + this.coolDownMs - now, state: this.state() };
      }
      this.probeStartedAt = now;
      return { admitted: true, permit: { probe: true, epoch: this.epoch } };
    }
    return { admitted: true, permit: { probe: false, epoch: this.epoch } };
  }

  /** The call reached the other side and got an answer (any answer that is not a sign of sickness). */
  success(permit: Permit): void {
    if (permit.epoch !== this.epoch) return;
    this.consecutiveFailures = 0;
    this.remember(false);
    if (this.status === 'half-open' && permit.probe) {
      this.coolDownMs = this.settings.coolDownMs;
      this.openedAt = null;
      this.change('closed');
    }
  }

  /** The call failed in a way that says the other side is sick. */
  failure(permit: Permit, error: string): void {
    const now = this.clock();
    this.lastError = error;
    this.lastFailureAt = now;
    if (permit.epoch !== this.epoch) return;
    this.consecutiveFailures++;
    this.remember(true);
    if (this.status === 'half-open' && permit.probe) {
      this.coolDownMs = Math.min(this.settings.maxCoolDownMs, this.coolDownMs * 2);
      this.open(now);
    } else if (this.status === 'closed' && this.tripped()) {
      this.open(now);
    }
  }

  /** The call ended without saying anything (aborted by its caller): a probe's place is freed. */
  release(permit: Permit): void {
    if (permit.epoch === this.epoch && permit.probe && this.status === 'half-open') this.probeStartedAt = null;
  }

  /** Closes the circuit at once (the other side is known to be back, e.g. a worker announced itself again). */
  reset(): void {
    this.consecutiveFailures = 0;
    this.window.clear();
    this.coolDownMs = this.settings.coolDownMs;
    this.openedAt = null;
    if (this.status !== 'closed') this.change('closed');
  }

  state(): CircuitState {
    const iso = (at: number | null) => (at === null ? null : new Date(at).toISOString());
    return {
      name: this.name,
      status: this.status,
      consecutiveFailures: this.consecutiveFailures,
      openedAt: iso(this.openedAt),
      nextProbeAt: this.status === 'open' ? iso(this.nextProbeAt) : null,
      lastError: this.lastError,
      lastFailureAt: iso(this.lastFailureAt),
    };
  }

  private tripped(): boolean {
    if (this.consecutiveFailures >= this.settings.failureThreshold) return true;
    const { failureRatio, minimumCalls } = this.settings;
    if (failureRatio === undefined) return false;
    const { calls, failures } = this.window.counts(this.clock());
    return calls >= minimumCalls && failures / calls >= failureRatio;
  }

  private remember(failed: boolean): void {
    this.window.record(this.clock(), failed);
  }

  private open(now: number): void {
    this.openedAt = now;
    this.nextProbeAt = now + Math.round(this.coolDownMs * (1 + this.settings.jitter * this.random()));
    this.probeStartedAt = null;
    this.window.clear();
    this.change('open');
  }

  private change(status: CircuitStatus): void {
    this.status = status;
    this.epoch++;
    if (status !== 'half-open') this.probeStartedAt = null;
    this.onChange?.(this.state());
  }
}
