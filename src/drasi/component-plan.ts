import { cloneTree } from './clone-tree.js';
import { containsEnvRef } from './env-ref.js';
import { jsonEqual } from './json-equal.js';
import { isPlainObject } from './plain-object.js';

/**
 * How a config change, or drift found on a running Drasi Server, becomes
 * calls to that server's component API (`../shared/drasi-server-contract.md`,
 * "HTTP API of a running server"). Pure: no I/O, no clock.
 *
 * Order of the calls, and why:
 * 1. DELETE reactions, then queries, then sources. The server refuses to
 *    delete a component that others still depend on (500 "Depended on by"),
 *    and dependencies run source → query → reaction.
 * 2. PUT changed sources; POST new sources. An upsert keeps the source's
 *    dependents, so its queries stay.
 * 3. POST new queries and queries whose config changed. There is no PUT for
 *    queries: a changed query is deleted in step 1 and created here, and every
 *    reaction that reads it is deleted before it (step 1) and created after
 *    it (step 4), because the delete fails while a reaction reads it.
 * 4. PUT changed reactions, POST new and re-created reactions: the queries
 *    they read exist by now.
 * Start and stop calls follow the creates of their kind.
 *
 * Rules where the contract is silent:
 * - `autoStart` is compared by its effective value (source and reaction
 *   default true, query default false), so writing out a default is no
 *   change. A change of `autoStart` alone is a start or stop call, not a
 *   re-create: `autoStart: false` on a running component means stop, so the
 *   server ends in the state a restart with the new config would give.
 *   (The server's in-memory copy keeps the old flag; drift checks therefore
 *   judge `autoStart` by status, not by the reported config.)
 * - Every top-level key other than `sources`, `queries`, `reactions` is a
 *   server-level field (no list to keep in step with the schema): any
 *   difference there needs a restart.
 * - Drift: a component in `Error` is re-applied from the desired config the
 *   way a changed one is (PUT for sources and reactions, delete and create
 *   for queries), which also clears config drift the list cannot show.
 *   Components in motion (`Stopping`, `Added`, `Removed`, unknown statuses)
 *   are judged at the next round, not repaired now.
 */

export type ComponentKind = 'source' | 'query' | 'reaction';

export interface ComponentRef {
  kind: ComponentKind;
  id: string;
}

/** One request to a running server's component API, in the order given. */
export interface ComponentCall {
  method: 'POST' | 'PUT' | 'DELETE';
  /** E.g. `/api/v1/queries`, `/api/v1/queries/hot`, `/api/v1/queries/hot/start`; ids are URI-escaped. */
  path: string;
  /** The component's config for POST and PUT; absent otherwise. */
  body?: unknown;
  component: ComponentRef;
  /** Why this call is made, for history entries and logs. */
  why: string;
}

export type ConfigChangePlan =
  | { kind: 'none' }
  | { kind: 'restart'; reasons: string[] }
  | { kind: 'hot'; calls: ComponentCall[]; summary: string[] };

/** A full config document as DRaaS renders it for a server (`buildServerConfig`'s output, or a `DrasiServerConfig`). */
export type ServerConfigDocument = Readonly<Record<string, unknown>>;

export interface PlanOptions {
  /** Prefix of the component routes; `/api/v1` (the server's default instance) unless given. */
  apiBase?: string;
}

/** Status values a server reports for a component (PascalCase, per the contract). */
export type ComponentStatus = 'Starting' | 'Running' | 'Stopping' | 'Stopped' | 'Error' | 'Reconfiguring' | 'Added' | 'Removed';

/** One entry of `GET /api/v1/{sources|queries|reactions}`, with `config` from `?view=full` when fetched. */
export interface ObservedComponent {
  id: string;
  /** A `ComponentStatus`; other strings are treated as "in motion". */
  status: string;
  /** Spelt as on the wire; present when status is `Error`. */
  error_message?: string;
  config?: Record<string, unknown>;
}

/** What a running server reports about its components. */
export interface ObservedComponents {
  sources: readonly ObservedComponent[];
  queries: readonly ObservedComponent[];
  reactions: readonly ObservedComponent[];
}

export type Difference =
  | { type: 'missing'; component: ComponentRef; message: string }
  | { type: 'extra'; component: ComponentRef; status: string; message: string }
  | { type: 'state'; component: ComponentRef; status: string; expected: 'running' | 'stopped'; message: string }
  | { type: 'error'; component: ComponentRef; status: string; error: string; message: string }
  | { type: 'config'; component: ComponentRef; keys: string[]; desired: unknown; observed: unknown; message: string };

