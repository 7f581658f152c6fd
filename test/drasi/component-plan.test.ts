import test, { type ExecutionContext } from 'ava';
import {
  compareWithServer,
  parseDrasiConfig,
  planConfigChange,
  buildServerConfig,
  type ComponentCall,
  type ComponentKind,
  type ConfigChangePlan,
  type ObservedComponent,
  type ObservedComponents,
  type ServerConfigDocument,
} from '../../src/drasi/index.js';
import { jsonEqual } from '../../src/drasi/json-equal.js';

// ---------------------------------------------------------------- a tiny server model

type Config = Record<string, unknown>;
type SimState = 'running' | 'stopped' | 'error';
interface SimComponent {
  config: Config;
  state: SimState;
}

const PLURAL: Record<string, ComponentKind> = { sources: 'source', queries: 'query', reactions: 'reaction' };
const LIST: Record<ComponentKind, 'sources' | 'queries' | 'reactions'> = { source: 'sources', query: 'queries', reaction: 'reactions' };
const KINDS: ComponentKind[] = ['source', 'query', 'reaction'];

/** The contract's defaults, written out again here so the plan is not checked against itself. */
function startsOnCreate(kind: ComponentKind, config: Config): boolean {
  const value = config['autoStart'];
  if (typeof value === 'boolean') return value;
  return kind !== 'query';
}

function readsFrom(kind: ComponentKind, config: Config): string[] {
  if (kind === 'query') {
    const sources = Array.isArray(config['sources']) ? (config['sources'] as Config[]) : [];
    return sources.map((entry) => String(entry['sourceId']));
  }
  if (kind === 'reaction') return Array.isArray(config['queries']) ? (config['queries'] as unknown[]).map(String) : [];
  return [];
}

/**
 * Component sets of one server with the contract's rules: create fails on a
 * duplicate id or a missing dependency, delete fails on a missing id or while
 * something depends on it, there is no PUT for queries, PUT's body id must
 * match the path, start/stop need the component.
 */
class ServerModel {
  readonly components: Record<ComponentKind, Map<string, SimComponent>> = { source: new Map(), query: new Map(), reaction: new Map() };

  static fromConfig(document: ServerConfigDocument): ServerModel {
    const model = new ServerModel();
    for (const kind of KINDS) {
      for (const config of listOf(document, kind)) model.components[kind].set(String(config['id']), { config, state: startsOnCreate(kind, config) ? 'running' : 'stopped' });
    }
    return model;
  }

  /** The lists with `?view=full` configs, as a server would report them. */
  observe(): ObservedComponents {
    const entries = (kind: ComponentKind): ObservedComponent[] =>
      [...this.components[kind]].map(([id, component]) => ({
        id,
        status: component.state === 'running' ? 'Running' : component.state === 'stopped' ? 'Stopped' : 'Error',
        config: structuredClone(component.config),
      }));
    return { sources: entries('source'), queries: entries('query'), reactions: entries('reaction') };
  }

  /** `undefined` when legal (and applied), else why the server would refuse it. */
  apply(call: ComponentCall): string | undefined {
    const match = /^\/api\/v1\/(sources|queries|reactions)(?:\/([^/]+))?(?:\/(start|stop))?$/.exec(call.path);
    if (match === null) return `bad path ${call.path}`;
    const kind = PLURAL[match[1] ?? ''];
    if (kind === undefined) return `bad kind in ${call.path}`;
    const id = match[2] === undefined ? undefined : decodeURIComponent(match[2]);
    const action = match[3];
    if (call.component.kind !== kind) return `component kind ${call.component.kind} does not match ${call.path}`;
    const set = this.components[kind];

    if (id === undefined) {
      if (call.method !== 'POST') return `${call.method} on a collection`;
      const body = call.body as Config;
      if (typeof body?.['id'] !== 'string') return 'create without id';
      if (body['id'] !== call.component.id) return 'component id does not match the body';
      if (set.has(body['id'])) return `409 DUPLICATE_RESOURCE ${kind} ${body['id']}`;
      const missing = this.missingDependency(kind, body);
      if (missing !== undefined) return `500 create ${kind} ${body['id']}: ${missing} does not exist`;
      set.set(body['id'], { config: body, state: startsOnCreate(kind, body) ? 'running' : 'stopped' });
      return undefined;
    }
    if (id !== call.component.id) return `component id ${call.component.id} does not match ${call.path}`;
    if (action !== undefined) {
      if (call.method !== 'POST') return `${call.method} on ${action}`;
      const component = set.get(id);
      if (component === undefined) return `404 ${kind} ${id}`;
      // An errored component is not healed by start/stop in this model: the plan re-applies it.
      if (component.state !== 'error') component.state = action === 'start' ? 'running' : 'stopped';
      return undefined;
    }
    if (call.method === 'PUT') {
      if (kind === 'query') return 'no PUT for queries';
      const body = call.body as Config;
      if (body?.['id'] !== id) return '400 body id differs from path id';
      const missing = this.missingDependency(kind, body);
      if (missing !== undefined) return `500 upsert ${kind} ${id}: ${missing} does not exist`;
      set.set(id, { config: body, state: startsOnCreate(kind, body) ? 'running' : 'stopped' });
      return undefined;
    }
    if (call.method === 'DELETE') {
      if (!set.has(id)) return `500 delete ${kind} ${id}: does not exist`;
      const dependent = kind === 'reaction' ? undefined : kind === 'source' ? 'query' : 'reaction';
      if (dependent !== undefined) {
        for (const [other, component] of this.components[dependent]) {
          if (readsFrom(dependent, component.config).includes(id)) return `500 delete ${kind} ${id}: depended on by ${dependent} ${other}`;
        }
      }
      set.delete(id);
      return undefined;
    }
    return `${call.method} ${call.path} is not an API route`;
  }

