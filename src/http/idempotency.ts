/**
 * `Idempotency-Key` on POST requests (IETF httpapi draft
 * "The Idempotency-Key HTTP Header Field"): a client that retries a request
 * with the same key gets the first answer (status, body, Location) instead of
 * a second create or start, with `Idempotent-Replayed: true`.
 *
 * - The key is scoped to the caller, the operation and the path: two callers
 *   (or two instances' starts) never share an answer. The caller is read from
 *   `ctx.state.principal` (a string, or an object with a string `id`) when an
 *   authentication middleware put one there; `scope` replaces that rule.
 * - The same key with another request (method, path, query and canonical JSON
 *   body differ) is 422; the first answer is kept.
 * - The same key while the first request is still running waits for it (at
 *   most `waitMs`, then 409 with Retry-After), so N racing retries all get
 *   the one answer.
 * - Answers that say "try again" (5xx, and retryable problems such as 409
 *   idempotency-key-in-flight) are not kept: the next retry runs again.
 */
import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Context, Middleware } from 'koa';
import { BadRequestError, DraasError, errorMessage } from '../errors.js';
import { MemoryIdempotencyStore, type IdempotencyStore, type StoredResponse } from '../store/idempotency-store.js';
import { sendProblem } from './problem.js';
import { requestSignal } from './request-signal.js';

export interface IdempotencyOptions {
  /** Where answers are kept (default: in this process's memory, 10,000 at most). Replicas must share one (Redis). */
  store?: IdempotencyStore;
  /** How long an answer is replayed (default 24 h). */
  ttlMs?: number;
  /** How long a claim of a key lasts while its request runs (default 5 min): a process that died mid-request frees the key then. */
  inFlightTtlMs?: number;
  /** How long a retry waits for the first request to finish before 409 (default 60 s). */
  waitMs?: number;
  /** Who the caller is, for the key's scope (default: `ctx.state.principal`, else everyone shares one scope). */
  scope?: (ctx: Context) => string;
}

/** The headers of an answer that belong to it and are replayed with it. */
const replayedHeaders = ['location', 'etag', 'content-type'] as const;

/**
 * The key: an RFC 8941 string (`"…"`) as the draft asks, or the same
 * characters unquoted as most clients send them; 1 to 255 visible ASCII characters.
 */
export function parseIdempotencyKey(header: string): string {
  const value = header.trim();
  const inner = value.length >= 2 && value.startsWith('"') && value.endsWith('"') ? value.slice(1, -1) : value;
  if (!/^[\x21\x23-\x5B\x5D-\x7E]{1,255}$/.test(inner)) {
    throw new BadRequestError('invalid Idempotency-Key: 1 to 255 visible ASCII characters without quotes or backslashes (e.g. a UUID), optionally in double quotes', {
      reason: 'bad-idempotency-key',
    });
  }
  return inner;
}

/** JSON with object keys sorted, so that key order does not make two bodies differ. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (typeof value === 'object' && value !== null) {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, member]) => member !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([name, member]) => `${JSON.stringify(name)}:${canonicalJson(member)}`).join(',')}}`;
  }
  return JSON.stringify(value ?? null);
}

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('base64url');
}

/** The default scope: the principal an authentication middleware put on `ctx.state`, if any. */
function principalOf(ctx: Context): string {
  const principal: unknown = (ctx.state as Record<string, unknown>)['principal'];
  if (typeof principal === 'string') return principal;
  if (typeof principal === 'object' && principal !== null && 'id' in principal && typeof principal.id === 'string') return principal.id;
  return '';
}

/** Whether an answer is kept for retries: not one that says "try again". */
function keeps(status: number): boolean {
  return status < 500 && status !== 408 && status !== 429;
}

/** Makes the middleware of each POST operation; they share one store. */
export function idempotency(options: IdempotencyOptions = {}): (operation: string) => Middleware {
  const store = options.store ?? new MemoryIdempotencyStore();
  const ttlMs = options.ttlMs ?? 24 * 3_600_000;
  const inFlightTtlMs = options.inFlightTtlMs ?? 5 * 60_000;
  const waitMs = options.waitMs ?? 60_000;
  const scope = options.scope ?? principalOf;

  return (operation) =>
    async function idempotent(ctx: Context, next: () => Promise<unknown>): Promise<void> {
      const header = ctx.get('Idempotency-Key');
      if (header === '') {
        await next();
        return;
      }
      const key = sha256([scope(ctx), operation, ctx.path, parseIdempotencyKey(header)].join('\0'));
      const fingerprint = sha256([ctx.method, ctx.path, ctx.querystring, canonicalJson(ctx.request.body)].join('\n'));
      const deadline = performance.now() + waitMs;
      let gone: AbortSignal | undefined;
      for (let delay = 10; ; delay = Math.min(delay * 2, 250)) {
        const claim = await store.claim(key, fingerprint, inFlightTtlMs);
        if (claim.state !== 'claimed' && claim.fingerprint !== fingerprint) {
          throw new DraasError('idempotency-key-reused', 'this Idempotency-Key was used for another request here (its body or query differ); use a new key for a new request', {
            reason: 'idempotency-key-reused',
          });
        }
        if (claim.state === 'done') return replay(ctx, claim.response);
        if (claim.state === 'claimed') return run(ctx, next, { key, token: claim.token, fingerprint });
        gone ??= requestSignal(ctx);
        if (gone.aborted || performance.now() + delay > deadline) {
          throw new DraasError('idempotency-key-in-flight', `a request with this Idempotency-Key is still running after ${waitMs} ms; retry later`, { retryAfterSeconds: 1 });
        }
        // The client that went away stops waiting (the first request still runs and keeps its answer).
        await sleep(delay, undefined, { signal: gone }).catch(() => undefined);
      }
    };

  async function run(ctx: Context, next: () => Promise<unknown>, { key, token, fingerprint }: { key: string; token: string; fingerprint: string }): Promise<void> {
    try {
      await next();
    } catch (error) {
      // A refusal that will not change (400, 404, 409 of the state, 422) is an answer like any other; the rest run again.
      if (error instanceof DraasError && !error.retryable && error.status < 500) {
        sendProblem(ctx, error.code, error.status, error.message, error.details);
      } else {
        await store.release(key, token).catch(() => undefined);
        throw error;
      }
    }
    if (!keeps(ctx.status)) {
      await store.release(key, token).catch(() => undefined);
      return;
    }
    const headers: Record<string, string> = {};
    for (const name of replayedHeaders) {
      const value: unknown = ctx.response.get(name);
      if (typeof value === 'string' && value !== '') headers[name] = value;
    }
    const response: StoredResponse = { status: ctx.status, headers, body: ctx.body === undefined || ctx.body === null ? null : (JSON.parse(JSON.stringify(ctx.body)) as unknown) };
    // The work is done: an answer not stored costs a retry only a 409 until the claim lapses, so it does not fail this request.
    await store.complete(key, token, fingerprint, response, ttlMs).catch((error: unknown) => {
      ctx.app.emit('error', new Error(`idempotency: the answer of ${ctx.method} ${ctx.path} was not stored: ${errorMessage(error)}`));
    });
  }
}

/** The first answer again, marked as a replay. */
function replay(ctx: Context, response: StoredResponse): void {
  ctx.status = response.status;
  if (response.body !== null) ctx.body = response.body;
  for (const [name, value] of Object.entries(response.headers)) ctx.set(name, value);
  ctx.set('Idempotent-Replayed', 'true');
}
