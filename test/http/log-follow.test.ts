/** Following logs through the control plane with the in-memory driver: the library API and the HTTP stream's end. */
import test from 'ava';
import { followLog } from '../helpers/follow-stream.js';
import { memoryControlPlane, serve } from '../helpers/memory-api.js';
import { waitFor } from '../helpers/processes.js';
import type { MemoryDriver } from '../fixtures/memory-driver.js';

function reads(driver: MemoryDriver, instanceId: string): number {
  return driver.calls.filter((call) => call.op === 'readLogs' && call.instanceId === instanceId).length;
}

test('followLogs yields the tail, then new lines once and in order (identical ones too), and ends when the signal aborts', async (t) => {
  const { controlPlane, driver } = await memoryControlPlane(t);
  await controlPlane.create({ name: 'lib' });
  await controlPlane.start('lib');
  driver.print('lib', 'old 1', 'old 2');
  const abort = new AbortController();
  const seen: string[] = [];
  const done = (async () => {
    for await (const line of controlPlane.followLogs('lib', { tail: 1, signal: abort.signal })) {
      seen.push(line);
      if (seen.length === 1) driver.print('lib', 'same', 'same', 'new 3');
      if (seen.length === 4) driver.print('lib', 'same');
      if (seen.length === 5) abort.abort();
    }
  })();
  await done;
  t.deepEqual(seen, ['old 2', 'same', 'same', 'new 3', 'same']);
  t.throws(() => controlPlane.followLogs('lib', { tail: -1 }), { message: /follow options/ });
});

test('a client that disconnects stops the polling at once', async (t) => {
  const { base, driver, controlPlane } = await serve(t);
  for (const name of ['gone', 'clock']) {
    await controlPlane.create({ name });
    await controlPlane.start(name);
  }
  driver.print('gone', 'hello');
  const log = await followLog(`${base}/api/server/instances/gone/logs?follow=true`);
  await log.until((line) => line === 'hello');
  await waitFor(() => reads(driver, 'gone') >= 3, 5_000, 'a few polls');
  log.disconnect();

  // Another follow's polls serve as the clock: no poll of the abandoned one after the server saw the close.
  const clock = new AbortController();
  t.teardown(() => clock.abort());
  void (async () => {
    for await (const _ of controlPlane.followLogs('clock', { signal: clock.signal })) void _;
  })();
  const clockReads = reads(driver, 'clock');
  await waitFor(() => reads(driver, 'clock') >= clockReads + 3, 5_000, 'three clock polls');
  const after = reads(driver, 'gone');
  await waitFor(() => reads(driver, 'clock') >= clockReads + 6, 5_000, 'three more clock polls');
  t.is(reads(driver, 'gone'), after, 'no more reads for the closed stream');
});

test('deleting a followed instance ends the stream with a final line', async (t) => {
  const { controlPlane } = await memoryControlPlane(t);
  await controlPlane.create({ name: 'doomed' });
  await controlPlane.start('doomed');
  const seen: string[] = [];
  for await (const line of controlPlane.followLogs('doomed', { tail: 5 })) {
    seen.push(line);
    if (line === 'log of doomed') await controlPlane.delete('doomed');
  }
  t.deepEqual(seen, ['log of doomed', '— instance "doomed" was deleted —']);
});
