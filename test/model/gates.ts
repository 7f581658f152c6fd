/**
 * Operations the model test holds at the platform until a path lets them go:
 * launches of servers (`start`), graceful stops (`stop`, also the stop of
 * a removal) and each call to a running server's component API (`apply`). Shared by the gated memory driver and the control server that
 * the controlled launcher asks.
 */
export type GateKind = 'start' | 'stop' | 'apply';
export type Verdict = 'ok' | 'fail';

export interface Held {
  kind: GateKind;
  instanceId: string;
  release(verdict: Verdict): void;
}

export class Gates {
  private readonly held = new Set<Held>();
  private draining = false;

  /** Resolves with the verdict once the test lets the operation go. */
  hold(kind: GateKind, instanceId: string): Promise<Verdict> {
    if (this.draining) return Promise.resolve(kind === 'stop' ? 'ok' : 'fail');
    return new Promise((resolve) => {
      const entry: Held = {
        kind,
        instanceId,
        release: (verdict) => {
          if (!this.held.delete(entry)) return;
          resolve(verdict);
        },
      };
      this.held.add(entry);
    });
  }

  pending(instanceId: string, kind?: GateKind): Held[] {
    return [...this.held].filter((entry) => entry.instanceId === instanceId && (kind === undefined || entry.kind === kind));
  }

  /** From now on nothing is held: what is held and what comes later goes at once (at the end of a path, so the worker can close). */
  drain(): void {
    this.draining = true;
    this.releaseAll();
  }

  /** Lets everything go: starts and component calls fail, stops succeed. */
  releaseAll(): void {
    for (const entry of [...this.held]) entry.release(entry.kind === 'stop' ? 'ok' : 'fail');
  }
}