  private missingDependency(kind: ComponentKind, config: Config): string | undefined {
    const needs = kind === 'query' ? 'source' : kind === 'reaction' ? 'query' : undefined;
    if (needs === undefined) return undefined;
    const missing = readsFrom(kind, config).find((id) => !this.components[needs].has(id));
    return missing === undefined ? undefined : `${needs} ${missing}`;
  }

  /** Differences between this model and the components `document` describes (config without autoStart, and run state). */
  differencesFrom(document: ServerConfigDocument): string[] {
    const problems: string[] = [];
    for (const kind of KINDS) {
      const wanted = new Map(listOf(document, kind).map((config) => [String(config['id']), config]));
      for (const id of this.components[kind].keys()) if (!wanted.has(id)) problems.push(`${kind} ${id} should not exist`);
      for (const [id, config] of wanted) {
        const have = this.components[kind].get(id);
        if (have === undefined) {
          problems.push(`${kind} ${id} is missing`);
          continue;
        }
        if (!jsonEqual(withoutAutoStart(have.config), withoutAutoStart(config))) problems.push(`${kind} ${id} has another config`);
        const state = startsOnCreate(kind, config) ? 'running' : 'stopped';
        if (have.state !== state) problems.push(`${kind} ${id} is ${have.state}, should be ${state}`);
      }
    }
    return problems;
  }
}

function withoutAutoStart(config: Config): Config {
  const { autoStart: _ignored, ...rest } = config;
  return rest;
}

function listOf(document: ServerConfigDocument, kind: ComponentKind): Config[] {
  const list = document[LIST[kind]];
  return Array.isArray(list) ? (list as Config[]) : [];
}

/** Applies every call; returns the first refused one, or the differences left at the end. */
function runCalls(model: ServerModel, calls: readonly ComponentCall[], expected: ServerConfigDocument): string[] {
  for (const [index, call] of calls.entries()) {
    const refused = model.apply(call);
    if (refused !== undefined) return [`call ${index} ${call.method} ${call.path} refused: ${refused}`];
  }
  return model.differencesFrom(expected);
}

function assertPlanReaches(t: ExecutionContext, running: ServerConfigDocument, next: ServerConfigDocument, plan: ConfigChangePlan): void {
  const calls = plan.kind === 'hot' ? plan.calls : [];
  t.deepEqual(runCalls(ServerModel.fromConfig(running), calls, next), []);
}

function hot(plan: ConfigChangePlan): { calls: ComponentCall[]; summary: string[] } {
  if (plan.kind !== 'hot') throw new Error(`expected a hot plan, got ${JSON.stringify(plan)}`);
  return plan;
}

const brief = (calls: readonly ComponentCall[]): string[] => calls.map((call) => `${call.method} ${call.path}`);

// ---------------------------------------------------------------- fixtures

const server = { id: 'i1', host: '127.0.0.1', port: 18081, logLevel: 'info', persistConfig: false };
const source = (id: string, extra: Config = {}): Config => ({ kind: 'mock', id, ...extra });
const query = (id: string, sources: string[], extra: Config = {}): Config => ({
  id,
  query: `MATCH (n) RETURN n.${id.replace(/\W/g, '_')}`,
  queryLanguage: 'Cypher',
  autoStart: true,
  sources: sources.map((sourceId) => ({ sourceId })),
  ...extra,
});
const reaction = (id: string, queries: string[], extra: Config = {}): Config => ({ kind: 'log', id, queries, ...extra });
const doc = (sources: Config[], queries: Config[], reactions: Config[], top: Config = {}): ServerConfigDocument => ({
  ...server,
  ...top,
  sources,
  queries,
  reactions,
});

const base = doc([source('s')], [query('q', ['s'])], [reaction('r', ['q'])]);

// ---------------------------------------------------------------- nothing to do

test('the same document needs nothing', (t) => {
  t.deepEqual(planConfigChange(base, structuredClone(base)), { kind: 'none' });
});

test('key order and list order do not count', (t) => {
  const running = doc([source('a', { intervalMs: 5, dataType: { type: 'x', n: 1 } }), source('b')], [query('q', ['a', 'b'])], []);
  const next: ServerConfigDocument = {
    queries: [{ sources: [{ sourceId: 'a' }, { sourceId: 'b' }], autoStart: true, queryLanguage: 'Cypher', query: 'MATCH (n) RETURN n.q', id: 'q' }],
    sources: [{ id: 'b', kind: 'mock' }, { dataType: { n: 1, type: 'x' }, intervalMs: 5, id: 'a', kind: 'mock' }],
    reactions: [],
    persistConfig: false,
    logLevel: 'info',
    port: 18081,
    host: '127.0.0.1',
    id: 'i1',
  };
  t.deepEqual(planConfigChange(running, next), { kind: 'none' });
});

