/**
 * The reconciliation scenarios of issue 14, over the REST API, shared by the
 * platforms and modes that run them (process and Docker, embedded and
 * cluster): a configuration change applied to the running server without a
 * restart; one that needs a restart; the update strategies; drift repaired
 * within a reconcile interval; a failed component call falling back to a
 * restart; a crash backed off and recovered. The server is the Drasi Server
 * double, which serves the component API of the contract.
 */
import type { ExecutionContext } from 'ava';

export type Answer = { status: number; body: Record<string, unknown> };
export type Call = (method: string, route: string, body?: unknown) => Promise<Answer>;

export interface ScenarioWorld {
  call: Call;
  /** Extra fields of every create (platformType, platformOptions). */
  createFields: Record<string, unknown>;
  /** Kills the instance's running server for real (SIGKILL the process, kill the container, OOM-kill the pod). */
  kill(workloadId: string, name: string): Promise<void>;
  /** Where the test reaches the running server's own API (default: the view's runtime.url, on this host). */
  serverUrl?(name: string, view: View): Promise<string>;
}

export interface View {
  status: string;
  generation: number;
  observedGeneration: number | null;
  runtime: { workloadId: string; url: string; generation: number } | null;
  history: { from: string | null; to: string; cause: string; reason?: string }[];
  conditions: { type: string; status: string; reason: string; message: string; failures?: number; nextRetryAt?: string | null }[];
  failure: { reason: string } | null;
}

export const pipeline = {
  sources: [{ kind: 'mock', id: 'sensors', dataType: { type: 'sensorReading' } }],
  queries: [{ id: 'hot', query: 'MATCH (s) RETURN s', queryLanguage: 'Cypher', autoStart: true, sources: [{ sourceId: 'sensors' }] }],
  reactions: [{ kind: 'log', id: 'console', queries: ['hot'] }],
};

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A `Call` over HTTP to the API at `url`. */
export function httpCall(url: string): Call {
  return async (method, route, body) => {
    const response = await fetch(url + route, {
      method,
      ...(body !== undefined ? { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } } : {}),
    });
    const text = await response.text();
    return { status: response.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
  };
}

async function view(world: ScenarioWorld, name: string): Promise<View> {
  const [instance, status] = await Promise.all([world.call('GET', `/api/server/instances/${name}`), world.call('GET', `/api/status/${name}/status`)]);
  return { ...(instance.body as unknown as View), history: (status.body as unknown as View).history };
}

/** Polls the instance until `ready` holds (bounded), and returns the view that satisfied it. */
export async function until(world: ScenarioWorld, name: string, what: string, ready: (view: View) => boolean, timeoutMs = 30_000): Promise<View> {
  const end = Date.now() + timeoutMs;
  let last: View | undefined;
  while (Date.now() < end) {
    last = await view(world, name);
    if (ready(last)) return last;
    await sleep(50);
  }
  throw new Error(`${name}: ${what} not within ${timeoutMs} ms; last: ${JSON.stringify(last)}`);
}

/** The ids of a kind of component the server reports (its own component API). */
export async function serverComponents(url: string, kind: 'sources' | 'queries' | 'reactions'): Promise<string[]> {
  const response = await fetch(`${url}/api/v1/${kind}`, { signal: AbortSignal.timeout(5_000) });
  const body = (await response.json()) as { data: { id: string }[] };
  return body.data.map((component) => component.id).sort();
}

async function serverQueryText(url: string, id: string): Promise<unknown> {
  const response = await fetch(`${url}/api/v1/queries/${id}?view=full`, { signal: AbortSignal.timeout(5_000) });
  return ((await response.json()) as { data: { config: { query?: unknown } } }).data.config.query;
}

async function createAndStart(t: ExecutionContext, world: ScenarioWorld, name: string, extra: Record<string, unknown> = {}): Promise<View> {
  const created = await world.call('POST', '/api/server/instances', { name, configuration: pipeline, ...world.createFields, ...extra });
  t.is(created.status, 201, JSON.stringify(created.body));
  const started = await world.call('POST', `/api/server/instances/${name}/start`);
  t.is(started.status, 200, JSON.stringify(started.body));
  return until(world, name, 'Running', (v) => v.status === 'Running');
}

