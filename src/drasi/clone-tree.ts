import { isPlainObject } from './plain-object.js';

/**
 * A deep copy of a JSON-like tree that keeps every key in its original order.
 *
 * zod rebuilds objects with the schema's keys first, which would reorder a
 * user's document; configs are rendered back to YAML for people to read, so
 * DRaaS returns a copy of what was written instead. Objects are rebuilt with
 * `Object.fromEntries` (own data properties), so a `__proto__` key stays a
 * plain key and cannot change a prototype.
 */
export function cloneTree(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(cloneTree);
  if (isPlainObject(value)) return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, cloneTree(item)]));
  return value;
}
