import type { ComponentCall, ComponentKind, ObservedComponent, ObservedComponents } from '../drasi/component-plan.js';
import { isPlainObject } from '../drasi/plain-object.js';
import { directServerHttp, type ServerHttp, type TimedFetchOptions } from './timed-fetch.js';

/**
 * The I/O edge of hot config changes and drift checks: runs the calls that
 * `planConfigChange` / `compareWithServer` planned against a running Drasi
 * Server's component API, and reads what the server reports
 * (`../shared/drasi-server-contract.md`, "HTTP API of a running server").
 * Decisions stay in `../drasi/component-plan.ts`; this module only talks HTTP.
 *
 * Request bodies may hold secrets (passwords in source configs), so no
 * message built here ever quotes one.
 */

/** `timeoutMs` is the longest a single request (headers and body) may take; the signal stops at once (the call in flight fails as aborted). */
export type ComponentRequestOptions = TimedFetchOptions;

export interface FailedComponentCall {
  call: ComponentCall;
  /** The HTTP status; null when no complete answer came (refused, reset, timeout, aborted). */
  status: number | null;
  /** The server's error code (`INTERNAL_ERROR`, `CONFIG_READ_ONLY`, ...), when it sent one. */
  code: string | null;
  /** Names the call, e.g. `POST /api/v1/queries (query "hot"): 500 INTERNAL_ERROR Internal server error`. */
  message: string;
  /** Only connection-level problems: the server answered nothing, so the same call may succeed later. */
  retryable: boolean;
  /** 409 CONFIG_READ_ONLY: the server cannot persist changes; a restart with a rendered file is needed instead. */
  readOnlyConfig: boolean;
}

export type ApplyComponentCallsResult =
  | { ok: true; applied: ComponentCall[] }
  | { ok: false; applied: ComponentCall[]; failed: FailedComponentCall };

/** A read of the component API failed. Kept out of `../errors.ts`: its code is the Drasi Server's, not one of the DRaaS table. */
export class ComponentApiError extends Error {
  readonly method: string;
  readonly path: string;
  /** HTTP status; null when no complete answer came. */
  readonly status: number | null;
  /** The server's error code, when it sent one. */
  readonly code: string | null;
  readonly retryable: boolean;

  constructor(message: string, details: { method: string; path: string; status: number | null; code: string | null; retryable: boolean }, options?: ErrorOptions) {
    super(message, options);
    this.name = 'ComponentApiError';
    this.method = details.method;
    this.path = details.path;
    this.status = details.status;
    this.code = details.code;
    this.retryable = details.retryable;
  }
}

const LIST_KEY: Record<ComponentKind, 'sources' | 'queries' | 'reactions'> = { source: 'sources', query: 'queries', reaction: 'reactions' };
const KINDS: readonly ComponentKind[] = ['source', 'query', 'reaction'];
/** Full reads in flight at once: enough to hide latency, few enough not to crowd a busy server. */
const FULL_READ_CONCURRENCY = 4;

// ---------------------------------------------------------------- one exchange

type Exchange =
  | { answered: true; status: number; body: unknown; parsed: boolean }
  | { answered: false; reason: 'timeout' | 'aborted' | 'connection'; detail: string };

/**
 * One request with its own time limit covering headers and body. Never
 * throws: a missing answer is an outcome. `body` is JSON text already.
 */
async function exchange(server: ServerHttp, path: string, method: string, body: string | undefined, options: ComponentRequestOptions): Promise<Exchange> {
  const outcome = await server({ method, path, ...(body !== undefined ? { body } : {}) }, options);
  if (!outcome.answered) {
    return { ...outcome, detail: outcome.reason === 'connection' ? `connection failed (${outcome.detail})` : outcome.detail };
  }
  try {
    return { answered: true, status: outcome.status, body: JSON.parse(outcome.value), parsed: true };
  } catch {
    // Not JSON: judged by the caller from `parsed: false`.
    return { answered: true, status: outcome.status, body: undefined, parsed: false };
  }
}

/** The server to talk to: a base URL reached directly, or an exchange function (see `ServerHttp`). */
export type ServerTarget = string | ServerHttp;

function serverOf(target: ServerTarget): ServerHttp {
  return typeof target === 'string' ? directServerHttp(target) : target;
}

function isSuccessEnvelope(body: unknown): body is { success: true; data: unknown; error: null } {
  return isPlainObject(body) && body['success'] === true && body['error'] === null && Object.hasOwn(body, 'data');
}

interface Judged {
  ok: boolean;
  data?: unknown;
  status: number | null;
  code: string | null;
  /** Why it failed, without the call's name. */
  reason: string;
  retryable: boolean;
}

/** What an exchange means under the contract: a 200 success envelope, or a failure with the server's code and message. */
function judge(result: Exchange): Judged {
  // No answer says nothing against the call itself; an abort too is the caller's choice, not the call's fault.
  if (!result.answered) return { ok: false, status: null, code: null, reason: result.detail, retryable: true };
  const { status, body } = result;
  if (status === 200) {
    if (isSuccessEnvelope(body)) return { ok: true, data: body.data, status, code: null, reason: 'ok', retryable: false };
    const said = isPlainObject(body) && typeof body['error'] === 'string' ? `: ${body['error']}` : '';
    return { ok: false, status, code: null, reason: `200 but the body is not a success envelope {success: true, data, error: null}${said}`, retryable: false };
  }
  const code = isPlainObject(body) && typeof body['code'] === 'string' ? body['code'] : null;
  const message = isPlainObject(body) && typeof body['message'] === 'string' ? body['message'] : null;
  const reason = code !== null || message !== null ? [String(status), code, message].filter((part) => part !== null).join(' ') : `${status} without an error body {code, message}`;
  return { ok: false, status, code, reason, retryable: false };
}