function patch(world: ScenarioWorld, name: string, operations: unknown[], query = ''): Promise<Answer> {
  return world.call('PATCH', `/api/configuration/instances/${name}${query}`, operations);
}

function serverUrl(world: ScenarioWorld, name: string, view: View): Promise<string> {
  return world.serverUrl ? world.serverUrl(name, view) : Promise.resolve(view.runtime!.url);
}

function condition(v: View, type: string) {
  return v.conditions.find((each) => each.type === type);
}

/** Hot applies (a query added, a query's text changed), then a server-level change that restarts, then the strategies. */
export async function configurationChanges(t: ExecutionContext, world: ScenarioWorld, name: string): Promise<void> {
  const running = await createAndStart(t, world, name);
  const workloadId = running.runtime!.workloadId;
  const url = await serverUrl(world, name, running);
  t.like(condition(running, 'ConfigApplied'), { status: 'True', reason: 'Applied' });

  // 1. A query added: applied through the server's own API, same workload.
  const added = await patch(world, name, [{ op: 'add', path: '/queries/-', value: { id: 'added', query: 'MATCH (n) RETURN n', sources: [{ sourceId: 'sensors' }] } }]);
  t.is(added.status, 200, JSON.stringify(added.body));
  t.is(added.body['generation'], 2);
  const hot = await until(world, name, 'generation 2 applied', (v) => v.status === 'Running' && v.observedGeneration === 2);
  t.is(hot.runtime!.workloadId, workloadId, 'the same server: no restart');
  t.is(hot.runtime!.generation, 2);
  t.deepEqual(await serverComponents(url, 'queries'), ['added', 'hot']);
  const applied = hot.history.find((entry) => entry.from === 'Reconfiguring' && entry.to === 'Running');
  t.regex(applied?.reason ?? '', /generation 2 applied without a restart: .*query "added"/, JSON.stringify(hot.history));
  t.like(condition(hot, 'ConfigApplied'), { status: 'True', reason: 'Applied' });

  // 2. A query's text changed: deleted and created again (there is no PUT for queries), same workload.
  await patch(world, name, [{ op: 'replace', path: '/queries/1/query', value: 'MATCH (m) RETURN m' }]);
  const rewritten = await until(world, name, 'generation 3 applied', (v) => v.status === 'Running' && v.observedGeneration === 3);
  t.is(rewritten.runtime!.workloadId, workloadId);
  t.is(await serverQueryText(url, 'added'), 'MATCH (m) RETURN m');
  t.deepEqual(await serverComponents(url, 'reactions'), ['console'], 'the reaction reading the other query is left alone');

  // 3. A server-level field: only a restart can apply it; the history says why.
  await patch(world, name, [{ op: 'add', path: '/logLevel', value: 'debug' }]);
  const restarted = await until(world, name, 'generation 4 running', (v) => v.status === 'Running' && v.observedGeneration === 4);
  t.not(restarted.runtime!.workloadId, workloadId, 'a new server');
  const why = restarted.history.findLast((entry) => entry.from === 'Reconfiguring' && entry.to === 'Stopping');
  t.regex(why?.reason ?? '', /not applied without a restart: .*logLevel/, JSON.stringify(restarted.history));
  const newUrl = await serverUrl(world, name, restarted);
  t.deepEqual(await serverComponents(newUrl, 'queries'), ['added', 'hot'], 'the restarted server runs the whole current generation');

  // 4. updateStrategy manual (this change only): recorded, not applied, until the next restart.
  await patch(world, name, [{ op: 'add', path: '/queries/-', value: { id: 'later', query: 'MATCH (l) RETURN l', sources: [{ sourceId: 'sensors' }] } }], '?updateStrategy=manual');
  const manual = await until(world, name, 'generation 5 recorded', (v) => v.generation === 5);
  await sleep(300);
  const still = await view(world, name);
  t.is(still.status, 'Running');
  t.is(still.observedGeneration, 4, 'the server still runs generation 4');
  t.is(still.runtime!.workloadId, restarted.runtime!.workloadId);
  t.like(condition(still, 'ConfigApplied'), { status: 'False', reason: 'NotApplied' });
  t.deepEqual(await serverComponents(newUrl, 'queries'), ['added', 'hot']);
  t.is(manual.generation, 5);
  const restart = await world.call('POST', `/api/server/instances/${name}/restart`);
  t.is(restart.status, 200);
  const afterRestart = await until(world, name, 'generation 5 running', (v) => v.status === 'Running' && v.observedGeneration === 5);
  t.deepEqual(await serverComponents(await serverUrl(world, name, afterRestart), 'queries'), ['added', 'hot', 'later'], 'a restart runs the current generation');

  // 5. updateStrategy restart: a component change restarts too.
  await patch(world, name, [{ op: 'remove', path: '/queries/2' }], '?updateStrategy=restart');
  const byRestart = await until(world, name, 'generation 6 running', (v) => v.status === 'Running' && v.observedGeneration === 6);
  t.not(byRestart.runtime!.workloadId, afterRestart.runtime!.workloadId);
  t.regex(byRestart.history.findLast((entry) => entry.from === 'Running' && entry.to === 'Stopping')?.reason ?? '', /update strategy restart/);
  t.deepEqual(await serverComponents(await serverUrl(world, name, byRestart), 'queries'), ['added', 'hot']);
}

