/**
 * RFC 6901 JSON Pointers: every config issue is located by one, so that API
 * clients can point at the offending key, and JSON Patch paths use them too.
 */

/** Builds a pointer from path segments (`['sources', 0, 'id']` → `/sources/0/id`). */
export function toJsonPointer(segments: ReadonlyArray<PropertyKey>): string {
  return segments.map((segment) => `/${escapeSegment(String(segment))}`).join('');
}

/**
 * Splits a pointer into unescaped segments; `''` (the whole document) has
 * none. Throws when the pointer is not RFC 6901 syntax: it must start with
 * "/", and "~" may only appear as "~0" (a "~") or "~1" (a "/").
 */
export function parseJsonPointer(pointer: string): string[] {
  if (pointer === '') return [];
  if (!pointer.startsWith('/')) throw new Error(`a JSON Pointer must be empty or start with "/" (got ${JSON.stringify(pointer)})`);
  if (/~(?![01])/.test(pointer)) {
    throw new Error(`in a JSON Pointer "~" must be followed by 0 or 1 (got ${JSON.stringify(pointer)})`);
  }
  return pointer.slice(1).split('/').map(unescapeSegment);
}

/** Whether `prefix` names a proper ancestor of `pointer` (segment by segment, not by characters). */
export function isProperPrefix(prefix: readonly string[], pointer: readonly string[]): boolean {
  return prefix.length < pointer.length && prefix.every((segment, index) => pointer[index] === segment);
}

function escapeSegment(segment: string): string {
  return segment.replaceAll('~', '~0').replaceAll('/', '~1');
}

function unescapeSegment(segment: string): string {
  return segment.replaceAll('~1', '/').replaceAll('~0', '~');
}