// ---------------------------------------------------------------- apply

/**
 * Runs `calls` in order against the server (a base URL such as
 * `http://127.0.0.1:8080`, or a `ServerHttp`; the calls' paths start with `/api/v1`), each with
 * its own time limit, and stops at the first failure: the plan's order is what
 * makes the later calls valid, so they are not attempted after one fails.
 */
export async function applyComponentCalls(target: ServerTarget, calls: readonly ComponentCall[], options: ComponentRequestOptions): Promise<ApplyComponentCallsResult> {
  const server = serverOf(target);
  const applied: ComponentCall[] = [];
  for (const call of calls) {
    const body = call.body === undefined ? undefined : JSON.stringify(call.body);
    const judged = judge(await exchange(server, call.path, call.method, body, options));
    if (!judged.ok) {
      const readOnlyConfig = judged.status === 409 && judged.code === 'CONFIG_READ_ONLY';
      return {
        ok: false,
        applied,
        failed: { call, status: judged.status, code: judged.code, message: `${nameCall(call)}: ${judged.reason}`, retryable: judged.retryable, readOnlyConfig },
      };
    }
    applied.push(call);
  }
  return { ok: true, applied };
}

/** `POST /api/v1/queries (query "hot")`: method, path and component, never the body. */
export function nameCall(call: ComponentCall): string {
  return `${call.method} ${call.path} (${call.component.kind} ${JSON.stringify(call.component.id)})`;
}

// ---------------------------------------------------------------- read

export interface ReadObservedOptions extends ComponentRequestOptions {
  /** Also read each component's `?view=full` to fill `config`. */
  full?: boolean;
  /** Prefix of the component routes; `/api/v1` unless given (as `PlanOptions.apiBase`). */
  apiBase?: string;
}

/**
 * What the server reports about its components. Throws `ComponentApiError`
 * when a list cannot be read; a component gone between its list and its full
 * read (404) is kept without `config`, since that is a normal race.
 */
export async function readObservedComponents(target: ServerTarget, options: ReadObservedOptions): Promise<ObservedComponents> {
  const server = serverOf(target);
  const apiBase = options.apiBase ?? '/api/v1';
  const lists = {} as Record<ComponentKind, ObservedComponent[]>;
  for (const kind of KINDS) {
    const path = `${apiBase}/${LIST_KEY[kind]}`;
    const data = await read(server, path, options);
    lists[kind] = parseList(data, path);
  }
  if (options.full === true) {
    const jobs = KINDS.flatMap((kind) => lists[kind].map((entry, index) => ({ kind, entry, index })));
    let next = 0;
    let failed = false;
    const worker = async (): Promise<void> => {
      while (next < jobs.length && !failed) {
        const job = jobs[next++]!;
        const path = `${apiBase}/${LIST_KEY[job.kind]}/${encodeURIComponent(job.entry.id)}?view=full`;
        try {
          const data = await read(server, path, options, true);
          if (data === undefined) continue;
          const [one] = parseList([data], path);
          // The full read is newer than the list: its status goes with its config.
          if (one?.id === job.entry.id && one.config !== undefined) lists[job.kind][job.index] = one;
        } catch (error) {
          failed = true; // the others stop too: one error is the answer
          throw error;
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(FULL_READ_CONCURRENCY, jobs.length) }, worker));
  }
  return { sources: lists.source, queries: lists.query, reactions: lists.reaction };
}

/** One GET, unwrapped; `undefined` for a 404 when `missingIsEmpty`. */
async function read(server: ServerHttp, path: string, options: ComponentRequestOptions, missingIsEmpty = false): Promise<unknown> {
  const judged = judge(await exchange(server, path, 'GET', undefined, options));
  if (judged.ok) return judged.data;
  if (missingIsEmpty && judged.status === 404) return undefined;
  throw new ComponentApiError(`GET ${path}: ${judged.reason}`, { method: 'GET', path, status: judged.status, code: judged.code, retryable: judged.retryable });
}

/** Entries of a list answer; anything else is the server breaking the contract. */
function parseList(data: unknown, path: string): ObservedComponent[] {
  const broken = (why: string): ComponentApiError =>
    new ComponentApiError(`GET ${path}: ${why}`, { method: 'GET', path, status: 200, code: null, retryable: false });
  if (!Array.isArray(data)) throw broken('data is not a list of components');
  return data.map((item: unknown, index) => {
    if (!isPlainObject(item) || typeof item['id'] !== 'string' || typeof item['status'] !== 'string') throw broken(`entry ${index} has no string id and status`);
    const entry: ObservedComponent = { id: item['id'], status: item['status'] };
    if (typeof item['error_message'] === 'string') entry.error_message = item['error_message'];
    if (isPlainObject(item['config'])) entry.config = item['config'];
    return entry;
  });
}
