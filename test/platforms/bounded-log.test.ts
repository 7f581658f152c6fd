import test from 'ava';
import { appendFileSync, closeSync, readFileSync, statSync, writeFileSync, writeSync } from 'node:fs';
import path from 'node:path';
import { BoundedLog, readLastLines } from '../../src/platforms/bounded-log.js';
import { tempDir } from './_support.js';

function lines(from: number, to: number): string {
  let text = '';
  for (let i = from; i <= to; i++) text += `line ${i}\n`;
  return text;
}

test('readLastLines reads the newest lines, newest last', async (t) => {
  const dir = await tempDir(t, 'bounded-log-');
  const file = path.join(dir, 'a.log');
  t.deepEqual(await readLastLines(file, 3), [], 'a missing file has no lines');
  writeFileSync(file, lines(1, 100_000));
  t.deepEqual(await readLastLines(file, 3), ['line 99998', 'line 99999', 'line 100000']);
  t.deepEqual(await readLastLines(file, 0), []);
  writeFileSync(file, 'one\r\ntwo\nthree without newline');
  t.deepEqual(await readLastLines(file, 5), ['one', 'two', 'three without newline']);
});

test('rotation keeps the newest bytes from a line start in .1 and empties the live file; the writer goes on', async (t) => {
  const dir = await tempDir(t, 'bounded-log-');
  const log = new BoundedLog({ path: path.join(dir, 'server.log'), maxBytes: 1000 });
  const fd = log.openForWriter();
  t.teardown(() => closeSync(fd));
  writeSync(fd, lines(1, 500));
  t.true(await log.enforce());
  t.is(statSync(log.path).size, 0);
  const rotated = readFileSync(log.rotatedPath, 'utf8');
  t.true(rotated.length <= 1000);
  t.true(rotated.startsWith('line '), 'starts at a line start');
  t.true(rotated.endsWith('line 500\n'));
  t.is(log.rotations, 1);
  // O_APPEND: the next write lands at the new end, not at the old offset.
  writeSync(fd, 'after\n');
  t.is(readFileSync(log.path, 'utf8'), 'after\n');
  t.false(await log.enforce(), 'under the bound: nothing to do');
  t.deepEqual(await log.tail(3), ['line 499', 'line 500', 'after']);
  t.deepEqual(await log.tail(3, { includeRotated: false }), ['after']);
});

test('a new writer starts a fresh file; the previous run becomes .1', async (t) => {
  const dir = await tempDir(t, 'bounded-log-');
  const log = new BoundedLog({ path: path.join(dir, 'server.log'), maxBytes: 1000 });
  appendFileSync(log.path, 'first run\n');
  const fd = log.openForWriter();
  writeSync(fd, 'second run\n');
  closeSync(fd);
  t.is(readFileSync(log.rotatedPath, 'utf8'), 'first run\n');
  t.deepEqual(await log.tail(10), ['first run', 'second run']);
});

test('watching enforces the bound in the background', async (t) => {
  const dir = await tempDir(t, 'bounded-log-');
  const log = new BoundedLog({ path: path.join(dir, 'server.log'), maxBytes: 1000, checkIntervalMs: 20 });
  const fd = log.openForWriter();
  t.teardown(() => {
    log.stopWatching();
    closeSync(fd);
  });
  log.startWatching();
  writeSync(fd, lines(1, 1000));
  const end = Date.now() + 2_000;
  while (statSync(log.path).size > 1000 && Date.now() < end) await new Promise((resolve) => setTimeout(resolve, 10));
  t.true(statSync(log.path).size <= 1000);
});

test('readAfter delivers every line once across a rotation (from .1), and says so when lines cannot be delivered', async (t) => {
  const dir = await tempDir(t, 'bounded-log-');
  const log = new BoundedLog({ path: path.join(dir, 'server.log'), maxBytes: 1000 });
  const fd = log.openForWriter();
  t.teardown(() => closeSync(fd));
  writeSync(fd, lines(1, 3) + 'partial');
  const start = await log.tailWithPosition(2, false);
  t.deepEqual(start.lines, ['line 2', 'line 3'], 'the tail stops before the line still being written');
  writeSync(fd, ' line\nsame\nsame\n');
  const next = await log.readAfter(start.position, false);
  t.deepEqual(next.lines, ['partial line', 'same', 'same']);

  // One rotation between two reads: the rest comes from the rotated file, then the live one.
  writeSync(fd, lines(4, 200));
  t.true(await log.enforce());
  writeSync(fd, lines(201, 202));
  const across = await log.readAfter(next.position, false);
  t.true(across.lines[0]!.startsWith('… '), 'bytes the rotation did not keep are counted');
  t.regex(across.lines[0]!, /^… \d+ bytes skipped \(log rotated\)$/);
  const delivered = across.lines.slice(1).map((line) => Number(line.slice(5)));
  t.deepEqual(delivered, Array.from({ length: delivered.length }, (_, i) => 203 - delivered.length + i), 'the kept lines, in order, to the newest');

  // A short hop: the rotation kept everything after the position.
  writeSync(fd, lines(203, 210));
  const close = await log.readAfter(across.position, false);
  t.deepEqual(close.lines, lines(203, 210).trimEnd().split('\n'));
  writeSync(fd, lines(211, 320));
  t.true(await log.enforce());
  const kept = await log.readAfter(close.position, false);
  t.deepEqual(kept.lines, lines(211, 320).trimEnd().split('\n'), 'everything after the position survived in .1');

  // Two rotations between reads: what fell between them is gone, and the read says so.
  writeSync(fd, lines(321, 450));
  await log.enforce();
  writeSync(fd, lines(451, 580));
  await log.enforce();
  writeSync(fd, 'line 581\n');
  const lost = await log.readAfter(kept.position, false);
  t.deepEqual(lost.lines, ['… lines skipped (log rotated more than once since the last read)', 'line 581']);
});

test('readInherited returns what the previous writer printed after a position', async (t) => {
  const dir = await tempDir(t, 'bounded-log-');
  const first = new BoundedLog({ path: path.join(dir, 'server.log'), maxBytes: 10_000 });
  const fd1 = first.openForWriter();
  writeSync(fd1, lines(1, 5));
  const position = (await first.tailWithPosition(1, false)).position;
  writeSync(fd1, 'goodbye\n');
  closeSync(fd1);
  const second = new BoundedLog({ path: path.join(dir, 'server.log'), maxBytes: 10_000 });
  closeSync(second.openForWriter());
  t.deepEqual(await second.readInherited(position.offset), ['goodbye']);
  t.deepEqual((await second.readAfter({ rotations: 0, offset: 0 }, true)).lines, []);
});
