import { BadRequestError, InvalidConfigError } from '../errors.js';
import { cloneTree } from './clone-tree.js';
import type { DrasiServerConfig } from './config-schema.js';
import { jsonEqual } from './json-equal.js';
import { MAX_CONFIG_VALUES, MAX_JSON_DEPTH, measureJson } from './json-limits.js';
import { applyJsonPatch, JsonPatchConflict, type JsonPatchOperation } from './json-patch.js';
import { isProperPrefix, parseJsonPointer } from './json-pointer.js';
import { isPlainObject } from './plain-object.js';
import { parseDrasiConfig } from './validate-config.js';

/** More operations than any edit of a config needs; bounds the work one request can ask for. */
export const MAX_PATCH_OPERATIONS = 1_000;

export interface ConfigPatchResult {
  /** The patched config, validated (a copy of the input when nothing changed). */
  configuration: DrasiServerConfig;
  /**
   * Whether the patched config differs from the input as JSON (key order
   * aside): an empty patch, a patch of `test`s, or one that puts back what
   * it took away changes nothing, and must not bump the generation.
   */
  changed: boolean;
}

/**
 * Applies an RFC 6902 JSON Patch to a config, all or nothing.
 *
 * - A patch that is not a well-formed list of operations is the client's
 *   mistake in the request itself: `BadRequestError` (400). That includes
 *   pointer syntax, a `move` into its own child, values that are not JSON
 *   or are nested deeper than `MAX_JSON_DEPTH`, and more than
 *   `MAX_PATCH_OPERATIONS` operations.
 * - A patch that does not fit the config (a failing `test`, a path that does
 *   not exist, an index that is not one) or that produces an invalid config:
 *   `InvalidConfigError` (422).
 * - Paths through `__proto__`, `constructor` or `prototype`, and values that
 *   carry a `__proto__` key, are refused: they have no meaning in a config
 *   and are the usual prototype-pollution vectors.
 *
 * The input config is never modified; the patched copy is returned only once
 * it has passed `parseDrasiConfig` (including the cross-reference checks).
 */
export function applyConfigPatch(config: DrasiServerConfig, patch: unknown): ConfigPatchResult {
  const operations = readOperations(patch);
  let patched: unknown;
  try {
    patched = applyJsonPatch(cloneTree(config), operations, { maxDepth: MAX_JSON_DEPTH, maxValues: MAX_CONFIG_VALUES });
  } catch (error) {
    if (error instanceof JsonPatchConflict) throw conflictError(error);
    throw error;
  }
  if (jsonEqual(patched, config)) return { configuration: cloneTree(config) as DrasiServerConfig, changed: false };
  try {
    return { configuration: parseDrasiConfig(patched), changed: true };
  } catch (error) {
    if (error instanceof InvalidConfigError) {
      throw new InvalidConfigError(`the patched config is invalid: ${error.message}`, error.issues);
    }
    throw error;
  }
}

const OPS: ReadonlyArray<JsonPatchOperation['op']> = ['add', 'remove', 'replace', 'move', 'copy', 'test'];
const FORBIDDEN_SEGMENTS = new Set(['__proto__', 'constructor', 'prototype']);

/** Checks the shape of the patch and of every operation and returns them typed; throws `BadRequestError`. */
function readOperations(patch: unknown): JsonPatchOperation[] {
  if (!Array.isArray(patch)) {
    throw new BadRequestError('a JSON Patch must be an array of operations (RFC 6902)', { reason: 'not-an-array' });
  }
  // Once, before anything walks the operations' values recursively.
  if (measureJson(patch).tooDeep) {
    throw new BadRequestError(`the JSON Patch is nested deeper than ${MAX_JSON_DEPTH} levels`, { reason: 'too-deep', maxDepth: MAX_JSON_DEPTH });
  }
  if (patch.length > MAX_PATCH_OPERATIONS) {
    throw new BadRequestError(`a JSON Patch may have at most ${MAX_PATCH_OPERATIONS} operations (got ${patch.length})`, {
      reason: 'too-many-operations',
      maxOperations: MAX_PATCH_OPERATIONS,
    });
  }
  return patch.map((raw: unknown, index) => readOperation(raw, index));
}

function readOperation(raw: unknown, index: number): JsonPatchOperation {
  const reject = (reason: string): never => {
    throw new BadRequestError(`invalid JSON Patch operation ${index}: ${reason}`, { index, reason });
  };
  if (!isPlainObject(raw)) return reject('an operation must be an object');
  const { op, path, from } = raw;
  if (!isOp(op)) return reject(`"op" must be one of ${OPS.join(', ')}`);
  const target = readPointer(path, 'path', reject);

  if (op === 'move' || op === 'copy') {
    const source = readPointer(from, 'from', reject);
    // RFC 6902 4.4: "from" must not be a proper prefix of "path"; decidable without the document.
    if (op === 'move' && isProperPrefix(parseJsonPointer(source), parseJsonPointer(target))) {
      return reject(`"move" cannot put a value inside itself ("from" ${JSON.stringify(source)} contains "path" ${JSON.stringify(target)})`);
    }
    return { op, path: target, from: source };
  }
  if (op === 'remove') return { op, path: target };

  if (!Object.hasOwn(raw, 'value') || raw['value'] === undefined) return reject(`"${op}" needs a "value"`);
  const value = raw['value'];
  const shape = measureJson(value);
  if (shape.nonJson) return reject('"value" must be a JSON value (no undefined, functions, NaN or class instances)');
  if (shape.protoKey) return reject('"value" must not contain a "__proto__" key');
  return { op, path: target, value };
}

function isOp(value: unknown): value is JsonPatchOperation['op'] {
  return OPS.some((op) => op === value);
}

function readPointer(pointer: unknown, member: string, reject: (reason: string) => never): string {
  if (typeof pointer !== 'string') return reject(`"${member}" must be a JSON Pointer string`);
  let segments: string[];
  try {
    segments = parseJsonPointer(pointer);
  } catch (error) {
    return reject(`"${member}": ${error instanceof Error ? error.message : String(error)}`);
  }
  const forbidden = segments.find((segment) => FORBIDDEN_SEGMENTS.has(segment));
  if (forbidden !== undefined) return reject(`"${member}" must not go through "${forbidden}"`);
  return pointer;
}

/** An operation that does not fit the config: 422, naming the operation, where, and why. */
function conflictError(conflict: JsonPatchConflict): InvalidConfigError {
  const { index, operation } = conflict;
  const where = `operation ${index} (${operation.op} ${operation.path || '/'})`;
  return new InvalidConfigError(`patch could not be applied: ${where}: ${conflict.message}`, [
    { path: operation.path, message: `patch operation ${index} (${operation.op}): ${conflict.message}` },
  ]);
}