test('writing out a default autoStart is no change', (t) => {
  const next = doc([source('s', { autoStart: true })], [query('q', ['s'])], [reaction('r', ['q'], { autoStart: true })]);
  t.deepEqual(planConfigChange(base, next), { kind: 'none' });
  const queryDefault = doc([], [{ id: 'q', query: 'MATCH (n) RETURN n' }], []);
  t.deepEqual(planConfigChange(queryDefault, doc([], [{ id: 'q', query: 'MATCH (n) RETURN n', autoStart: false }], [])), { kind: 'none' });
});

test('documents made by buildServerConfig plan like any other', (t) => {
  const user = parseDrasiConfig({ sources: [source('s')], queries: [query('q', ['s'])] });
  const running = buildServerConfig(user, { id: 'i', host: '127.0.0.1', port: 1 });
  const nextUser = parseDrasiConfig({ sources: [source('s')], queries: [query('q', ['s'])], reactions: [reaction('r', ['q'])] });
  const next = buildServerConfig(nextUser, { id: 'i', host: '127.0.0.1', port: 1 });
  const plan = planConfigChange(running, next);
  t.deepEqual(brief(hot(plan).calls), ['POST /api/v1/reactions']);
  assertPlanReaches(t, running, next, plan);
});

// ---------------------------------------------------------------- restart

const serverLevelCases: Array<[string, Config, Config, string]> = [
  ['id', { id: 'i1' }, { id: 'i2' }, 'id changed from "i1" to "i2"'],
  ['host', { host: '127.0.0.1' }, { host: '0.0.0.0' }, 'host changed from "127.0.0.1" to "0.0.0.0"'],
  ['port', { port: 18081 }, { port: 18082 }, 'port changed from 18081 to 18082'],
  ['logLevel', { logLevel: 'info' }, { logLevel: 'debug' }, 'logLevel changed from "info" to "debug"'],
  ['persistConfig', { persistConfig: false }, { persistConfig: true }, 'persistConfig changed from false to true'],
  ['persistIndex', {}, { persistIndex: true }, 'persistIndex set to true'],
  ['enableUi', { enableUi: true }, {}, 'enableUi removed (was true)'],
  ['verifyPlugins', {}, { verifyPlugins: false }, 'verifyPlugins set to false'],
  ['autoInstallPlugins', {}, { autoInstallPlugins: true }, 'autoInstallPlugins set to true'],
  ['pluginRegistry', {}, { pluginRegistry: 'ghcr.io/x' }, 'pluginRegistry set to "ghcr.io/x"'],
  ['stateStore', { stateStore: { kind: 'redb', path: 'a' } }, { stateStore: { kind: 'redb', path: 'b' } }, 'stateStore changed'],
  ['stateStore added', {}, { stateStore: { kind: 'redb', path: 'a' } }, 'stateStore set to an object'],
  ['plugins', { plugins: [{ ref: 'source/mock' }] }, { plugins: [{ ref: 'source/mock' }, { ref: 'reaction/log' }] }, 'plugins changed'],
  ['instances', {}, { instances: [{ id: 'a' }] }, 'instances set to a list of 1'],
  ['identityProviders', {}, { identityProviders: [{ id: 'p', kind: 'password' }] }, 'identityProviders set to a list of 1'],
  ['bootstrapProviders', {}, { bootstrapProviders: [{ kind: 'x' }] }, 'bootstrapProviders set to a list of 1'],
  ['defaultPriorityQueueCapacity', {}, { defaultPriorityQueueCapacity: 5 }, 'defaultPriorityQueueCapacity set to 5'],
  ['apiVersion', { apiVersion: 'v1' }, { apiVersion: 'v2' }, 'apiVersion changed from "v1" to "v2"'],
];

for (const [name, before, after, reason] of serverLevelCases) {
  test(`a change of ${name} needs a restart, and says so`, (t) => {
    const plan = planConfigChange({ ...base, ...before }, { ...base, ...after });
    t.deepEqual(plan, { kind: 'restart', reasons: [reason] });
  });
}

test('a server-level change wins over component changes, and every reason is listed', (t) => {
  const next = doc([], [], [], { logLevel: 'debug', port: 9000 });
  t.deepEqual(planConfigChange(base, next), {
    kind: 'restart',
    reasons: ['port changed from 18081 to 9000', 'logLevel changed from "info" to "debug"'],
  });
});

test('long scalar values are shortened in reasons', (t) => {
  const plan = planConfigChange({ ...base, pluginRegistry: 'x'.repeat(200) }, { ...base, pluginRegistry: 'y' });
  t.is(plan.kind, 'restart');
  t.true(plan.kind === 'restart' && plan.reasons[0]!.length < 120);
});

// ---------------------------------------------------------------- adds and removes

test('a new source, query and reaction are created in dependency order', (t) => {
  const running = doc([], [], []);
  const plan = planConfigChange(running, base);
  const { calls, summary } = hot(plan);
  t.deepEqual(brief(calls), ['POST /api/v1/sources', 'POST /api/v1/queries', 'POST /api/v1/reactions']);
  t.deepEqual(calls[1]?.body, query('q', ['s']));
  t.deepEqual(calls[1]?.component, { kind: 'query', id: 'q' });
  t.deepEqual(summary, ['add source "s"', 'add query "q"', 'add reaction "r"']);
  assertPlanReaches(t, running, base, plan);
});