/** A query deleted on the server behind DRaaS's back is back within a reconcile interval, and the history says so. */
export async function driftRepaired(t: ExecutionContext, world: ScenarioWorld, name: string, reconcileIntervalMs: number): Promise<void> {
  const running = await createAndStart(t, world, name);
  const url = await serverUrl(world, name, running);
  // The reaction reads the query: it goes first (the server refuses to delete what others depend on).
  for (const path of ['/api/v1/reactions/console', '/api/v1/queries/hot']) {
    const deleted = await fetch(`${url}${path}`, { method: 'DELETE', signal: AbortSignal.timeout(5_000) });
    t.is(deleted.status, 200, path);
  }
  const deletedAt = Date.now();
  t.deepEqual(await serverComponents(url, 'queries'), []);
  const repaired = await until(world, name, 'drift repaired', (v) => v.status === 'Running' && v.history.some((entry) => entry.cause === 'instance.drifted'), reconcileIntervalMs * 2 + 10_000);
  t.log(`repaired ${Date.now() - deletedAt} ms after the delete (reconcile interval ${reconcileIntervalMs} ms)`);
  t.is(repaired.runtime!.workloadId, running.runtime!.workloadId, 'repaired in place, not restarted');
  const drift = repaired.history.find((entry) => entry.cause === 'instance.drifted');
  // A check may fall between the two deletes and see only the reaction gone; the repair finds both.
  t.regex(drift?.reason ?? '', /drift: .*(query "hot"|reaction "console") is missing/, JSON.stringify(repaired.history));
  const repair = repaired.history.find((entry) => entry.from === 'Reconfiguring' && entry.to === 'Running')?.reason ?? '';
  t.regex(repair, /drift repaired: .*query "hot" is missing/, JSON.stringify(repaired.history));
  t.regex(repair, /reaction "console" is missing/);
  t.deepEqual(await serverComponents(url, 'queries'), ['hot']);
  t.deepEqual(await serverComponents(url, 'reactions'), ['console']);
  t.like(condition(repaired, 'Drifted'), { status: 'False', reason: 'Repaired' });

  // The last comparison, in detail; a check on demand finds it in sync now.
  const checked = await world.call('POST', `/api/server/instances/${name}/reconcile`);
  t.is(checked.status, 200);
  t.like(checked.body, { instanceId: name, outcome: 'in-sync', generation: 1, differences: [] });
  const last = await world.call('GET', `/api/status/${name}/drift`);
  t.like(last.body, { instanceId: name, outcome: 'in-sync' });
}

