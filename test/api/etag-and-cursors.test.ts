import test from 'ava';
import { configEtag, ifMatchGenerations } from '../../src/api/config-etag.js';
import { afterChange, afterInstance, changeCursor, instanceCursor } from '../../src/api/page-cursor.js';
import { BadRequestError } from '../../src/errors.js';

test('If-Match names generations by our strong tags only', (t) => {
  t.is(configEtag(12), '"g12"');
  t.is(ifMatchGenerations(' * '), 'any');
  t.deepEqual(ifMatchGenerations('"g3"'), [3]);
  t.deepEqual(ifMatchGenerations('"g3", W/"g4" ,"g5"'), [3, 5]);
  t.deepEqual(ifMatchGenerations('"g0", "g01", "x3", "g3x", g3'), []);
  t.deepEqual(ifMatchGenerations(''), []);
});

test('cursors round-trip, and are refused when not ours or of the other list', (t) => {
  t.is(afterInstance(instanceCursor('a-1')), 'a-1');
  t.is(afterChange(changeCursor(42)), 42);
  for (const bad of ['', '!!', changeCursor(1), Buffer.from('v1:UPPER').toString('base64url'), 'x'.repeat(201)]) {
    t.throws(() => afterInstance(bad), { instanceOf: BadRequestError }, bad);
  }
  for (const bad of [instanceCursor('a'), Buffer.from('s1:-1').toString('base64url'), Buffer.from('s1:').toString('base64url')]) {
    t.throws(() => afterChange(bad), { instanceOf: BadRequestError }, bad);
  }
});
