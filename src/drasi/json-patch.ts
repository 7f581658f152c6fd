/**
 * RFC 6902 JSON Patch on plain JSON trees, strictly: a pointer reaches own
 * members only (never `toString` or an array's `length`), an array index is
 * `0` or a number without leading zeros, `-` means "after the last item" and
 * only where something is added, and a value is never moved into itself.
 * Every way an operation can miss the document is a `JsonPatchConflict`
 * naming the operation; nothing else is thrown. (fast-json-patch, used
 * before, threw TypeErrors on some of these and silently accepted others.)
 *
 * Operations are taken as already well formed (see `config-patch.ts`, which
 * checks their shape and pointer syntax and answers 400 for those).
 */
import { cloneTree } from './clone-tree.js';
import { jsonEqual } from './json-equal.js';
import { measureJson } from './json-limits.js';
import { isProperPrefix, parseJsonPointer, toJsonPointer } from './json-pointer.js';
import { isPlainObject } from './plain-object.js';

export type JsonPatchOperation =
  | { op: 'add' | 'replace' | 'test'; path: string; value: unknown }
  | { op: 'remove'; path: string }
  | { op: 'move' | 'copy'; from: string; path: string };

export interface JsonPatchLimits {
  /** The patched document may not be nested deeper than this. */
  maxDepth: number;
  /** Nor hold more values than this (copies could otherwise double it per operation). */
  maxValues: number;
}

/** An operation that does not fit the document (RFC 6902's "error"); the whole patch is refused. */
export class JsonPatchConflict extends Error {
  constructor(
    readonly index: number,
    readonly operation: JsonPatchOperation,
    reason: string,
  ) {
    super(reason);
    this.name = 'JsonPatchConflict';
  }
}

type Container = unknown[] | Record<string, unknown>;

/**
 * Applies the operations in order to `document`, which it changes in place
 * (pass a copy), and returns the resulting root (an operation on `""` can
 * replace it). Inserted values are copies: the result shares nothing with
 * the operations.
 */
export function applyJsonPatch(document: unknown, operations: readonly JsonPatchOperation[], limits: JsonPatchLimits): unknown {
  let root = document;
  let values = countValues(root);
  operations.forEach((operation, index) => {
    const fail = (reason: string): never => {
      throw new JsonPatchConflict(index, operation, reason);
    };
    const tree = new Tree(() => root, (next) => (root = next), fail);
    const path = parseJsonPointer(operation.path);
    /** Checks a value about to be placed at `path` against the limits, counting what it overwrites. */
    const admit = (value: unknown, overwritten: number): void => {
      const shape = measureJson(value, limits.maxDepth - path.length);
      if (shape.tooDeep) fail(`the result would be nested deeper than ${limits.maxDepth} levels`);
      const next = values + shape.values - overwritten;
      if (next > limits.maxValues) fail(`the result would hold more than ${limits.maxValues} values`);
      values = next;
    };
    switch (operation.op) {
      case 'add':
        admit(operation.value, tree.sizeOfMember(path));
        tree.add(path, cloneTree(operation.value));
        return;
      case 'replace':
        admit(operation.value, countValues(tree.get(path)));
        tree.replace(path, cloneTree(operation.value));
        return;
      case 'remove':
        values -= countValues(tree.get(path));
        tree.remove(path);
        return;
      case 'test':
        if (!jsonEqual(tree.get(path), operation.value)) fail(`the value at "${operation.path}" is not the one the test expects`);
        return;
      case 'move': {
        const from = parseJsonPointer(operation.from);
        if (isProperPrefix(from, path)) fail(`"${operation.from}" cannot be moved into itself ("${operation.path}")`);
        const value = tree.get(from);
        if (operation.from === operation.path) return;
        tree.remove(from);
        // The value was counted where it was: only what it overwrites goes.
        admit(value, countValues(value) + tree.sizeOfMember(path));
        tree.add(path, value);
        return;
      }
      case 'copy': {
        const value = tree.get(parseJsonPointer(operation.from));
        admit(value, tree.sizeOfMember(path));
        tree.add(path, cloneTree(value));
        return;
      }
    }
  });
  return root;
}