export interface DriftReport {
  drifted: boolean;
  differences: Difference[];
  repair: ComponentCall[];
}

// ---------------------------------------------------------------- shared model

const KINDS: readonly ComponentKind[] = ['source', 'query', 'reaction'];
const LIST_KEY: Record<ComponentKind, 'sources' | 'queries' | 'reactions'> = { source: 'sources', query: 'queries', reaction: 'reactions' };
const COMPONENT_KEYS: ReadonlySet<string> = new Set(Object.values(LIST_KEY));
const AUTO_START_DEFAULT: Record<ComponentKind, boolean> = { source: true, query: false, reaction: true };

type Config = Record<string, unknown>;
type ById = Map<string, Config>;
type Components = Record<ComponentKind, ById>;

/** What to do with a component present on both sides. */
type Action = 'keep' | 'update' | 'start' | 'stop';

interface Current {
  /** Best knowledge of the running config; its dependencies decide what must go first. */
  config: Config;
}

interface PlanInput {
  current: Record<ComponentKind, Map<string, Current>>;
  target: Components;
  /** For ids on both sides; absent means keep. */
  actions: Record<ComponentKind, Map<string, { action: Action; why: string }>>;
}

/** The components of a document by kind and id (the last of a duplicated id wins; validation refuses duplicates). */
function componentsOf(document: ServerConfigDocument): Components {
  const result: Components = { source: new Map(), query: new Map(), reaction: new Map() };
  for (const kind of KINDS) {
    const list = document[LIST_KEY[kind]];
    if (!Array.isArray(list)) continue;
    for (const item of list) {
      if (isPlainObject(item) && typeof item['id'] === 'string') result[kind].set(item['id'], item);
    }
  }
  return result;
}

/** `true`/`false` when known; `undefined` for a `${VAR}` reference, known only to the server. */
export function effectiveAutoStart(kind: ComponentKind, config: Config): boolean | undefined {
  const value = config['autoStart'];
  if (value === undefined) return AUTO_START_DEFAULT[kind];
  return typeof value === 'boolean' ? value : undefined;
}

/** Ids a component reads: a query's sources, a reaction's queries. */
function dependenciesOf(kind: ComponentKind, config: Config): string[] {
  if (kind === 'query') {
    const sources = config['sources'];
    if (!Array.isArray(sources)) return [];
    return sources.flatMap((entry: unknown) => (isPlainObject(entry) && typeof entry['sourceId'] === 'string' ? [entry['sourceId']] : []));
  }
  if (kind === 'reaction') {
    const queries = config['queries'];
    return Array.isArray(queries) ? queries.filter((id: unknown): id is string => typeof id === 'string') : [];
  }
  return [];
}

function label(kind: ComponentKind, id: string): string {
  return `${kind} ${JSON.stringify(id)}`;
}

const sortedIds = (ids: Iterable<string>): string[] => [...ids].sort();

/**
 * The calls that turn `current` into `target`, in an order the server
 * accepts (see the module comment). Shared by config changes and drift repair.
 */
