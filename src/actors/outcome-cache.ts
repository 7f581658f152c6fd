/**
 * Remembers the outcome of recent commands by `commandId`, so that a command
 * delivered twice is executed once and both deliveries get the first outcome.
 * Bounded: the oldest entries are forgotten first.
 */
export class OutcomeCache {
  private readonly outcomes = new Map<string, Promise<unknown>>();
  constructor(private readonly capacity = 10_000) {}

  /** Runs `task` unless `commandId` ran (or runs) already; returns that outcome. */
  once(commandId: string, task: () => Promise<unknown>): Promise<unknown> {
    const known = this.outcomes.get(commandId);
    if (known) return known;
    const outcome = task();
    this.outcomes.set(commandId, outcome);
    // Failed outcomes are remembered too: a redelivery must not run a half-failed start again.
    outcome.catch(() => undefined);
    if (this.outcomes.size > this.capacity) {
      const oldest = this.outcomes.keys().next().value;
      if (oldest !== undefined) this.outcomes.delete(oldest);
    }
    return outcome;
  }
}
