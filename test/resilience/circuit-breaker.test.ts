/**
 * The circuit breaker's state machine, on a simulated clock: closed → open
 * after N consecutive failures or a failure ratio in the window; open refuses
 * until the jittered cool-down; half-open lets exactly one probe through; the
 * probe's success closes, its failure reopens for a doubled cool-down; stale
 * outcomes are ignored; a hung probe does not hold the circuit forever.
 */
import test from 'ava';
import { CircuitBreaker, type Admission, type CircuitSettings, type Permit } from '../../src/resilience/circuit-breaker.js';

function breaker(settings: Partial<CircuitSettings> = {}, random = () => 0) {
  let now = 1_000_000;
  const changes: string[] = [];
  const circuit = new CircuitBreaker('engine', {
    settings: { failureThreshold: 3, failureRatio: undefined, coolDownMs: 1_000, maxCoolDownMs: 8_000, jitter: 0.5, ...settings },
    clock: () => now,
    random,
    onChange: (state) => changes.push(state.status),
  });
  return { circuit, changes, advance: (ms: number) => (now += ms), now: () => now };
}

function permit(admission: Admission): Permit {
  if (!admission.admitted) throw new Error(`refused (retry in ${admission.retryAfterMs} ms)`);
  return admission.permit;
}

test('closed: successes keep it closed; N consecutive failures open it; a success in between resets the count', (t) => {
  const { circuit, changes } = breaker();
  circuit.failure(permit(circuit.admit()), 'e1');
  circuit.failure(permit(circuit.admit()), 'e2');
  circuit.success(permit(circuit.admit()));
  t.is(circuit.state().consecutiveFailures, 0);
  circuit.failure(permit(circuit.admit()), 'e3');
  circuit.failure(permit(circuit.admit()), 'e4');
  t.is(circuit.state().status, 'closed');
  circuit.failure(permit(circuit.admit()), 'e5');
  const state = circuit.state();
  t.is(state.status, 'open');
  t.is(state.consecutiveFailures, 3);
  t.is(state.lastError, 'e5');
  t.truthy(state.openedAt);
  t.deepEqual(changes, ['open']);
});

test('open: refused with the time until the probe; the cool-down carries up to `jitter` extra', (t) => {
  const { circuit, advance } = breaker({}, () => 1);
  for (let n = 0; n < 3; n++) circuit.failure(permit(circuit.admit()), 'down');
  const refused = circuit.admit();
  t.false(refused.admitted);
  if (!refused.admitted) {
    t.is(refused.retryAfterMs, 1_500, '1 000 ms cool-down + 50 % jitter at random = 1');
    t.is(refused.state.status, 'open');
  }
  t.is(Date.parse(circuit.state().nextProbeAt!) - Date.parse(circuit.state().openedAt!), 1_500);
  advance(1_499);
  t.false(circuit.admit().admitted);
});

test('jitter bounds: the probe time lies within [cool-down, cool-down·(1+jitter)]', (t) => {
  for (const random of [0, 0.25, 0.5, 0.999]) {
    const { circuit } = breaker({}, () => random);
    for (let n = 0; n < 3; n++) circuit.failure(permit(circuit.admit()), 'down');
    const wait = Date.parse(circuit.state().nextProbeAt!) - Date.parse(circuit.state().openedAt!);
    t.true(wait >= 1_000 && wait <= 1_500, `random ${random}: ${wait}`);
  }
});

test('half-open: one probe only; its success closes the circuit', (t) => {
  const { circuit, advance, changes } = breaker();
  for (let n = 0; n < 3; n++) circuit.failure(permit(circuit.admit()), 'down');
  advance(1_000);
  const probe = permit(circuit.admit());
  t.true(probe.probe);
  t.is(circuit.state().status, 'half-open');
  t.false(circuit.admit().admitted, 'a second caller is refused while the probe runs');
  circuit.success(probe);
  t.is(circuit.state().status, 'closed');
  t.is(circuit.state().consecutiveFailures, 0);
  t.is(circuit.state().openedAt, null);
  t.is(circuit.state().lastError, 'down', 'the last failure is kept for the record');
  t.true(circuit.admit().admitted);
  t.deepEqual(changes, ['open', 'half-open', 'closed']);
});