test('each kind can be added alone', (t) => {
  for (const [next, path] of [
    [doc([source('s'), source('t')], [query('q', ['s'])], [reaction('r', ['q'])]), 'POST /api/v1/sources'],
    [doc([source('s')], [query('q', ['s']), query('q2', ['s'])], [reaction('r', ['q'])]), 'POST /api/v1/queries'],
    [doc([source('s')], [query('q', ['s'])], [reaction('r', ['q']), reaction('r2', ['q'])]), 'POST /api/v1/reactions'],
  ] as const) {
    const plan = planConfigChange(base, next);
    t.deepEqual(brief(hot(plan).calls), [path]);
    assertPlanReaches(t, base, next, plan);
  }
});

test('everything removed is deleted reactions first, then queries, then sources', (t) => {
  const next = doc([], [], []);
  const plan = planConfigChange(base, next);
  t.deepEqual(brief(hot(plan).calls), ['DELETE /api/v1/reactions/r', 'DELETE /api/v1/queries/q', 'DELETE /api/v1/sources/s']);
  t.deepEqual(hot(plan).summary, ['remove reaction "r"', 'remove query "q"', 'remove source "s"']);
  assertPlanReaches(t, base, next, plan);
});

test('each kind can be removed alone', (t) => {
  const running = doc([source('s'), source('t')], [query('q', ['s']), query('q2', ['s'])], [reaction('r', ['q']), reaction('r2', ['q'])]);
  for (const [next, path] of [
    [doc([source('s')], [query('q', ['s']), query('q2', ['s'])], [reaction('r', ['q']), reaction('r2', ['q'])]), 'DELETE /api/v1/sources/t'],
    [doc([source('s'), source('t')], [query('q', ['s'])], [reaction('r', ['q']), reaction('r2', ['q'])]), 'DELETE /api/v1/queries/q2'],
    [doc([source('s'), source('t')], [query('q', ['s']), query('q2', ['s'])], [reaction('r', ['q'])]), 'DELETE /api/v1/reactions/r2'],
  ] as const) {
    const plan = planConfigChange(running, next);
    t.deepEqual(brief(hot(plan).calls), [path]);
    assertPlanReaches(t, running, next, plan);
  }
});

test('a source removed together with the query that read it: query first', (t) => {
  const running = doc([source('s'), source('old')], [query('q', ['s']), query('uses-old', ['old'])], [reaction('r', ['q'])]);
  const plan = planConfigChange(running, base);
  t.deepEqual(brief(hot(plan).calls), ['DELETE /api/v1/queries/uses-old', 'DELETE /api/v1/sources/old']);
  assertPlanReaches(t, running, base, plan);
});

// ---------------------------------------------------------------- changes

test('a changed source is upserted and keeps its queries', (t) => {
  const next = doc([source('s', { intervalMs: 10 })], [query('q', ['s'])], [reaction('r', ['q'])]);
  const plan = planConfigChange(base, next);
  const { calls, summary } = hot(plan);
  t.deepEqual(brief(calls), ['PUT /api/v1/sources/s']);
  t.deepEqual(calls[0]?.body, source('s', { intervalMs: 10 }));
  t.regex(calls[0]?.why ?? '', /intervalMs changed/);
  t.deepEqual(summary, ['update source "s" (upsert; its queries stay)']);
  assertPlanReaches(t, base, next, plan);
});

test('a changed reaction is upserted', (t) => {
  const next = doc([source('s')], [query('q', ['s'])], [reaction('r', ['q'], { level: 'debug' })]);
  const plan = planConfigChange(base, next);
  t.deepEqual(brief(hot(plan).calls), ['PUT /api/v1/reactions/r']);
  assertPlanReaches(t, base, next, plan);
});

test('a reaction moved to a new query is upserted after the query is created', (t) => {
  const next = doc([source('s')], [query('q', ['s']), query('q2', ['s'])], [reaction('r', ['q2'])]);
  const plan = planConfigChange(base, next);
  t.deepEqual(brief(hot(plan).calls), ['POST /api/v1/queries', 'PUT /api/v1/reactions/r']);
  assertPlanReaches(t, base, next, plan);
});

test('a reaction moved off a removed query is deleted first and created again', (t) => {
  const running = doc([source('s')], [query('q', ['s']), query('old', ['s'])], [reaction('r', ['old'])]);
  const next = doc([source('s')], [query('q', ['s'])], [reaction('r', ['q'])]);
  const plan = planConfigChange(running, next);
  t.deepEqual(brief(hot(plan).calls), ['DELETE /api/v1/reactions/r', 'DELETE /api/v1/queries/old', 'POST /api/v1/reactions']);
  assertPlanReaches(t, running, next, plan);
});

