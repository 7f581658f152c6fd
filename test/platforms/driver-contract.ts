/**
 * The platform driver contract (src/platforms/driver.ts), as one ava suite
 * that runs against every driver: the memory double, process, Docker and
 * Kubernetes. Each driver's test file describes its platform with a
 * `DriverHarness` and calls `registerDriverContract(test, harness)`.
 *
 * What a harness must provide, and why:
 * - `open(t)`: a driver with state of its own for one test (a data dir, a
 *   port range, a namespace), everything it made removed at teardown; and,
 *   through the fixture, what the contract cannot do through the driver:
 *   build a spec for a server that behaves a certain way, kill a workload
 *   behind the driver's back, look at the platform directly, make a second
 *   driver over the same state (a restarted worker), make an orphan.
 * - `capabilities`: the optional driver methods it has; checked against the
 *   driver, so a harness cannot claim less (or more) than it has.
 * - `platformOptions`: options the platform takes and options it must refuse
 *   with `BadRequestError` before creating anything.
 * - `orphans`: what `recover` does with a workload of its platform that no
 *   state recorded (this differs by platform; the harness says which and why).
 *
 * Timing: every wait is bounded and generous (machines are loaded); a failing
 * start never waits for `startTimeoutMs`, only for its own short timeout.
 */
import type { ExecutionContext, TestFn } from 'ava';
import { BadRequestError, WorkloadFailedError } from '../../src/errors.js';
import type { PlatformDriver, RecoveryReport, WorkloadEvent, WorkloadRef, WorkloadSpec } from '../../src/platforms/driver.js';

/** How the server of a spec behaves (the Drasi Server double's knobs, or the platform's equivalent). */
export interface ServerBehaviour {
  /** Takes this long before it is healthy (answers /health, or passes its readiness probe). */
  startupDelayMs?: number;
  /** Exits by itself this long after it became healthy, with `exitCode` (default 3). */
  exitAfterMs?: number;
  exitCode?: number;
  /** Ignores SIGINT (the graceful stop): only the hard kill after the grace period ends it. */
  ignoreSigint?: boolean;
  /** Its config is rejected: it prints an `Error: …` line and exits with code 1 before it is healthy. */
  badConfig?: boolean;
}

export interface DriverHarness {
  /** Names the platform in test titles. */
  readonly name: string;
  /** Run the tests one at a time (an engine that many parallel workloads would overload). */
  readonly serial?: boolean;
  /** The optional `PlatformDriver` methods this driver has. */
  readonly capabilities: { recover: boolean; reap: boolean; availability: boolean };
  /** Time a healthy server may take to start under load (the default `startTimeoutMs` of `spec`). */
  readonly startTimeoutMs: number;
  readonly platformOptions: {
    /** Options the platform takes (the start succeeds). */
    valid: Record<string, unknown>;
    /** Options it must refuse with `BadRequestError`, before anything is created. */
    invalid: Record<string, unknown>[];
  };
  /**
   * What `recover` does with an orphan (see `DriverFixture.makeOrphan`):
   * `killed` (and reported lost), or `adopted` (the control plane then reports
   * it as an orphan, since no instance record knows it). Omitted when the
   * platform cannot have orphans.
   */
  readonly orphans?: { fate: 'killed' | 'adopted'; why: string };
  open(t: ExecutionContext): Promise<DriverFixture>;
}

export interface DriverFixture {
  /** The driver under test; closed at teardown. */
  readonly driver: PlatformDriver;
  /** A line every workload prints when it starts (e.g. the double's `{"event":"started",…}`). */
  readonly startedLine: RegExp;
  /** A fresh instance id (a DNS-1123 label) no other test, here or in a parallel process, uses on the platform. */
  instanceId(prefix: string): string;
  /** A spec for `instanceId` whose server behaves as told; `startTimeoutMs` defaults to the harness's. */
  spec(instanceId: string, behaviour?: ServerBehaviour & { startTimeoutMs?: number; generation?: number; platformOptions?: Record<string, unknown> }): WorkloadSpec;
  /** Ids of the instance's workloads that run now, as the platform itself (not the driver) sees them. */
  running(instanceId: string): Promise<string[]>;
  /** Kills the workload behind the driver's back (SIGKILL to the process, `docker kill`, the pod deleted). */
  kill(ref: WorkloadRef): Promise<void>;
  /**
   * Kills the workload while no driver watches (after `driver` was closed),
   * leaving whatever record of it the platform keeps as a worker that died
   * would (a state file, an exited container).
   */
  killUnwatched(ref: WorkloadRef): Promise<void>;
  /** A second driver over the same state, as a restarted worker creates it (only with `capabilities.recover`); closed at teardown. */
  restart(): Promise<PlatformDriver>;
  /** Runs a workload of the platform for `instanceId` that no state recorded (only with `orphans`). */
  makeOrphan?(instanceId: string): Promise<void>;
}