/** A component call the server refuses: the change is applied by a restart instead, and the history says which call failed. */
export async function failedCallRestarts(t: ExecutionContext, world: ScenarioWorld, name: string): Promise<void> {
  const running = await createAndStart(t, world, name, { environment: { DRASI_DOUBLE_FAIL_COMPONENT_CALLS: 'refused' } });
  await patch(world, name, [{ op: 'add', path: '/queries/-', value: { id: 'refused', query: 'MATCH (r) RETURN r', sources: [{ sourceId: 'sensors' }] } }]);
  const restarted = await until(world, name, 'generation 2 running', (v) => v.status === 'Running' && v.observedGeneration === 2);
  t.not(restarted.runtime!.workloadId, running.runtime!.workloadId, 'restarted');
  t.regex(restarted.history.find((entry) => entry.from === 'Reconfiguring' && entry.to === 'Stopping')?.reason ?? '', /POST \/api\/v1\/queries \(query "refused"\): 500/);
  t.deepEqual(await serverComponents(await serverUrl(world, name, restarted), 'queries'), ['hot', 'refused'], 'the new server runs it from its config');
}

/** A killed server: Failed with CrashLooping facts once it fails again soon, then Running again after the backoff. */
export async function crashRecovered(t: ExecutionContext, world: ScenarioWorld, name: string): Promise<void> {
  const running = await createAndStart(t, world, name);
  await world.kill(running.runtime!.workloadId, name);
  const failed = await until(world, name, 'Failed', (v) => v.status === 'Failed');
  t.like(condition(failed, 'CrashLooping'), { status: 'False', failures: 1 });
  const again = await until(world, name, 'Running again', (v) => v.status === 'Running' && v.runtime?.workloadId !== running.runtime!.workloadId);
  // Killed again soon after its start: the count goes on, and the condition says it is looping.
  await world.kill(again.runtime!.workloadId, name);
  const looping = await until(world, name, 'Failed again', (v) => v.status === 'Failed');
  const crashLooping = condition(looping, 'CrashLooping');
  t.like(crashLooping, { status: 'True', reason: 'BackOff', failures: 2 });
  t.truthy(crashLooping?.nextRetryAt);
  // A start retries at once.
  const retried = await world.call('POST', `/api/server/instances/${name}/start`);
  t.is(retried.status, 200);
  t.is((retried.body as { status?: string }).status, 'Running');
}

/**
 * Registers the four scenarios for one platform and mode. `world` builds a
 * fresh world per test (the instance's name is given, for what it must clean
 * up); `extra` runs after the configuration-change scenario with its world.
 */
export function registerScenarios<W extends ScenarioWorld>(
  register: (title: string, run: (t: ExecutionContext) => Promise<void>) => void,
  label: string,
  options: {
    world: (t: ExecutionContext, name: string) => Promise<W>;
    name: (prefix: string) => string;
    reconcileIntervalMs: number;
    afterChanges?: (t: ExecutionContext, world: W) => void;
  },
): void {
  const scenario = (title: string, run: (t: ExecutionContext, world: W, name: string) => Promise<void>, prefix: string) =>
    register(`${label}: ${title}`, async (t) => {
      const name = options.name(prefix);
      await run(t, await options.world(t, name), name);
    });
  scenario('config changes reach the running server without a restart where they can, with one where they must', async (t, world, name) => {
    await configurationChanges(t, world, name);
    options.afterChanges?.(t, world);
  }, 'rc-changes');
  scenario('a query and reaction deleted on the server are put back within a reconcile interval', (t, world, name) => driftRepaired(t, world, name, options.reconcileIntervalMs), 'rc-drift');
  scenario('a component call the server refuses makes the change a restart', failedCallRestarts, 'rc-refused');
  scenario('a killed server is Failed, backs off, counts a crash soon after its start, and runs again', crashRecovered, 'rc-crash');
}
