/**
 * Remembers the outcome of recent commands by `commandId`, so that a command
 * delivered twice is executed once and both deliveries get the first outcome.
 * Bounded: the oldest entries are forgotten first.
 *
 * A success or a `DraasError` (the driver's considered answer, e.g. "start
 * failed: exited with code 1") is remembered. Any other error is a crash of
 * the handler: it is forgotten, so that a redelivery really runs again (the
 * Redis transport redelivers crashed commands until it dead-letters them).
 */
import { isDraasError } from '../errors.js';

export class OutcomeCache {
  private readonly outcomes = new Map<string, Promise<unknown>>();
  constructor(private readonly capacity = 10_000) {}

  /** Runs `task` unless `commandId` ran (or runs) already; returns that outcome. */
  once(commandId: string, task: () => Promise<unknown>): Promise<unknown> {
    const known = this.outcomes.get(commandId);
    if (known) return known;
    const outcome = task();
    this.outcomes.set(commandId, outcome);
    outcome.catch((error: unknown) => {
      if (!isDraasError(error) && this.outcomes.get(commandId) === outcome) this.outcomes.delete(commandId);
    });
    if (this.outcomes.size > this.capacity) {
      const oldest = this.outcomes.keys().next().value;
      if (oldest !== undefined) this.outcomes.delete(oldest);
    }
    return outcome;
  }
}
