// @ts-check
/**
 * The console's calls to the REST API. Paths are resolved against the
 * page's `<base href>` (`…/ui/`), so the console works wherever the app is
 * mounted. A refusal (any status but 2xx) becomes an `ApiError` that
 * carries the problem+json document the API answered with. Every call
 * carries the tab's token (auth.js); a 401 asks for one.
 */
import { askForToken, authorizedFetch } from './auth.js';

/**
 * @typedef {'Pending' | 'Starting' | 'Running' | 'Reconfiguring' | 'Stopping' | 'Stopped' | 'Failed' | 'Deleting' | 'Deleted'} InstanceStatus
 * @typedef {{ reason: string, message: string, at: string, exitCode?: number | null, signal?: string | null, lastLogLines?: string[], details?: Record<string, unknown> }} Failure
 * @typedef {{ at: string, from: InstanceStatus | null, to: InstanceStatus, cause: string, reason?: string }} HistoryEntry
 * @typedef {{ type: string, status: 'True' | 'False' | 'Unknown', reason: string, message: string, since?: string }} InstanceCondition
 * @typedef {{
 *   id: string, name: string, description: string, platformType: string, status: InstanceStatus,
 *   desiredState: string, observedState: string, generation: number, observedGeneration: number | null,
 *   serverConfiguration: Record<string, unknown>, platformOptions: Record<string, unknown>,
 *   runtime: { workloadId: string, port: number, url: string, startedAt: string, generation: number } | null,
 *   workerId: string | null, conditions: InstanceCondition[], failure: Failure | null, nextRetryAt: string | null,
 *   restartCount: number, lastTransition: HistoryEntry | null, createdAt: string, updatedAt: string
 * }} InstanceView
 * @typedef {{
 *   sequence: number, instanceId: string, from: InstanceStatus | null, to: InstanceStatus, cause: string, reason?: string,
 *   desired: string, observed: string, generation: number, observedGeneration?: number | null, at: string
 * }} StatusChange
 * @typedef {{
 *   sequence: number, instanceId: string, at: string, from: InstanceStatus | null, to: InstanceStatus, cause: string,
 *   reason?: string, desiredState: string, observedState: string, generation: number, observedGeneration: number | null
 * }} StatusChangedEvent
 * @typedef {{ type: string, title: string, status: number, detail: string, instance?: string, [member: string]: unknown }} Problem
 */

/** Every status, in the order the lifecycle usually runs through them. */
export const statuses = /** @type {const} */ (['Pending', 'Starting', 'Running', 'Reconfiguring', 'Stopping', 'Stopped', 'Failed', 'Deleting', 'Deleted']);

/** An answer other than 2xx, with the problem+json document that explains it. */
export class ApiError extends Error {
  /**
   * @param {number} status
   * @param {Problem} problem
   */
  constructor(status, problem) {
    super(`${status} ${problem.title}: ${problem.detail}`);
    this.name = 'ApiError';
    this.status = status;
    this.problem = problem;
  }
}

/**
 * The URL of an API path (no leading slash: `api/server/instances`).
 * @param {string} path
 */
export function apiUrl(path) {
  return new URL(`../${path}`, document.baseURI).toString();
}

/**
 * The problem document of a refusal; one is made up when the answer is not problem+json (a proxy's error page).
 * @param {Response} response
 * @param {unknown} body
 * @returns {Problem}
 */
function problemOf(response, body) {
  if (typeof body === 'object' && body !== null && 'title' in body && 'detail' in body) {
    return /** @type {Problem} */ (body);
  }
  return {
    type: 'about:blank',
    title: response.statusText || `HTTP ${response.status}`,
    status: response.status,
    detail: typeof body === 'string' && body !== '' ? body.slice(0, 500) : `the API answered ${response.status}`,
  };
}

/**
 * Calls the API and returns the parsed JSON answer (undefined for 204).
 * @param {string} method
 * @param {string} path
 * @param {unknown} [body]
 * @param {AbortSignal} [signal]
 * @returns {Promise<any>}
 */
export async function call(method, path, body, signal) {
  /** @type {Record<string, string>} */
  const headers = { accept: 'application/json, application/problem+json' };
  /** @type {RequestInit} */
  const init = { method, headers };
  if (body !== undefined) {
    headers['content-type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  if (signal) init.signal = signal;
  let response;
  try {
    response = await authorizedFetch(apiUrl(path), init);
  } catch (error) {
    if (signal?.aborted) throw error;
    throw new ApiError(0, {
      type: 'about:blank',
      title: 'The control plane did not answer',
      status: 0,
      detail: error instanceof Error ? error.message : String(error),
    });
  }
  const text = await response.text();
  let parsed;
  try {
    parsed = text === '' ? undefined : JSON.parse(text);
  } catch {
    parsed = text;
  }
  if (!response.ok) {
    const problem = problemOf(response, parsed);
    if (response.status === 401) askForToken(problem.detail);
    throw new ApiError(response.status, problem);
  }
  return parsed;
}

/**
 * Every instance.
 * @param {AbortSignal} [signal]
 * @returns {Promise<InstanceView[]>}
 */
export function listInstances(signal) {
  return call('GET', 'api/server/instances', undefined, signal);
}

/**
 * One instance.
 * @param {string} name
 * @param {AbortSignal} [signal]
 * @returns {Promise<InstanceView>}
 */
export function getInstance(name, signal) {
  return call('GET', `api/server/instances/${encodeURIComponent(name)}`, undefined, signal);
}
