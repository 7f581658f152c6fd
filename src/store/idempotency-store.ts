/**
 * Where the answers of requests sent with an `Idempotency-Key` are kept, so
 * that a retry gets the first answer instead of doing the work again (see
 * `src/http/idempotency.ts`). One interface; in memory for one process
 * (embedded), in Redis for replicas that share a fleet (a retry may reach
 * another replica: `redis-idempotency-store.ts`).
 *
 * A key is first claimed (an in-flight marker with its own, shorter TTL, so a
 * process that dies mid-request does not block the key for good), then either
 * completed with the answer or released (an answer that says "try again" is
 * not kept). Deliberately left out: listing keys, and any notion of who the
 * caller is (the scope is part of the key the HTTP layer builds).
 */

/** The answer replayed to a retry. */
export interface StoredResponse {
  status: number;
  /** The headers that belong to the answer (Location, ETag, Content-Type). */
  headers: Record<string, string>;
  /** The JSON body, or null for none. */
  body: unknown;
}

/** What `claim` found: the key is now ours, or a request with it is in flight, or it was answered. */
export type ClaimResult =
  | { state: 'claimed'; token: string }
  | { state: 'in-flight'; fingerprint: string }
  | { state: 'done'; fingerprint: string; response: StoredResponse };

export interface IdempotencyStore {
  /** Claims `key` for a request with `fingerprint` unless it is in flight or answered. The claim lapses after `inFlightTtlMs`. */
  claim(key: string, fingerprint: string, inFlightTtlMs: number): Promise<ClaimResult>;
  /** Stores the answer of the claim `token` for `ttlMs`. Does nothing when the claim lapsed and another took the key. */
  complete(key: string, token: string, fingerprint: string, response: StoredResponse, ttlMs: number): Promise<void>;
  /** Gives the key up (the answer is not kept): the next request with it runs. Only while `token` holds it. */
  release(key: string, token: string): Promise<void>;
  close(): Promise<void>;
}

interface Entry {
  expiresAt: number;
  token: string;
  fingerprint: string;
  response?: StoredResponse;
}

/**
 * In one process: a map with expiry, bounded to `maxEntries` (the oldest
 * answers are dropped first: a retry after that runs again, as after the TTL).
 */
export class MemoryIdempotencyStore implements IdempotencyStore {
  private readonly entries = new Map<string, Entry>();
  private sequence = 0;

  constructor(
    private readonly maxEntries = 10_000,
    private readonly now: () => number = Date.now,
  ) {}

  async claim(key: string, fingerprint: string, inFlightTtlMs: number): Promise<ClaimResult> {
    const entry = this.live(key);
    if (entry?.response) return { state: 'done', fingerprint: entry.fingerprint, response: entry.response };
    if (entry) return { state: 'in-flight', fingerprint: entry.fingerprint };
    const token = String(++this.sequence);
    this.put(key, { expiresAt: this.now() + inFlightTtlMs, token, fingerprint });
    return { state: 'claimed', token };
  }

  async complete(key: string, token: string, fingerprint: string, response: StoredResponse, ttlMs: number): Promise<void> {
    if (this.live(key)?.token !== token) return;
    this.put(key, { expiresAt: this.now() + ttlMs, token, fingerprint, response: structuredClone(response) });
  }

  async release(key: string, token: string): Promise<void> {
    if (this.live(key)?.token === token) this.entries.delete(key);
  }

  async close(): Promise<void> {
    this.entries.clear();
  }

  private live(key: string): Entry | undefined {
    const entry = this.entries.get(key);
    if (entry && entry.expiresAt <= this.now()) {
      this.entries.delete(key);
      return undefined;
    }
    return entry;
  }

  /** Re-inserted last (a Map keeps insertion order), then the oldest beyond the bound are dropped. */
  private put(key: string, entry: Entry): void {
    this.entries.delete(key);
    this.entries.set(key, entry);
    for (const oldest of this.entries.keys()) {
      if (this.entries.size <= this.maxEntries) break;
      this.entries.delete(oldest);
    }
  }
}
