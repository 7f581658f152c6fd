/**
 * Config documents are plain JSON-like trees; this guard is the one place that
 * decides what counts as a mapping (not an array, not null, not a class instance).
 */
export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}