/** Pointer resolution and the three edits, on the root a getter and setter share. */
class Tree {
  constructor(
    private readonly root: () => unknown,
    private readonly setRoot: (value: unknown) => void,
    private readonly fail: (reason: string) => never,
  ) {}

  /** The value a pointer names; fails when nothing is there. */
  get(segments: readonly string[]): unknown {
    let current = this.root();
    for (let depth = 0; depth < segments.length; depth += 1) {
      const container = this.containerAt(current, segments.slice(0, depth));
      const key = this.existingKey(container, segments.slice(0, depth + 1));
      current = Array.isArray(container) ? container[Number(key)] : container[key];
    }
    return current;
  }

  /** The size of what `add` at this pointer would overwrite: the root, or an existing object member; else 0. */
  sizeOfMember(segments: readonly string[]): number {
    if (segments.length === 0) return countValues(this.root());
    const parent = this.get(segments.slice(0, -1));
    const key = segments.at(-1) ?? '';
    return isPlainObject(parent) && Object.hasOwn(parent, key) ? countValues(parent[key]) : 0;
  }

  /** RFC 6902 add: inserts into a list (at an index or at `-`), sets an object member, or replaces the root. */
  add(segments: readonly string[], value: unknown): void {
    if (segments.length === 0) return this.setRoot(value);
    const { container, key } = this.parentOf(segments);
    if (!Array.isArray(container)) return define(container, key, value);
    if (key === '-') {
      container.push(value);
      return;
    }
    const index = this.listIndex(segments);
    if (index > container.length) this.fail(`"${toJsonPointer(segments)}" is past the end of the list (it has ${container.length} items)`);
    container.splice(index, 0, value);
  }

  replace(segments: readonly string[], value: unknown): void {
    if (segments.length === 0) return this.setRoot(value);
    const { container } = this.parentOf(segments);
    const key = this.existingKey(container, segments);
    if (Array.isArray(container)) container[Number(key)] = value;
    else define(container, key, value);
  }

  remove(segments: readonly string[]): void {
    if (segments.length === 0) this.fail('the whole document cannot be removed');
    const { container } = this.parentOf(segments);
    const key = this.existingKey(container, segments);
    if (Array.isArray(container)) container.splice(Number(key), 1);
    else delete container[key];
  }

  private parentOf(segments: readonly string[]): { container: Container; key: string } {
    const above = segments.slice(0, -1);
    return { container: this.containerAt(this.get(above), above), key: segments.at(-1) ?? '' };
  }

  /** A value a pointer goes through: it must have members. */
  private containerAt(value: unknown, segments: readonly string[]): Container {
    if (Array.isArray(value) || isPlainObject(value)) return value;
    const where = segments.length === 0 ? 'the document' : `"${toJsonPointer(segments)}"`;
    return this.fail(`${where} is ${kindOf(value)}, which has no members`);
  }

  /** The key of the member the pointer's last segment names, which must exist: an own property, or an index inside the list. */
  private existingKey(container: Container, segments: readonly string[]): string {
    const segment = segments.at(-1) ?? '';
    const pointer = toJsonPointer(segments);
    if (!Array.isArray(container)) {
      if (!Object.hasOwn(container, segment)) this.fail(`"${pointer}" does not exist`);
      return segment;
    }
    if (segment === '-') this.fail(`"${pointer}": "-" is the position after the last item, where nothing is yet`);
    const index = this.listIndex(segments);
    if (index >= container.length) this.fail(`"${pointer}" does not exist (the list has ${container.length} items)`);
    return String(index);
  }

  private listIndex(segments: readonly string[]): number {
    const segment = segments.at(-1) ?? '';
    if (!/^(0|[1-9][0-9]*)$/.test(segment)) {
      this.fail(`"${toJsonPointer(segments)}": "${segment}" is not a list index (0, 1, 2, … without leading zeros, or "-" to append)`);
    }
    return Number(segment);
  }
}

function countValues(value: unknown): number {
  return measureJson(value, Number.POSITIVE_INFINITY).values;
}

/** Sets an own data property (never a setter, never a prototype, even for odd keys). */
function define(container: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(container, key, { value, writable: true, enumerable: true, configurable: true });
}

function kindOf(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value === 'string') return 'a string';
  if (typeof value === 'number') return 'a number';
  if (typeof value === 'boolean') return 'a boolean';
  return 'not a JSON container';
}