const stopFast = { graceMs: 5_000 };

export function registerDriverContract(test: TestFn, harness: DriverHarness): void {
  const register = harness.serial ? test.serial : test;
  const title = (what: string): string => `${harness.name} driver contract: ${what}`;

  register(title('the optional methods are the ones the harness names'), async (t) => {
    const { driver } = await harness.open(t);
    t.is(typeof driver.recover === 'function', harness.capabilities.recover, 'recover');
    t.is(typeof driver.reap === 'function', harness.capabilities.reap, 'reap');
    t.is(typeof driver.availability === 'function', harness.capabilities.availability, 'availability');
    if (driver.availability) t.deepEqual(await driver.availability(), { available: true });
  });

  register(title('start resolves with a ref once the server is healthy; inspect and list show it'), async (t) => {
    const fixture = await harness.open(t);
    const { driver } = fixture;
    const id = fixture.instanceId('alpha');
    const ref = await driver.start(fixture.spec(id, { generation: 3 }));
    t.like(ref, { instanceId: id, platform: driver.platform, generation: 3 });
    t.true(ref.workloadId.length > 0);
    t.true(Number.isInteger(ref.port) && ref.port > 0);
    t.false(Number.isNaN(Date.parse(ref.startedAt)), 'startedAt is a time');
    t.deepEqual(await fixture.running(id), [ref.workloadId]);
    t.deepEqual(await driver.inspect(id), { state: 'running', ref });
    t.deepEqual(await driver.list(), [ref]);
    t.deepEqual(await driver.inspect(fixture.instanceId('nobody')), { state: 'absent' });
  });

  register(title('a second start of a running instance, concurrent or later, resolves with the same ref and runs one workload'), async (t) => {
    const fixture = await harness.open(t);
    const id = fixture.instanceId('twice');
    const [first, second] = await Promise.all([fixture.driver.start(fixture.spec(id)), fixture.driver.start(fixture.spec(id))]);
    t.deepEqual(second, first);
    t.deepEqual(await fixture.driver.start(fixture.spec(id, { generation: 2 })), first, 'a later start, even of another generation');
    t.deepEqual(await fixture.running(id), [first.workloadId]);
  });

  register(title('a server that exits at once fails the start with its exit code and last log lines, and leaves nothing running'), async (t) => {
    const fixture = await harness.open(t);
    const id = fixture.instanceId('broken');
    const error = await t.throwsAsync(fixture.driver.start(fixture.spec(id, { badConfig: true })), { instanceOf: WorkloadFailedError });
    t.regex(error.message, /exited with code 1 before becoming healthy/);
    t.like(error.details, { exitCode: 1 });
    const lines = error.details['lastLogLines'];
    t.true(Array.isArray(lines) && lines.some((line) => /Error/.test(String(line))), `lastLogLines: ${JSON.stringify(lines)}`);
    t.deepEqual(await fixture.running(id), []);
    t.deepEqual(await fixture.driver.list(), []);
    t.not((await fixture.driver.inspect(id)).state, 'running');
  });

  register(title('a server not healthy within the start timeout is killed and the start fails'), async (t) => {
    const fixture = await harness.open(t);
    const id = fixture.instanceId('slow');
    const before = Date.now();
    const error = await t.throwsAsync(fixture.driver.start(fixture.spec(id, { startupDelayMs: 120_000, startTimeoutMs: 500 })), { instanceOf: WorkloadFailedError });
    t.true(Date.now() - before < 60_000, 'the start timeout ended the start, not the server');
    t.regex(error.message, /did not become healthy within 500 ms/);
    t.true(Array.isArray(error.details['lastLogLines']));
    await eventually(async () => (await fixture.running(id)).length === 0, 10_000, 'nothing runs');
    t.deepEqual(await fixture.driver.list(), []);
  });

  register(title('an aborted start fails and leaves nothing running; an already aborted one creates nothing'), async (t) => {
    const fixture = await harness.open(t);
    const id = fixture.instanceId('aborted');
    const controller = new AbortController();
    const starting = fixture.driver.start(fixture.spec(id, { startupDelayMs: 120_000 }), { signal: controller.signal });
    setTimeout(() => controller.abort(), 300);
    await t.throwsAsync(starting, { instanceOf: WorkloadFailedError, message: /aborted/ });
    await eventually(async () => (await fixture.running(id)).length === 0, 10_000, 'nothing runs');
    const never = fixture.instanceId('never');
    await t.throwsAsync(fixture.driver.start(fixture.spec(never), { signal: AbortSignal.abort() }), { instanceOf: WorkloadFailedError, message: /aborted/ });
    t.deepEqual(await fixture.running(never), []);
    t.deepEqual(await fixture.driver.inspect(never), { state: 'absent' });
    t.deepEqual(await fixture.driver.list(), []);
  });

  register(title('stop is graceful: the server exits on SIGINT, the exit is requested and reported; stop and remove are idempotent'), async (t) => {
    const fixture = await harness.open(t);
    const { driver } = fixture;
    const id = fixture.instanceId('beta');
    const events: WorkloadEvent[] = [];
    driver.watch((event) => events.push(event));
    const ref = await driver.start(fixture.spec(id));
    const outcome = await driver.stop(id, stopFast);
    t.like(outcome, { wasRunning: true, exit: { exitCode: 0, signal: null, requested: true } });
    t.deepEqual(await fixture.running(id), []);
    t.like(await driver.inspect(id), { state: 'exited', ref, exit: { exitCode: 0, requested: true } });
    t.deepEqual(await driver.list(), []);
    t.like(events.filter((event) => event.type === 'exited'), [{ instanceId: id, ref, exit: { exitCode: 0, requested: true } }]);
    t.deepEqual(await driver.stop(id, stopFast), { wasRunning: false }, 'stopping what is stopped');
    t.deepEqual(await driver.stop(fixture.instanceId('never'), stopFast), { wasRunning: false }, 'stopping what never ran');

    await driver.remove(id, stopFast);
    t.deepEqual(await driver.inspect(id), { state: 'absent' });
    await driver.remove(id, stopFast);
    await driver.remove(fixture.instanceId('never'), stopFast);
    // Removing a running instance stops it first.
    const other = fixture.instanceId('gamma');
    await driver.start(fixture.spec(other));
    await driver.remove(other, stopFast);
    t.deepEqual(await fixture.running(other), []);
    t.deepEqual(await driver.inspect(other), { state: 'absent' });
  });

  register(title('a server that ignores SIGINT is killed after the grace period'), async (t) => {
    const fixture = await harness.open(t);
    const id = fixture.instanceId('stubborn');
    await fixture.driver.start(fixture.spec(id, { ignoreSigint: true }));
    const before = Date.now();
    const outcome = await fixture.driver.stop(id, { graceMs: 1_000 });
    const took = Date.now() - before;
    t.true(took >= 950 && took < 30_000, `took ${took} ms`);
    t.like(outcome, { wasRunning: true, exit: { signal: 'SIGKILL', requested: true } });
    t.deepEqual(await fixture.running(id), []);
  });

  register(title('an exit nobody asked for reaches watch listeners with its exit code and last log lines'), async (t) => {
    const fixture = await harness.open(t);
    const { driver } = fixture;
    const events: WorkloadEvent[] = [];
    driver.watch((event) => events.push(event));
    const unheard: WorkloadEvent[] = [];
    driver.watch((event) => unheard.push(event))();
    const exited = () => events.filter((event) => event.type === 'exited');

    const quitter = fixture.instanceId('quitter');
    // Long enough after it became healthy that a loaded machine's start still sees it healthy first.
    const ref = await driver.start(fixture.spec(quitter, { exitAfterMs: 3_000, exitCode: 3 }));
    await eventually(() => exited().length === 1, 15_000, 'the exit of the quitter');
    t.like(exited()[0], { type: 'exited', instanceId: quitter, ref, exit: { exitCode: 3, requested: false } });
    const event = exited()[0];
    if (event?.type === 'exited') {
      t.true(event.exit.lastLogLines.length > 0 && event.exit.lastLogLines.length <= 100, `lastLogLines: ${event.exit.lastLogLines.length}`);
      t.false(Number.isNaN(Date.parse(event.at)));
    }
    t.like(await driver.inspect(quitter), { state: 'exited', ref, exit: { exitCode: 3, requested: false } });

    const victim = fixture.instanceId('victim');
    const victimRef = await driver.start(fixture.spec(victim));
    await fixture.kill(victimRef);
    await eventually(() => exited().length === 2, 15_000, 'the exit of the killed one');
    t.like(exited()[1], { instanceId: victim, ref: victimRef, exit: { requested: false } });
    t.like(await driver.inspect(victim), { state: 'exited', exit: { requested: false } });
    t.deepEqual(await driver.list(), []);
    t.deepEqual(unheard, [], 'an unsubscribed listener hears nothing');
    // A new start runs a new workload.
    const next = await driver.start(fixture.spec(victim));
    t.not(next.workloadId, victimRef.workloadId);
  });

  register(title('inspect never answers absent while an exit is being recorded: it waits for the exit and its facts'), async (t) => {
    // A control plane that verifies a workload (after a worker returned) at the moment it dies must not
    // be told "absent": it would record a failure without its exit code and reason.
    const fixture = await harness.open(t);
    const { driver } = fixture;
    const id = fixture.instanceId('dying');
    const ref = await driver.start(fixture.spec(id, { exitAfterMs: 1_500, exitCode: 3 }));
    const answers: string[] = [];
    const deadline = Date.now() + 20_000;
    let state = await driver.inspect(id);
    while (state.state === 'running' && Date.now() < deadline) {
      answers.push(state.state);
      await new Promise((resolve) => setTimeout(resolve, 2));
      state = await driver.inspect(id);
    }
    t.true(answers.length > 0, 'it was seen running first');
    t.like(state, { state: 'exited', ref, exit: { exitCode: 3, requested: false } }, `the first answer after running: ${JSON.stringify(state)}`);
  });

  register(title('logs: the newest lines, also after the exit'), async (t) => {
    const fixture = await harness.open(t);
    const { driver } = fixture;
    const id = fixture.instanceId('chatty');
    await driver.start(fixture.spec(id));
    await eventually(async () => (await driver.logs(id, { tail: 100 })).some((line) => fixture.startedLine.test(line)), 10_000, 'the started line');
    t.is((await driver.logs(id, { tail: 1 })).length, 1);
    await driver.stop(id, stopFast);
    t.true((await driver.logs(id, { tail: 100 })).some((line) => fixture.startedLine.test(line)), 'kept after the exit');
    await driver.remove(id, stopFast);
    t.deepEqual(await driver.logs(id, { tail: 100 }), [], 'gone with a remove');
  });

  register(title('readLogs follows with a cursor: across a restart the rest, a marker, then the new workload; a foreign cursor says so'), async (t) => {
    const fixture = await harness.open(t);
    const { driver } = fixture;
    const id = fixture.instanceId('phoenix');
    await driver.start(fixture.spec(id));
    let first = await driver.readLogs(id, { tail: 100 });
    await eventually(async () => {
      first = await driver.readLogs(id, { tail: 100 });
      return first.lines.some((line) => fixture.startedLine.test(line));
    }, 10_000, 'the started line');
    await driver.stop(id, stopFast);
    const second = await driver.start(fixture.spec(id, { generation: 2 }));

    const followed: string[] = [];
    let cursor = first.cursor;
    const markerAt = (): number => followed.findIndex((line) => /new workload .*\(generation 2\) started/.test(line));
    await eventually(async () => {
      const read = await driver.readLogs(id, { tail: 100, after: cursor });
      followed.push(...read.lines);
      cursor = read.cursor;
      return markerAt() !== -1 && followed.slice(markerAt()).some((line) => fixture.startedLine.test(line));
    }, 15_000, 'the marker and the new workload\'s first lines');
    const marker = markerAt();
    t.true(followed.slice(0, marker).some((line) => /shutting down/.test(line) || line.startsWith('…')), `before the marker: the old workload's rest, or why not: ${JSON.stringify(followed.slice(0, marker))}`);
    t.is(followed.slice(marker).filter((line) => fixture.startedLine.test(line)).length, 1, 'the new workload\'s lines once');
    t.false(followed.slice(0, marker).some((line) => fixture.startedLine.test(line)), 'nothing read before is read again');
    t.is(followed.filter((line) => line === followed[marker]).length, 1, 'one marker');
    t.like(await driver.inspect(id), { state: 'running', ref: { workloadId: second.workloadId } });

    const foreign = await driver.readLogs(id, { tail: 5, after: 'not-a-cursor' });
    t.true(foreign.lines[0]?.startsWith('…'), `a marker first: ${JSON.stringify(foreign.lines)}`);
    t.false(foreign.lines.some((line) => fixture.startedLine.test(line)), 'and continues at the end');
  });

  register(title('bad platform options are refused with BadRequestError before anything is created'), async (t) => {
    const fixture = await harness.open(t);
    for (const [index, platformOptions] of harness.platformOptions.invalid.entries()) {
      const id = fixture.instanceId(`bad${index}`);
      await t.throwsAsync(fixture.driver.start(fixture.spec(id, { platformOptions })), { instanceOf: BadRequestError }, JSON.stringify(platformOptions));
      t.deepEqual(await fixture.running(id), []);
      t.deepEqual(await fixture.driver.inspect(id), { state: 'absent' });
    }
    const good = fixture.instanceId('good');
    const ref = await fixture.driver.start(fixture.spec(good, { platformOptions: harness.platformOptions.valid }));
    t.deepEqual(await fixture.running(good), [ref.workloadId]);
  });

  if (harness.capabilities.recover) registerRecovery(register, title, harness);
  if (harness.capabilities.reap) registerReap(register, title, harness);
  if (harness.orphans) registerOrphans(register, title, harness, harness.orphans);
}