function buildCalls(input: PlanInput, options: PlanOptions): { calls: ComponentCall[]; summary: string[] } {
  const base = options.apiBase ?? '/api/v1';
  const { current, target, actions } = input;
  const collection = (kind: ComponentKind): string => `${base}/${LIST_KEY[kind]}`;
  const item = (kind: ComponentKind, id: string): string => `${collection(kind)}/${encodeURIComponent(id)}`;
  const actionOf = (kind: ComponentKind, id: string): Action => actions[kind].get(id)?.action ?? 'keep';
  const whyOf = (kind: ComponentKind, id: string): string => actions[kind].get(id)?.why ?? 'changed';

  const removed = (kind: ComponentKind): string[] => sortedIds([...current[kind].keys()].filter((id) => !target[kind].has(id)));
  const added = (kind: ComponentKind): string[] => sortedIds([...target[kind].keys()].filter((id) => !current[kind].has(id)));
  const common = (kind: ComponentKind): string[] => sortedIds([...current[kind].keys()].filter((id) => target[kind].has(id)));

  // What must go in step 1, closed over dependencies: a query reading a source
  // that goes must go too (re-created), and so must a reaction reading a query that goes.
  const sourcesGoing = new Set(removed('source'));
  const queriesRecreated = new Map<string, string>();
  for (const id of common('query')) {
    if (actionOf('query', id) === 'update') queriesRecreated.set(id, whyOf('query', id));
    else {
      const gone = dependenciesOf('query', current.query.get(id)?.config ?? {}).find((source) => sourcesGoing.has(source));
      if (gone !== undefined) queriesRecreated.set(id, `source ${JSON.stringify(gone)} it reads is deleted`);
    }
  }
  const queriesGoing = new Set([...removed('query'), ...queriesRecreated.keys()]);
  const reactionsRecreated = new Map<string, string>();
  for (const id of common('reaction')) {
    const gone = dependenciesOf('reaction', current.reaction.get(id)?.config ?? {}).find((query) => queriesGoing.has(query));
    if (gone !== undefined) {
      const how = queriesRecreated.has(gone) ? 're-created' : 'deleted';
      reactionsRecreated.set(id, `it reads query ${JSON.stringify(gone)}, which is ${how}`);
    }
  }

  const calls: ComponentCall[] = [];
  const summary: string[] = [];
  const push = (call: ComponentCall): void => void calls.push(call);
  const body = (kind: ComponentKind, id: string): unknown => cloneTree(target[kind].get(id));

  // Step 1: deletes, dependents first.
  for (const id of removed('reaction')) {
    push({ method: 'DELETE', path: item('reaction', id), component: { kind: 'reaction', id }, why: 'not in the configuration' });
    summary.push(`remove ${label('reaction', id)}`);
  }
  for (const id of sortedIds(reactionsRecreated.keys())) {
    push({ method: 'DELETE', path: item('reaction', id), component: { kind: 'reaction', id }, why: `deleted to be created again: ${reactionsRecreated.get(id) ?? ''}` });
  }
  for (const id of removed('query')) {
    push({ method: 'DELETE', path: item('query', id), component: { kind: 'query', id }, why: 'not in the configuration' });
    summary.push(`remove ${label('query', id)}`);
  }
  for (const id of sortedIds(queriesRecreated.keys())) {
    push({ method: 'DELETE', path: item('query', id), component: { kind: 'query', id }, why: `deleted to be created again (there is no PUT for queries): ${queriesRecreated.get(id) ?? ''}` });
  }
  for (const id of removed('source')) {
    push({ method: 'DELETE', path: item('source', id), component: { kind: 'source', id }, why: 'not in the configuration' });
    summary.push(`remove ${label('source', id)}`);
  }

  const startStop = (kind: ComponentKind, skip: ReadonlySet<string>): void => {
    for (const id of common(kind)) {
      const action = actionOf(kind, id);
      if (skip.has(id) || (action !== 'start' && action !== 'stop')) continue;
      push({ method: 'POST', path: `${item(kind, id)}/${action}`, component: { kind, id }, why: whyOf(kind, id) });
      summary.push(`${action} ${label(kind, id)}`);
    }
  };

  // Step 2: sources.
  for (const id of common('source')) {
    if (actionOf('source', id) !== 'update') continue;
    push({ method: 'PUT', path: item('source', id), body: body('source', id), component: { kind: 'source', id }, why: `upserted: ${whyOf('source', id)}` });
    summary.push(`update ${label('source', id)} (upsert; its queries stay)`);
  }
  for (const id of added('source')) {
    push({ method: 'POST', path: collection('source'), body: body('source', id), component: { kind: 'source', id }, why: 'new in the configuration' });
    summary.push(`add ${label('source', id)}`);
  }
  startStop('source', new Set());

  // Step 3: queries.
  for (const id of sortedIds([...added('query'), ...queriesRecreated.keys()])) {
    const recreated = queriesRecreated.get(id);
    push({ method: 'POST', path: collection('query'), body: body('query', id), component: { kind: 'query', id }, why: recreated === undefined ? 'new in the configuration' : `created again: ${recreated}` });
    summary.push(recreated === undefined ? `add ${label('query', id)}` : `re-create ${label('query', id)}: ${recreated} (there is no PUT for queries)`);
  }
  startStop('query', new Set(queriesRecreated.keys()));

  // Step 4: reactions.
  for (const id of common('reaction')) {
    if (actionOf('reaction', id) !== 'update' || reactionsRecreated.has(id)) continue;
    push({ method: 'PUT', path: item('reaction', id), body: body('reaction', id), component: { kind: 'reaction', id }, why: `upserted: ${whyOf('reaction', id)}` });
    summary.push(`update ${label('reaction', id)} (upsert)`);
  }
  for (const id of sortedIds([...added('reaction'), ...reactionsRecreated.keys()])) {
    const recreated = reactionsRecreated.get(id);
    push({ method: 'POST', path: collection('reaction'), body: body('reaction', id), component: { kind: 'reaction', id }, why: recreated === undefined ? 'new in the configuration' : `created again: ${recreated}` });
    summary.push(recreated === undefined ? `add ${label('reaction', id)}` : `re-create ${label('reaction', id)}: ${recreated}`);
  }
  startStop('reaction', new Set(reactionsRecreated.keys()));

  return { calls, summary };
}

