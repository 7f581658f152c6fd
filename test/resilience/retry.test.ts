/**
 * The retry policy: full-jitter delays stay within their capped exponential
 * step, a deadline and the attempt count end the retries with the last
 * failure, a permanent failure is not repeated, an abort stops at once, and a
 * delay the failure asks for (Retry-After) is honoured, never shortened.
 */
import test from 'ava';
import { retry, retryDelayMs, type RetryPolicy } from '../../src/resilience/retry.js';

const policy: RetryPolicy = { attempts: 10, baseMs: 100, maxDelayMs: 1_000, deadlineMs: 60_000 };

/** A simulated clock whose sleep advances it (no real waiting). */
function fakeTime() {
  let now = 0;
  const slept: number[] = [];
  return {
    clock: () => now,
    sleep: async (ms: number) => {
      slept.push(ms);
      now += ms;
    },
    slept,
    advance: (ms: number) => {
      now += ms;
    },
  };
}

test('full jitter: each delay lies in [0, min(max, base·2^(n-1))], the extremes included', (t) => {
  for (let retryNumber = 1; retryNumber <= 8; retryNumber++) {
    const step = Math.min(1_000, 100 * 2 ** (retryNumber - 1));
    t.is(retryDelayMs(retryNumber, policy, () => 0), 0);
    t.is(retryDelayMs(retryNumber, policy, () => 0.999999), step, `retry ${retryNumber}`);
    for (let n = 0; n < 50; n++) {
      const delay = retryDelayMs(retryNumber, policy);
      t.true(delay >= 0 && delay <= step && Number.isInteger(delay), `retry ${retryNumber}: ${delay}`);
    }
  }
  t.is(retryDelayMs(1_000, policy, () => 0.999999), 1_000, 'a huge retry number is capped, not overflowed');
});

test('retries transient failures until success, with jittered delays', async (t) => {
  const time = fakeTime();
  let calls = 0;
  const result = await retry(
    async (attempt) => {
      calls++;
      t.is(attempt, calls);
      if (calls < 4) throw new Error('transient');
      return 'done';
    },
    { policy, retryable: () => true, clock: time.clock, sleep: time.sleep, random: () => 0.5 },
  );
  t.is(result, 'done');
  t.is(calls, 4);
  t.deepEqual(time.slept, [50, 100, 200]);
});

test('a permanent failure is thrown at once, unrepeated', async (t) => {
  let calls = 0;
  const error = await t.throwsAsync(
    retry(
      async () => {
        calls++;
        throw new Error('permanent');
      },
      { policy, retryable: (failure) => (failure as Error).message !== 'permanent' },
    ),
  );
  t.is(error?.message, 'permanent');
  t.is(calls, 1);
});

test('out of attempts: the last failure is thrown', async (t) => {
  const time = fakeTime();
  let calls = 0;
  const error = await t.throwsAsync(
    retry(
      async () => {
        calls++;
        throw new Error(`failure ${calls}`);
      },
      { policy: { ...policy, attempts: 3 }, retryable: () => true, clock: time.clock, sleep: time.sleep },
    ),
  );
  t.is(calls, 3);
  t.is(error?.message, 'failure 3');
});

test('the deadline: no delay is waited that would end past it, counting the time the calls took', async (t) => {
  const time = fakeTime();
  let calls = 0;
  const error = await t.throwsAsync(
    retry(
      async () => {
        calls++;
        time.advance(300); // each call takes 300 ms
        throw new Error(`failure ${calls}`);
      },
      { policy: { ...policy, deadlineMs: 1_000 }, retryable: () => true, clock: time.clock, sleep: time.sleep, random: () => 0.999999 },
    ),
  );
  // 300 (call) + 100 (delay) + 300 + 200 = 900; the next delay (400) would end at 1 500 > 1 000.
  t.is(calls, 3);
  t.is(error?.message, 'failure 3');
  t.true(time.clock() <= 1_000 + 300);
});

test('an abort during a delay stops at once with the signal’s reason', async (t) => {
  const controller = new AbortController();
  let calls = 0;
  const began = Date.now();
  const running = retry(
    async () => {
      calls++;
      if (calls === 1) setTimeout(() => controller.abort(new Error('caller gave up')), 20);
      throw new Error('transient');
    },
    { policy: { ...policy, baseMs: 10_000, maxDelayMs: 10_000 }, retryable: () => true, signal: controller.signal, random: () => 0.999999 },
  );
  const error = await t.throwsAsync(running);
  t.is(error?.message, 'caller gave up');
  t.is(calls, 1);
  t.true(Date.now() - began < 2_000, 'did not wait out the 10 s delay');
});

test('an already aborted signal runs nothing', async (t) => {
  const controller = new AbortController();
  controller.abort(new Error('gone'));
  let calls = 0;
  const error = await t.throwsAsync(
    retry(async () => {
      calls++;
    }, { policy, retryable: () => true, signal: controller.signal }),
  );
  t.is(error?.message, 'gone');
  t.is(calls, 0);
});

test('a delay the failure asks for is waited as it is, and one past the deadline gives up', async (t) => {
  const time = fakeTime();
  let calls = 0;
  await retry(
    async () => {
      calls++;
      if (calls === 1) throw Object.assign(new Error('busy'), { retryAfterMs: 2_500 });
      return 'ok';
    },
    { policy, retryable: () => true, delayHint: (error) => (error as { retryAfterMs?: number }).retryAfterMs, clock: time.clock, sleep: time.sleep },
  );
  t.deepEqual(time.slept, [2_500], 'above maxDelayMs, still honoured');

  const short = fakeTime();
  const error = await t.throwsAsync(
    retry(
      async () => {
        throw Object.assign(new Error('busy for long'), { retryAfterMs: 5_000 });
      },
      { policy: { ...policy, deadlineMs: 2_000 }, retryable: () => true, delayHint: (failure) => (failure as { retryAfterMs?: number }).retryAfterMs, clock: short.clock, sleep: short.sleep },
    ),
  );
  t.is(error?.message, 'busy for long');
  t.deepEqual(short.slept, [], 'a wait past the deadline is not begun');
});