test('a changed query is deleted and created again, its reactions around it', (t) => {
  const running = doc([source('s')], [query('q', ['s']), query('other', ['s'])], [reaction('r', ['q']), reaction('r2', ['q', 'other']), reaction('r3', ['other'])]);
  const next = doc([source('s')], [query('q', ['s'], { query: 'MATCH (x) RETURN x' }), query('other', ['s'])], [reaction('r', ['q']), reaction('r2', ['q', 'other']), reaction('r3', ['other'])]);
  const plan = planConfigChange(running, next);
  const { calls, summary } = hot(plan);
  t.deepEqual(brief(calls), [
    'DELETE /api/v1/reactions/r',
    'DELETE /api/v1/reactions/r2',
    'DELETE /api/v1/queries/q',
    'POST /api/v1/queries',
    'POST /api/v1/reactions',
    'POST /api/v1/reactions',
  ]);
  t.false(calls.some((call) => call.method === 'PUT' && call.component.kind === 'query'));
  t.is(calls[2]?.why, 'deleted to be created again (there is no PUT for queries): query changed');
  t.is(calls[0]?.why, 'deleted to be created again: it reads query "q", which is re-created');
  t.is(calls[3]?.why, 'created again: query changed');
  t.deepEqual(summary, [
    're-create query "q": query changed (there is no PUT for queries)',
    're-create reaction "r": it reads query "q", which is re-created',
    're-create reaction "r2": it reads query "q", which is re-created',
  ]);
  assertPlanReaches(t, running, next, plan);
});

test('a changed query whose reaction changed too: the reaction is created with its new config', (t) => {
  const next = doc([source('s')], [query('q', ['s'], { queryLanguage: 'GQL' })], [reaction('r', ['q'], { level: 'x' })]);
  const plan = planConfigChange(base, next);
  const { calls } = hot(plan);
  t.deepEqual(brief(calls), ['DELETE /api/v1/reactions/r', 'DELETE /api/v1/queries/q', 'POST /api/v1/queries', 'POST /api/v1/reactions']);
  t.deepEqual(calls[3]?.body, reaction('r', ['q'], { level: 'x' }));
  assertPlanReaches(t, base, next, plan);
});

test('a query moved to a new source: source created before the query is created again', (t) => {
  const next = doc([source('s'), source('t')], [query('q', ['t'])], [reaction('r', ['q'])]);
  const plan = planConfigChange(base, next);
  t.deepEqual(brief(hot(plan).calls), ['DELETE /api/v1/reactions/r', 'DELETE /api/v1/queries/q', 'POST /api/v1/sources', 'POST /api/v1/queries', 'POST /api/v1/reactions']);
  assertPlanReaches(t, base, next, plan);
});

test('combined: add, remove and change of every kind at once', (t) => {
  const running = doc(
    [source('keep'), source('change'), source('drop')],
    [query('q-keep', ['keep']), query('q-change', ['change']), query('q-drop', ['drop'])],
    [reaction('r-keep', ['q-keep']), reaction('r-on-changed', ['q-change']), reaction('r-drop', ['q-drop']), reaction('r-change', ['q-keep'])],
  );
  const next = doc(
    [source('keep'), source('change', { intervalMs: 3 }), source('new')],
    [query('q-keep', ['keep']), query('q-change', ['change', 'new']), query('q-new', ['new'])],
    [reaction('r-keep', ['q-keep']), reaction('r-on-changed', ['q-change']), reaction('r-change', ['q-keep', 'q-new']), reaction('r-new', ['q-new'])],
  );
  const plan = planConfigChange(running, next);
  t.deepEqual(brief(hot(plan).calls), [
    'DELETE /api/v1/reactions/r-drop',
    'DELETE /api/v1/reactions/r-on-changed',
    'DELETE /api/v1/queries/q-drop',
    'DELETE /api/v1/queries/q-change',
    'DELETE /api/v1/sources/drop',
    'PUT /api/v1/sources/change',
    'POST /api/v1/sources',
    'POST /api/v1/queries',
    'POST /api/v1/queries',
    'PUT /api/v1/reactions/r-change',
    'POST /api/v1/reactions',
    'POST /api/v1/reactions',
  ]);
  assertPlanReaches(t, running, next, plan);
});

// ---------------------------------------------------------------- autoStart

test('autoStart turned off on a source means stop; turned on on a query means start', (t) => {
  const running = doc([source('s')], [query('q', ['s'], { autoStart: false })], [reaction('r', ['q'])]);
  const next = doc([source('s', { autoStart: false })], [query('q', ['s'], { autoStart: true })], [reaction('r', ['q'], { autoStart: false })]);
  const plan = planConfigChange(running, next);
  const { calls, summary } = hot(plan);
  t.deepEqual(brief(calls), ['POST /api/v1/sources/s/stop', 'POST /api/v1/queries/q/start', 'POST /api/v1/reactions/r/stop']);
  t.true(calls.every((call) => call.body === undefined));
  t.deepEqual(summary, ['stop source "s"', 'start query "q"', 'stop reaction "r"']);
  assertPlanReaches(t, running, next, plan);
});

test('autoStart changed together with the config: the re-created query carries the new flag', (t) => {
  const next = doc([source('s')], [query('q', ['s'], { autoStart: false, queryLanguage: 'GQL' })], [reaction('r', ['q'])]);
  const plan = planConfigChange(base, next);
  t.false(hot(plan).calls.some((call) => call.path.endsWith('/stop') || call.path.endsWith('/start')));
  assertPlanReaches(t, base, next, plan);
});