type Register = TestFn['serial'];

function registerRecovery(register: Register, title: (what: string) => string, harness: DriverHarness): void {
  register(title('a second driver over the same state adopts the running workload without restarting it, and reports one killed meanwhile as lost'), async (t) => {
    const fixture = await harness.open(t);
    const keep = fixture.instanceId('keep');
    const gone = fixture.instanceId('gone');
    const kept = await fixture.driver.start(fixture.spec(keep));
    const lostRef = await fixture.driver.start(fixture.spec(gone));
    await fixture.driver.close();
    await fixture.killUnwatched(lostRef);

    const second = await fixture.restart();
    const ours = own(keep, gone);
    t.deepEqual(await second.list(), [], 'nothing known before recover');
    const events: WorkloadEvent[] = [];
    second.watch((event) => events.push(event));
    const report = ours(await second.recover!());
    t.deepEqual(report.adopted, [kept]);
    t.is(report.lost.length, 1);
    t.like(report.lost[0], { instanceId: gone, ref: { workloadId: lostRef.workloadId }, exit: { requested: false } });
    t.deepEqual(events, [], 'lost workloads are reported by recover, not as events');
    t.deepEqual(ours(await second.recover!()), { adopted: [], lost: [] }, 'a second recover adopts and reports nothing again');

    t.deepEqual(await fixture.running(keep), [kept.workloadId], 'the same workload, not restarted');
    t.deepEqual(await second.inspect(keep), { state: 'running', ref: kept });
    t.deepEqual((await second.list()).filter((ref) => ref.instanceId === keep), [kept]);
    t.deepEqual(await second.start(fixture.spec(keep)), kept, 'a start resolves with the adopted ref');
    t.like(await second.inspect(gone), { state: 'exited', exit: { requested: false } });

    // Adopted workloads are managed like started ones.
    const outcome = await second.stop(keep, stopFast);
    t.like(outcome, { wasRunning: true, exit: { requested: true } });
    await eventually(async () => (await fixture.running(keep)).length === 0, 10_000, 'the adopted workload stopped');
    t.like(events, [{ type: 'exited', instanceId: keep, exit: { requested: true } }]);
  });

  register(title('an adopted workload killed behind the driver\'s back is reported as an exit nobody asked for'), async (t) => {
    const fixture = await harness.open(t);
    const id = fixture.instanceId('victim');
    const ref = await fixture.driver.start(fixture.spec(id));
    await fixture.driver.close();
    const second = await fixture.restart();
    t.deepEqual(own(id)(await second.recover!()).adopted, [ref]);
    const events: WorkloadEvent[] = [];
    second.watch((event) => events.push(event));
    await fixture.kill(ref);
    await eventually(() => events.length > 0, 15_000, 'the exit');
    t.like(events[0], { type: 'exited', instanceId: id, ref, exit: { requested: false } });
    t.deepEqual((await second.list()).filter((listed) => listed.instanceId === id), []);
  });
}