function emptyActions(): PlanInput['actions'] {
  return { source: new Map(), query: new Map(), reaction: new Map() };
}

// ---------------------------------------------------------------- config change

/**
 * What it takes to bring a server running `running` to `next` (both full
 * documents, as `buildServerConfig` renders them): nothing, a restart
 * (a server-level field differs), or component calls applied hot.
 */
export function planConfigChange(running: ServerConfigDocument, next: ServerConfigDocument, options: PlanOptions = {}): ConfigChangePlan {
  const reasons = serverLevelChanges(running, next);
  if (reasons.length > 0) return { kind: 'restart', reasons };

  const before = componentsOf(running);
  const after = componentsOf(next);
  const actions = emptyActions();
  const current: PlanInput['current'] = { source: new Map(), query: new Map(), reaction: new Map() };
  for (const kind of KINDS) {
    for (const [id, config] of before[kind]) {
      current[kind].set(id, { config });
      const wanted = after[kind].get(id);
      if (wanted === undefined) continue;
      const decided = compareComponent(kind, config, wanted);
      if (decided !== undefined) actions[kind].set(id, decided);
    }
  }
  const { calls, summary } = buildCalls({ current, target: after, actions }, options);
  return calls.length === 0 ? { kind: 'none' } : { kind: 'hot', calls, summary };
}

/** Readable reasons for a restart: one per top-level key (other than the components) that differs. */
export function serverLevelChanges(running: ServerConfigDocument, next: ServerConfigDocument): string[] {
  const keys = new Set([...Object.keys(running), ...Object.keys(next)]);
  const reasons: string[] = [];
  for (const key of keys) {
    if (COMPONENT_KEYS.has(key)) continue;
    const was = running[key];
    const now = next[key];
    if (jsonEqual(was, now)) continue;
    if (was === undefined) reasons.push(`${key} set to ${show(now)}`);
    else if (now === undefined) reasons.push(`${key} removed (was ${show(was)})`);
    else if (isScalar(was) && isScalar(now)) reasons.push(`${key} changed from ${show(was)} to ${show(now)}`);
    else reasons.push(`${key} changed`);
  }
  return reasons;
}

function isScalar(value: unknown): boolean {
  return value === null || typeof value !== 'object';
}