test('autoStart flipped on a query whose reaction is re-created for another reason is still honoured', (t) => {
  const running = doc([source('s')], [query('q', ['s'], { autoStart: false }), query('old', ['s'])], [reaction('r', ['q', 'old'])]);
  const next = doc([source('s')], [query('q', ['s'])], [reaction('r', ['q'], { autoStart: false })]);
  const plan = planConfigChange(running, next);
  t.deepEqual(brief(hot(plan).calls), ['DELETE /api/v1/reactions/r', 'DELETE /api/v1/queries/old', 'POST /api/v1/queries/q/start', 'POST /api/v1/reactions']);
  assertPlanReaches(t, running, next, plan);
});

test('an autoStart given as ${VAR} that changes is re-applied, not started or stopped', (t) => {
  const running = doc([source('s', { autoStart: '${A}' })], [], []);
  const next = doc([source('s', { autoStart: '${B}' })], [], []);
  t.deepEqual(brief(hot(planConfigChange(running, next)).calls), ['PUT /api/v1/sources/s']);
  t.deepEqual(planConfigChange(running, structuredClone(running)), { kind: 'none' });
});

// ---------------------------------------------------------------- paths

test('ids are escaped in paths, and another API base can be given', (t) => {
  const running = doc([source('a b/c?')], [query('q/1', ['a b/c?'])], []);
  const next = doc([source('a b/c?', { intervalMs: 1 })], [query('q/1', ['a b/c?'], { autoStart: false })], []);
  const plan = planConfigChange(running, next);
  t.deepEqual(brief(hot(plan).calls), ['PUT /api/v1/sources/a%20b%2Fc%3F', 'POST /api/v1/queries/q%2F1/stop']);
  assertPlanReaches(t, running, next, plan);
  const other = planConfigChange(running, next, { apiBase: '/api/v1/instances/i1' });
  t.deepEqual(brief(hot(other).calls), ['PUT /api/v1/instances/i1/sources/a%20b%2Fc%3F', 'POST /api/v1/instances/i1/queries/q%2F1/stop']);
});

test('bodies are copies: changing one does not change the document', (t) => {
  const next = doc([source('s', { dataType: { type: 'a' } })], [query('q', ['s'])], [reaction('r', ['q'])]);
  const body = hot(planConfigChange(base, next)).calls[0]?.body as Config;
  (body['dataType'] as Config)['type'] = 'changed';
  t.deepEqual((next['sources'] as Config[])[0], source('s', { dataType: { type: 'a' } }));
});

// ---------------------------------------------------------------- drift

const observedRunning = (document: ServerConfigDocument, withConfig = false): ObservedComponents => {
  const entries = (kind: ComponentKind): ObservedComponent[] =>
    listOf(document, kind).map((config) => ({
      id: String(config['id']),
      status: startsOnCreate(kind, config) ? 'Running' : 'Stopped',
      ...(withConfig ? { config: structuredClone(config) } : {}),
    }));
  return { sources: entries('source'), queries: entries('query'), reactions: entries('reaction') };
};

function modelFromObserved(observed: ObservedComponents, desired: ServerConfigDocument): ServerModel {
  const model = new ServerModel();
  for (const kind of KINDS) {
    const wanted = new Map(listOf(desired, kind).map((config) => [String(config['id']), config]));
    for (const entry of observed[LIST[kind]]) {
      const config = entry.config ?? wanted.get(entry.id) ?? { id: entry.id };
      const state: SimState = entry.status === 'Error' ? 'error' : entry.status === 'Running' ? 'running' : 'stopped';
      model.components[kind].set(entry.id, { config, state });
    }
  }
  return model;
}

function assertRepairs(t: ExecutionContext, desired: ServerConfigDocument, observed: ObservedComponents, repair: readonly ComponentCall[]): void {
  t.deepEqual(runCalls(modelFromObserved(observed, desired), repair, desired), []);
}

test('no drift when the server runs exactly the desired components', (t) => {
  const withConfig = compareWithServer(base, observedRunning(base, true));
  t.deepEqual(withConfig, { drifted: false, differences: [], repair: [] });
  t.deepEqual(compareWithServer(base, observedRunning(base)), { drifted: false, differences: [], repair: [] });
});

test('drift: a missing query is created again (and nothing else is touched)', (t) => {
  const desired = doc([source('s')], [query('q', ['s']), query('hot', ['s'])], [reaction('r', ['q'])]);
  const observed = observedRunning(base);
  const report = compareWithServer(desired, observed);
  t.true(report.drifted);
  t.deepEqual(report.differences, [{ type: 'missing', component: { kind: 'query', id: 'hot' }, message: 'query "hot" is missing' }]);
  t.deepEqual(brief(report.repair), ['POST /api/v1/queries']);
  assertRepairs(t, desired, observed, report.repair);
});

test('drift: a missing query with its reaction gone too is rebuilt in order', (t) => {
  const observed: ObservedComponents = { sources: [{ id: 's', status: 'Running' }], queries: [], reactions: [] };
  const report = compareWithServer(base, observed);
  t.deepEqual(
    report.differences.map((difference) => difference.message),
    ['query "q" is missing', 'reaction "r" is missing'],
  );
  t.deepEqual(brief(report.repair), ['POST /api/v1/queries', 'POST /api/v1/reactions']);
  assertRepairs(t, base, observed, report.repair);
});