/**
 * The part of a recovery report about these instances: a platform shared
 * with other test processes (one Docker Engine) holds their workloads too,
 * and a driver re-adopts every workload of its platform it finds.
 */
function own(...instanceIds: string[]): (report: RecoveryReport) => RecoveryReport {
  const ids = new Set(instanceIds);
  return (report) => ({ adopted: report.adopted.filter((ref) => ids.has(ref.instanceId)), lost: report.lost.filter((lost) => ids.has(lost.instanceId)) });
}

function registerReap(register: Register, title: (what: string) => string, harness: DriverHarness): void {
  register(title('reap stops a workload a lost worker ran, once; never one that is gone'), async (t) => {
    const fixture = await harness.open(t);
    const id = fixture.instanceId('left');
    const ref = await fixture.driver.start(fixture.spec(id));
    await fixture.driver.close();
    const replacement = await fixture.restart();
    t.like(await replacement.reap!(ref, { graceMs: 2_000 }), { reaped: true });
    await eventually(async () => (await fixture.running(id)).length === 0, 10_000, 'the reaped workload is gone');
    t.like(await replacement.reap!(ref, { graceMs: 2_000 }), { reaped: false });
  });
}

function registerOrphans(register: Register, title: (what: string) => string, harness: DriverHarness, orphans: { fate: 'killed' | 'adopted'; why: string }): void {
  register(title(`an orphan (a workload no state recorded) is ${orphans.fate} by recover`), async (t) => {
    t.log(orphans.why);
    const fixture = await harness.open(t);
    const id = fixture.instanceId('orphan');
    await fixture.makeOrphan!(id);
    await eventually(async () => (await fixture.running(id)).length === 1, 15_000, 'the orphan runs');
    await fixture.driver.close();
    const second = await fixture.restart();
    const report = own(id)(await second.recover!());
    if (orphans.fate === 'killed') {
      t.deepEqual(report.adopted, []);
      t.deepEqual(report.lost.map((lost) => lost.instanceId), [id]);
      await eventually(async () => (await fixture.running(id)).length === 0, 10_000, 'the orphan is gone');
      t.deepEqual((await second.list()).filter((ref) => ref.instanceId === id), []);
    } else {
      t.deepEqual(report.adopted.map((ref) => ref.instanceId), [id]);
      t.deepEqual(report.lost, []);
      t.deepEqual(await fixture.running(id), [report.adopted[0]!.workloadId], 'left running');
      await second.remove(id, stopFast);
      t.deepEqual(await fixture.running(id), [], 'and removable like any other');
    }
  });
}

