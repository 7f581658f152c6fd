/**
 * RFC 6901 JSON Pointers: every config issue is located by one, so that API
 * clients can point at the offending key, and JSON Patch paths use them too.
 */

/** Builds a pointer from path segments (`['sources', 0, 'id']` → `/sources/0/id`). */
export function toJsonPointer(segments: ReadonlyArray<PropertyKey>): string {
  return segments.map((segment) => `/${escapeSegment(String(segment))}`).join('');
}

/** Splits a pointer into unescaped segments; `''` (the whole document) has none. */
export function parseJsonPointer(pointer: string): string[] {
  if (pointer === '') return [];
  if (!pointer.startsWith('/')) throw new Error(`JSON Pointer must be empty or start with "/": ${JSON.stringify(pointer)}`);
  return pointer.slice(1).split('/').map(unescapeSegment);
}

function escapeSegment(segment: string): string {
  return segment.replaceAll('~', '~0').replaceAll('/', '~1');
}

function unescapeSegment(segment: string): string {
  return segment.replaceAll('~1', '/').replaceAll('~0', '~');
}
