/**
 * The entity tag of an instance's configuration, derived from its generation
 * (which every accepted change bumps), and the reading of `If-Match`
 * (RFC 9110 §13.1.1) into the generations a change may apply to. Pure.
 */

/** The strong ETag of generation `generation`: `"g<generation>"`. */
export function configEtag(generation: number): string {
  return `"g${generation}"`;
}

/**
 * What an `If-Match` header allows: `'any'` for `*`, else the generations
 * named by our tags. A weak tag never matches (If-Match compares strongly)
 * and a tag not of ours names no generation, so a header of only such tags
 * allows nothing: the change is refused with 412, as the RFC asks.
 */
export function ifMatchGenerations(header: string): 'any' | number[] {
  const value = header.trim();
  if (value === '*') return 'any';
  const generations: number[] = [];
  for (const match of value.matchAll(/(W\/)?"([^"]*)"/g)) {
    if (match[1] !== undefined) continue;
    const tag = /^g([1-9]\d{0,14})$/.exec(match[2] ?? '');
    if (tag) generations.push(Number(tag[1]));
  }
  return generations;
}