test('half-open: a failed probe reopens it for a doubled cool-down, capped', (t) => {
  const { circuit, advance } = breaker();
  for (let n = 0; n < 3; n++) circuit.failure(permit(circuit.admit()), 'down');
  const waits: number[] = [];
  for (let round = 0; round < 5; round++) {
    const state = circuit.state();
    const wait = Date.parse(state.nextProbeAt!) - Date.parse(state.openedAt!);
    waits.push(wait);
    advance(wait);
    circuit.failure(permit(circuit.admit()), 'still down');
    t.is(circuit.state().status, 'open');
  }
  t.deepEqual(waits, [1_000, 2_000, 4_000, 8_000, 8_000]);
  // A success after that starts over from the first cool-down.
  const state = circuit.state();
  advance(Date.parse(state.nextProbeAt!) - Date.parse(state.openedAt!));
  circuit.success(permit(circuit.admit()));
  for (let n = 0; n < 3; n++) circuit.failure(permit(circuit.admit()), 'down again');
  const reopened = circuit.state();
  t.is(Date.parse(reopened.nextProbeAt!) - Date.parse(reopened.openedAt!), 1_000);
});

test('outcomes of calls admitted before the circuit changed are ignored', (t) => {
  const { circuit, advance } = breaker();
  const slow = permit(circuit.admit());
  for (let n = 0; n < 3; n++) circuit.failure(permit(circuit.admit()), 'down');
  circuit.success(slow); // began while closed: says nothing about now
  t.is(circuit.state().status, 'open');
  advance(1_000);
  const probe = permit(circuit.admit());
  const late = slow;
  circuit.failure(late, 'late failure');
  t.is(circuit.state().status, 'half-open', 'a stale failure does not reopen it');
  circuit.success(probe);
  t.is(circuit.state().status, 'closed');
});

test('a probe that never ends: after a cool-down another one is let through; a released probe frees its place at once', (t) => {
  const { circuit, advance } = breaker();
  for (let n = 0; n < 3; n++) circuit.failure(permit(circuit.admit()), 'down');
  advance(1_000);
  permit(circuit.admit()); // hangs forever
  advance(999);
  t.false(circuit.admit().admitted);
  advance(1);
  const second = permit(circuit.admit());
  t.true(second.probe);
  circuit.release(second);
  t.true(permit(circuit.admit()).probe, 'released: the next caller probes');
});

test('failure ratio: opens when the window holds enough calls and enough of them failed; old calls leave the window', (t) => {
  const { circuit, advance } = breaker({ failureThreshold: 100, failureRatio: 0.5, minimumCalls: 4, windowMs: 10_000 });
  circuit.failure(permit(circuit.admit()), 'a');
  circuit.success(permit(circuit.admit()));
  circuit.failure(permit(circuit.admit()), 'b');
  t.is(circuit.state().status, 'closed', 'three calls: below the minimum');
  advance(11_000); // all three leave the window
  circuit.success(permit(circuit.admit()));
  circuit.success(permit(circuit.admit()));
  circuit.failure(permit(circuit.admit()), 'c');
  t.is(circuit.state().status, 'closed', '1 of 3 in the window');
  circuit.failure(permit(circuit.admit()), 'd');
  t.is(circuit.state().status, 'open', '2 of 4 failed: the ratio is reached');
});

test('reset closes at once and forgets the failures', (t) => {
  const { circuit } = breaker();
  for (let n = 0; n < 3; n++) circuit.failure(permit(circuit.admit()), 'down');
  circuit.reset();
  t.is(circuit.state().status, 'closed');
  t.is(circuit.state().consecutiveFailures, 0);
  t.true(circuit.admit().admitted);
});

test('settings are checked', (t) => {
  t.throws(() => new CircuitBreaker('x', { settings: { failureThreshold: 0 } }), { instanceOf: RangeError });
  t.throws(() => new CircuitBreaker('x', { settings: { coolDownMs: 10, maxCoolDownMs: 5 } }), { instanceOf: RangeError });
  t.throws(() => new CircuitBreaker('x', { settings: { failureRatio: 1.5 } }), { instanceOf: RangeError });
});