test('drift: extra components are deleted, dependents first', (t) => {
  const observed: ObservedComponents = {
    sources: [{ id: 's', status: 'Running' }, { id: 'x-src', status: 'Running' }],
    queries: [{ id: 'q', status: 'Running' }, { id: 'x-q', status: 'Running', config: query('x-q', ['x-src']) }],
    reactions: [{ id: 'r', status: 'Running' }, { id: 'extra', status: 'Running', config: reaction('extra', ['x-q']) }],
  };
  const report = compareWithServer(base, observed);
  t.deepEqual(
    report.differences.filter((difference) => difference.type === 'extra').map((difference) => difference.message),
    ['source "x-src" is not in the configuration', 'query "x-q" is not in the configuration', 'reaction "extra" is not in the configuration'],
  );
  t.deepEqual(brief(report.repair), ['DELETE /api/v1/reactions/extra', 'DELETE /api/v1/queries/x-q', 'DELETE /api/v1/sources/x-src']);
  assertRepairs(t, base, observed, report.repair);
});

test('drift: a stopped source that should run is started; a running component with autoStart false is stopped', (t) => {
  const desired = doc([source('s')], [query('q', ['s'])], [reaction('r', ['q'], { autoStart: false })]);
  const observed: ObservedComponents = {
    sources: [{ id: 's', status: 'Stopped' }],
    queries: [{ id: 'q', status: 'Running' }],
    reactions: [{ id: 'r', status: 'Running' }],
  };
  const report = compareWithServer(desired, observed);
  t.deepEqual(report.differences, [
    { type: 'state', component: { kind: 'source', id: 's' }, status: 'Stopped', expected: 'running', message: 'source "s" is Stopped but should run (autoStart)' },
    { type: 'state', component: { kind: 'reaction', id: 'r' }, status: 'Running', expected: 'stopped', message: 'reaction "r" is Running but should be stopped (autoStart false)' },
  ]);
  t.deepEqual(brief(report.repair), ['POST /api/v1/sources/s/start', 'POST /api/v1/reactions/r/stop']);
  assertRepairs(t, desired, observed, report.repair);
});

test('drift: components in motion are judged next round', (t) => {
  const observed: ObservedComponents = {
    sources: [{ id: 's', status: 'Starting' }],
    queries: [{ id: 'q', status: 'Reconfiguring' }],
    reactions: [{ id: 'r', status: 'Stopping' }],
  };
  t.deepEqual(compareWithServer(base, observed), { drifted: false, differences: [], repair: [] });
  const added = compareWithServer(base, { ...observed, reactions: [{ id: 'r', status: 'Added' }] });
  t.false(added.drifted);
  const unknown = compareWithServer(base, { ...observed, queries: [{ id: 'q', status: 'Paused' }] });
  t.false(unknown.drifted);
  const leaving = compareWithServer(base, { ...observed, reactions: [...observed.reactions, { id: 'gone', status: 'Removed' }] });
  t.deepEqual(leaving, { drifted: false, differences: [], repair: [] });
});

test('drift: a query in Error is created again with its reactions around it', (t) => {
  const observed: ObservedComponents = {
    sources: [{ id: 's', status: 'Running' }],
    queries: [{ id: 'q', status: 'Error', error_message: 'bootstrap failed' }],
    reactions: [{ id: 'r', status: 'Running' }],
  };
  const report = compareWithServer(base, observed);
  t.deepEqual(report.differences, [
    { type: 'error', component: { kind: 'query', id: 'q' }, status: 'Error', error: 'bootstrap failed', message: 'query "q" is in Error: bootstrap failed' },
  ]);
  t.deepEqual(brief(report.repair), ['DELETE /api/v1/reactions/r', 'DELETE /api/v1/queries/q', 'POST /api/v1/queries', 'POST /api/v1/reactions']);
  assertRepairs(t, base, observed, report.repair);
});

test('drift: a source or reaction in Error is upserted from the desired config', (t) => {
  const observed: ObservedComponents = {
    sources: [{ id: 's', status: 'Error' }],
    queries: [{ id: 'q', status: 'Running' }],
    reactions: [{ id: 'r', status: 'Error', error_message: 'connection refused' }],
  };
  const report = compareWithServer(base, observed);
  t.deepEqual(
    report.differences.map((difference) => difference.message),
    ['source "s" is in Error: no error message', 'reaction "r" is in Error: connection refused'],
  );
  t.deepEqual(brief(report.repair), ['PUT /api/v1/sources/s', 'PUT /api/v1/reactions/r']);
  assertRepairs(t, base, observed, report.repair);
});

test('drift: a config that differs is re-applied; server defaults and ${VAR} values do not count', (t) => {
  const desired = doc([source('s', { password: '${PW}' })], [query('q', ['s'])], [reaction('r', ['q'])]);
  const observed: ObservedComponents = {
    sources: [{ id: 's', status: 'Running', config: source('s', { password: 'hunter2', autoStart: true }) }],
    queries: [{ id: 'q', status: 'Running', config: { ...query('q', ['s'], { query: 'MATCH (n) RETURN 1' }), enableBootstrap: true } }],
    reactions: [{ id: 'r', status: 'Running', config: { ...reaction('r', ['q']), autoStart: false } }],
  };
  const report = compareWithServer(desired, observed);
  t.deepEqual(report.differences, [
    {
      type: 'config',
      component: { kind: 'query', id: 'q' },
      keys: ['query'],
      desired: { query: 'MATCH (n) RETURN n.q' },
      observed: { query: 'MATCH (n) RETURN 1' },
      message: 'query "q" config differs (query)',
    },
  ]);
  t.deepEqual(brief(report.repair), ['DELETE /api/v1/reactions/r', 'DELETE /api/v1/queries/q', 'POST /api/v1/queries', 'POST /api/v1/reactions']);
  // The model compares text, and only the server knows what ${PW} expands to: that one difference is expected.
  const problems = runCalls(modelFromObserved(observed, desired), report.repair, desired);
  t.deepEqual(problems, ['source s has another config']);
});