/**
 * Resolves once `check` holds, polling every 100 ms for at most `timeoutMs`.
 * Not faster: a harness's `running` may scan /proc, and the tests around
 * this one probe their servers' health from the same event loop.
 */
async function eventually(check: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** A spec for the Drasi Server double (test/fixtures/drasi-server-double.mjs), for the drivers that run it. */
export function drasiDoubleSpec(
  instanceId: string,
  behaviour: ServerBehaviour & { startTimeoutMs?: number; generation?: number; platformOptions?: Record<string, unknown> },
  defaults: { startTimeoutMs: number },
): WorkloadSpec {
  const env: Record<string, string> = {};
  if (behaviour.startupDelayMs !== undefined) env['DRASI_DOUBLE_STARTUP_DELAY_MS'] = String(behaviour.startupDelayMs);
  if (behaviour.exitAfterMs !== undefined) env['DRASI_DOUBLE_EXIT_AFTER_MS'] = String(behaviour.exitAfterMs);
  if (behaviour.exitCode !== undefined) env['DRASI_DOUBLE_EXIT_CODE'] = String(behaviour.exitCode);
  if (behaviour.ignoreSigint) env['DRASI_DOUBLE_IGNORE_SIGINT'] = '1';
  return {
    instanceId,
    generation: behaviour.generation ?? 1,
    config: {
      id: instanceId,
      host: '127.0.0.1',
      logLevel: 'info',
      persistConfig: false,
      // The double knows no such source kind: it prints `Error: …` and exits 1.
      sources: behaviour.badConfig ? [{ kind: 'carrier-pigeon', id: 'coop' }] : [],
    },
    env,
    startTimeoutMs: behaviour.startTimeoutMs ?? defaults.startTimeoutMs,
    ...(behaviour.platformOptions !== undefined ? { platformOptions: behaviour.platformOptions } : {}),
  };
}
