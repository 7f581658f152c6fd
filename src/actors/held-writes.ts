/**
 * Writes a replica still owes the store after it lost an instance's lease.
 *
 * A replica whose lease lapsed (Redis unreachable past the lease's validity)
 * stops acting for the instance at once, but what it changed before — status
 * changes and snapshots not written yet, some of them answered 2xx — is
 * kept, not thrown away. Such state, made under lease token T, may still land:
 *
 * - with T itself, while Redis still has T as the lease's token (nobody took
 *   over): the store's fence check, atomic with the write, decides;
 * - with the token this replica holds now, when every token after T up to
 *   it was this replica's own (`OwnTokens`): tokens come from one counter
 *   per lease, so no other replica held the lease in between, and nothing of
 *   theirs is overwritten.
 *
 * Once another replica has held the lease since T, the writes are
 * superseded: that replica rehydrated from the store without them and acts
 * on its own state.
 */
import type { WriteFence, WriteOptions } from '../store/instance-store.js';
import type { Ownership } from './ownership.js';

export type HeldWrite = { options: WriteOptions } | { superseded: true };

/**
 * The lease tokens this replica has held, per lease. A re-gain after an
 * outage can take several tokens in a row (a gain whose load fails hands
 * the shard back and takes it again); all of them are this replica's.
 */
export class OwnTokens {
  private readonly tokens = new Map<string, Set<number>>();

  note(fence: WriteFence | undefined): void {
    if (!fence || fence.token <= 0) return;
    const held = this.tokens.get(fence.lease) ?? new Set<number>();
    held.add(fence.token);
    this.tokens.set(fence.lease, held);
  }

  /** Whether every token after `from` up to `to` was this replica's. */
  continuous(lease: string, from: number, to: number): boolean {
    const held = this.tokens.get(lease);
    for (let token = from + 1; token <= to; token++) if (!held?.has(token)) return false;
    return true;
  }
}

/** The options a write of state made under `madeUnder` carries now (`now`: the fence held now), or that it never may land. */
export function fenceForHeldWrite(madeUnder: WriteFence | undefined, now: WriteFence | undefined, own: OwnTokens): HeldWrite {
  if (madeUnder === undefined) return { options: now ? { fence: now } : {} };
  if (now === undefined || now.lease !== madeUnder.lease) return { options: { fence: madeUnder } };
  if (now.token >= madeUnder.token && own.continuous(now.lease, madeUnder.token, now.token)) return { options: { fence: now } };
  // 0: this replica holds no lease for the instance now; the store tells whether T is still the lease's.
  if (now.token === 0) return { options: { fence: madeUnder } };
  return { superseded: true };
}

/** After the store refused a held write as stale: whether another replica owns the instance now (then the write never lands). */
export async function takenOver(ownership: Ownership, instanceId: string): Promise<boolean> {
  try {
    const { owner } = await ownership.locate(instanceId);
    return owner !== undefined && owner !== ownership.replicaId;
  } catch {
    return false; // cannot tell (Redis unreachable): keep the write and ask again later
  }
}