test('drift: a reported reaction that reads a query DRaaS does not know is deleted before that query', (t) => {
  const observed: ObservedComponents = {
    sources: [{ id: 's', status: 'Running' }],
    queries: [{ id: 'q', status: 'Running' }, { id: 'rogue', status: 'Running' }],
    reactions: [{ id: 'r', status: 'Running', config: reaction('r', ['q', 'rogue']) }],
  };
  const report = compareWithServer(base, observed);
  t.deepEqual(brief(report.repair), ['DELETE /api/v1/reactions/r', 'DELETE /api/v1/queries/rogue', 'POST /api/v1/reactions']);
  assertRepairs(t, base, observed, report.repair);
});

// ---------------------------------------------------------------- random pairs

/** mulberry32: small, seeded, good enough to spread cases. */
function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let value = state;
    value = Math.imul(value ^ (value >>> 15), value | 1);
    value ^= value + Math.imul(value ^ (value >>> 7), value | 61);
    return ((value ^ (value >>> 14)) >>> 0) / 4294967296;
  };
}

function randomDocument(random: () => number): ServerConfigDocument {
  const pickOne = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;
  const subset = (ids: readonly string[], atLeastOne: boolean): string[] => {
    const chosen = ids.filter(() => random() < 0.5);
    return chosen.length === 0 && atLeastOne && ids.length > 0 ? [pickOne(ids)] : chosen;
  };
  const autoStart = (): Config => pickOne([{}, { autoStart: true }, { autoStart: false }]);
  const sources = ['s1', 's2', 's 3/x'].filter(() => random() < 0.6).map((id) => source(id, { intervalMs: pickOne([1, 2]), ...autoStart() }));
  const sourceIds = sources.map((item) => String(item['id']));
  const queries = ['q1', 'q2', 'q3', 'q/4']
    .filter(() => random() < 0.6)
    .map((id) => query(id, subset(sourceIds, false), { queryLanguage: pickOne(['Cypher', 'GQL']), ...autoStart() }));
  const queryIds = queries.map((item) => String(item['id']));
  const reactions = queryIds.length === 0 ? [] : ['r1', 'r2', 'r3'].filter(() => random() < 0.6).map((id) => reaction(id, subset(queryIds, true), { ...autoStart() }));
  return doc(sources, queries, reactions);
}

test('random pairs of configs: every plan is legal call by call and ends at the new components', (t) => {
  const random = prng(20261206);
  let hotPlans = 0;
  for (let round = 0; round < 250; round += 1) {
    const running = randomDocument(random);
    const next = randomDocument(random);
    const plan = planConfigChange(running, next);
    t.not(plan.kind, 'restart');
    if (plan.kind === 'hot') hotPlans += 1;
    const model = ServerModel.fromConfig(running);
    const problems = runCalls(model, plan.kind === 'hot' ? plan.calls : [], next);
    if (problems.length > 0) {
      t.fail(`round ${round}: ${problems.join('; ')}\nrunning ${JSON.stringify(running)}\nnext ${JSON.stringify(next)}\nplan ${JSON.stringify(plan)}`);
      return;
    }
    // What the server reports afterwards (its copy keeps a flipped autoStart's old value) is no drift.
    const report = compareWithServer(next, model.observe());
    if (report.drifted) {
      t.fail(`round ${round}: drift after the plan: ${report.differences.map((difference) => difference.message).join('; ')}`);
      return;
    }
    t.deepEqual(planConfigChange(next, structuredClone(next)), { kind: 'none' });
  }
  t.true(hotPlans > 200);
});

test('random drift: the repair is legal call by call and restores the desired components and states', (t) => {
  const random = prng(7);
  const statuses = ['Running', 'Stopped', 'Error'];
  for (let round = 0; round < 200; round += 1) {
    const desired = randomDocument(random);
    const actual = randomDocument(random);
    const withConfig = random() < 0.5;
    const entries = (kind: ComponentKind): ObservedComponent[] =>
      listOf(actual, kind).map((config) => ({
        id: String(config['id']),
        status: statuses[Math.floor(random() * statuses.length)] ?? 'Running',
        // Without a reported config the model must agree with what compareWithServer assumes: the desired one if any.
        ...(withConfig ? { config: structuredClone(config) } : {}),
      }));
    const observed: ObservedComponents = { sources: entries('source'), queries: entries('query'), reactions: entries('reaction') };
    const report = compareWithServer(desired, observed);
    const model = modelFromObserved(observed, desired);
    const problems = runCalls(model, report.repair, desired);
    if (problems.length > 0) {
      t.fail(`round ${round}: ${problems.join('; ')}\ndesired ${JSON.stringify(desired)}\nobserved ${JSON.stringify(observed)}\nrepair ${JSON.stringify(report.repair)}`);
      return;
    }
    if (!report.drifted) t.deepEqual(report.repair, []);
  }
  t.pass();
});
