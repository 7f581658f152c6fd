/**
 * Bounds on JSON input, checked once where input enters (a request body, a
 * JSON Patch, a config document) by a walk without recursion. Past that
 * point the recursive code (zod, `cloneTree`, the reference checks, YAML
 * rendering, `JSON.stringify` on the transport) never meets a tree deeper
 * than it can walk: 10,000 nested arrays would overflow the stack.
 */
import { isPlainObject } from './plain-object.js';

/** Containers nested in one another (a scalar is 0, `[]` is 1, `[[]]` is 2). Far beyond any real config. */
export const MAX_JSON_DEPTH = 100;

/** Values (containers and scalars) in one config document; a patch's copies cannot grow it past this. */
export const MAX_CONFIG_VALUES = 100_000;

export interface JsonShape {
  /** The deepest nesting seen; when `tooDeep`, the walk stopped there. */
  depth: number;
  tooDeep: boolean;
  /** Values visited (all of them unless `tooDeep`). */
  values: number;
  /** Some object has an own `__proto__` key (JSON.parse makes one). */
  protoKey: boolean;
  /** Something is not a JSON value: undefined, a function, NaN, a Date, a Map… */
  nonJson: boolean;
}

/** Walks `root` iteratively and stops as soon as it is nested deeper than `maxDepth`. */
export function measureJson(root: unknown, maxDepth: number = MAX_JSON_DEPTH): JsonShape {
  const shape: JsonShape = { depth: 0, tooDeep: false, values: 0, protoKey: false, nonJson: false };
  const pending: Array<{ value: unknown; above: number }> = [{ value: root, above: 0 }];
  for (let next = pending.pop(); next !== undefined; next = pending.pop()) {
    const { value, above } = next;
    shape.values += 1;
    const array = Array.isArray(value);
    if (!array && !isPlainObject(value)) {
      if (!isJsonScalar(value)) shape.nonJson = true;
      continue;
    }
    const depth = above + 1;
    shape.depth = Math.max(shape.depth, depth);
    if (depth > maxDepth) {
      shape.tooDeep = true;
      return shape;
    }
    if (array) {
      // A hole (`[, 1]`) reads as undefined: not JSON either.
      for (let index = 0; index < value.length; index += 1) pending.push({ value: value[index], above: depth });
    } else {
      for (const [key, item] of Object.entries(value)) {
        if (key === '__proto__') shape.protoKey = true;
        pending.push({ value: item, above: depth });
      }
    }
  }
  return shape;
}

function isJsonScalar(value: unknown): boolean {
  return value === null || typeof value === 'string' || typeof value === 'boolean' || (typeof value === 'number' && Number.isFinite(value));
}
