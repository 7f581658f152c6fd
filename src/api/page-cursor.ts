/**
 * The opaque cursors of paged lists: where the next page starts. Clients
 * pass them back unchanged; their form (base64url of `v1:<last id>` for
 * instances, `s1:<last sequence>` for the change log) may change between
 * versions. Pure.
 */
import { BadRequestError } from '../errors.js';
import { instanceIdSchema } from './instance-requests.js';

function encode(text: string): string {
  return Buffer.from(text, 'utf8').toString('base64url');
}

function badCursor(): BadRequestError {
  return new BadRequestError('invalid cursor: pass back the cursor of the previous page unchanged', { reason: 'bad-cursor' });
}

/** The text a cursor carries after its `prefix`, or a 400 for a cursor we did not make. */
function decode(cursor: string, prefix: string): string {
  const text = /^[A-Za-z0-9_-]{1,200}$/.test(cursor) ? Buffer.from(cursor, 'base64url').toString('utf8') : '';
  if (text.startsWith(prefix)) return text.slice(prefix.length);
  throw badCursor();
}

/** The cursor after `lastId`, the last instance of a page. */
export function instanceCursor(lastId: string): string {
  return encode(`v1:${lastId}`);
}

/** The instance id a cursor continues after. */
export function afterInstance(cursor: string): string {
  const id = decode(cursor, 'v1:');
  if (!instanceIdSchema.safeParse(id).success) throw badCursor();
  return id;
}

/** The cursor after change `sequence`. */
export function changeCursor(sequence: number): string {
  return encode(`s1:${sequence}`);
}

/** The change sequence a cursor continues after. */
export function afterChange(cursor: string): number {
  const text = decode(cursor, 's1:');
  if (!/^\d{1,15}$/.test(text)) throw badCursor();
  return Number(text);
}