/** Scalars are shown; structures (state stores, plugin lists) may hold secrets and are only named. */
function show(value: unknown): string {
  if (!isScalar(value)) return Array.isArray(value) ? `a list of ${value.length}` : 'an object';
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

/** Keys whose values differ between two component configs, `autoStart` left out. */
function differingKeys(left: Config, right: Config): string[] {
  const keys = new Set([...Object.keys(left), ...Object.keys(right)]);
  keys.delete('autoStart');
  return [...keys].filter((key) => !jsonEqual(left[key], right[key])).sort();
}

function compareComponent(kind: ComponentKind, was: Config, now: Config): { action: Action; why: string } | undefined {
  const keys = differingKeys(was, now);
  const wasStart = effectiveAutoStart(kind, was);
  const nowStart = effectiveAutoStart(kind, now);
  if (keys.length > 0) return { action: 'update', why: `${keys.join(', ')} changed` };
  if (wasStart !== undefined && nowStart !== undefined) {
    if (wasStart === nowStart) return undefined;
    return nowStart ? { action: 'start', why: 'autoStart turned on' } : { action: 'stop', why: 'autoStart turned off' };
  }
  // A `${VAR}` autoStart: only the server knows its value, so re-apply when the text changed.
  return jsonEqual(was['autoStart'], now['autoStart']) ? undefined : { action: 'update', why: 'autoStart changed' };
}

// ---------------------------------------------------------------- drift

const RUNNING_STATES: ReadonlySet<string> = new Set(['Running', 'Starting', 'Reconfiguring']);
const STOPPED_STATES: ReadonlySet<string> = new Set(['Stopped']);

/**
 * Compares the components `desired` (a full document) says a server runs with
 * what the server reports, and plans the calls that repair the difference.
 * When `config` is reported, only keys the desired config sets are compared
 * (the server reports its defaults too), `autoStart` is judged by status, and
 * values holding `${VAR}` are skipped (the server reports them expanded).
 * Without `config`, the desired config stands in for the running one when
 * working out what must be deleted first.
 */
export function compareWithServer(desired: ServerConfigDocument, observed: ObservedComponents, options: PlanOptions = {}): DriftReport {
  const target = componentsOf(desired);
  const differences: Difference[] = [];
  const actions = emptyActions();
  const current: PlanInput['current'] = { source: new Map(), query: new Map(), reaction: new Map() };

  for (const kind of KINDS) {
    const seen = new Map<string, ObservedComponent>();
    for (const entry of observed[LIST_KEY[kind]]) seen.set(entry.id, entry);

    for (const [id, entry] of seen) {
      const wanted = target[kind].get(id);
      const component = { kind, id };
      // Already on its way out: deleting it again would fail; judged next round.
      if (wanted === undefined && entry.status === 'Removed') continue;
      // Dependencies of the running component: as reported, else as desired.
      current[kind].set(id, { config: entry.config ?? wanted ?? { id } });
      if (wanted === undefined) {
        differences.push({ type: 'extra', component, status: entry.status, message: `${label(kind, id)} is not in the configuration` });
        continue;
      }
      if (entry.status === 'Error') {
        const error = entry.error_message ?? 'no error message';
        differences.push({ type: 'error', component, status: entry.status, error, message: `${label(kind, id)} is in Error: ${error}` });
        actions[kind].set(id, { action: 'update', why: `it was in Error: ${error}` });
        continue;
      }
      if (entry.config !== undefined) {
        const keys = driftedKeys(wanted, entry.config);
        if (keys.length > 0) {
          differences.push({
            type: 'config',
            component,
            keys,
            desired: pick(wanted, keys),
            observed: pick(entry.config, keys),
            message: `${label(kind, id)} config differs (${keys.join(', ')})`,
          });
          actions[kind].set(id, { action: 'update', why: `its config differed (${keys.join(', ')})` });
          continue;
        }
      }
      const shouldRun = effectiveAutoStart(kind, wanted);
      if (shouldRun === true && STOPPED_STATES.has(entry.status)) {
        differences.push({ type: 'state', component, status: entry.status, expected: 'running', message: `${label(kind, id)} is ${entry.status} but should run (autoStart)` });
        actions[kind].set(id, { action: 'start', why: `it was ${entry.status} but should run (autoStart)` });
      } else if (shouldRun === false && RUNNING_STATES.has(entry.status)) {
        differences.push({ type: 'state', component, status: entry.status, expected: 'stopped', message: `${label(kind, id)} is ${entry.status} but should be stopped (autoStart false)` });
        actions[kind].set(id, { action: 'stop', why: `it was ${entry.status} but autoStart is false` });
      }
    }
    for (const id of sortedIds(target[kind].keys())) {
      if (!seen.has(id)) differences.push({ type: 'missing', component: { kind, id }, message: `${label(kind, id)} is missing` });
    }
  }

  const { calls } = buildCalls({ current, target, actions }, options);
  return { drifted: differences.length > 0, differences, repair: calls };
}

/** Keys the desired config sets whose reported value differs; `autoStart` and `${VAR}` values are not comparable. */
function driftedKeys(wanted: Config, reported: Config): string[] {
  return Object.keys(wanted)
    .filter((key) => key !== 'autoStart' && !holdsEnvRef(wanted[key]) && !jsonEqual(wanted[key], reported[key]))
    .sort();
}

function holdsEnvRef(value: unknown): boolean {
  if (typeof value === 'string') return containsEnvRef(value);
  if (Array.isArray(value)) return value.some(holdsEnvRef);
  if (isPlainObject(value)) return Object.values(value).some(holdsEnvRef);
  return false;
}

function pick(config: Config, keys: readonly string[]): Record<string, unknown> {
  return Object.fromEntries(keys.map((key) => [key, cloneTree(config[key])]));
}
