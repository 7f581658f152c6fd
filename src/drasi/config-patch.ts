// fast-json-patch is CommonJS: under NodeNext ESM only its default import (the
// module.exports object) works at run time; named imports are types only.
import jsonpatch from 'fast-json-patch';
import type { Operation } from 'fast-json-patch';
import { BadRequestError, InvalidConfigError } from '../errors.js';
import { cloneTree } from './clone-tree.js';
import type { DrasiServerConfig } from './config-schema.js';
import { parseJsonPointer } from './json-pointer.js';
import { isPlainObject } from './plain-object.js';
import { parseDrasiConfig } from './validate-config.js';

/**
 * Applies an RFC 6902 JSON Patch to a config, all or nothing.
 *
 * - A patch that is not a well-formed list of operations is the client's
 *   mistake in the request itself: `BadRequestError` (400).
 * - A patch that does not fit the config (a failing `test`, a path that does
 *   not exist) or that produces an invalid config: `InvalidConfigError` (422).
 * - Paths through `__proto__`, `constructor` or `prototype`, and values that
 *   carry a `__proto__` key, are refused: they have no meaning in a config
 *   and are the usual prototype-pollution vectors.
 *
 * The input config is never modified; the patched copy is returned only once
 * it has passed `parseDrasiConfig` (including the cross-reference checks).
 */
export function applyConfigPatch(config: DrasiServerConfig, patch: unknown): DrasiServerConfig {
  const operations = readOperations(patch);
  const working = cloneTree(config);
  let patched: unknown;
  try {
    patched = jsonpatch.applyPatch(working, operations, /* validate */ true, /* mutate */ false).newDocument;
  } catch (error) {
    throw translatePatchError(error, operations);
  }
  try {
    return parseDrasiConfig(patched);
  } catch (error) {
    if (error instanceof InvalidConfigError) {
      throw new InvalidConfigError(`the patched config is invalid: ${error.message}`, error.issues);
    }
    throw error;
  }
}

const OPS = new Set(['add', 'remove', 'replace', 'move', 'copy', 'test']);
const FORBIDDEN_SEGMENTS = new Set(['__proto__', 'constructor', 'prototype']);

/** Checks the shape of every operation and returns them typed; throws `BadRequestError`. */
function readOperations(patch: unknown): Operation[] {
  if (!Array.isArray(patch)) {
    throw new BadRequestError('a JSON Patch must be an array of operations (RFC 6902)', { reason: 'not-an-array' });
  }
  return patch.map((raw: unknown, index) => readOperation(raw, index));
}

function readOperation(raw: unknown, index: number): Operation {
  const reject = (reason: string): never => {
    throw new BadRequestError(`invalid JSON Patch operation ${index}: ${reason}`, { index, reason });
  };
  if (!isPlainObject(raw)) return reject('an operation must be an object');
  const { op, path, from } = raw;
  if (typeof op !== 'string' || !OPS.has(op)) return reject(`"op" must be one of ${[...OPS].join(', ')}`);
  const target = readPointer(path, 'path', reject);

  if (op === 'move' || op === 'copy') {
    const source = readPointer(from, 'from', reject);
    return { op, path: target, from: source };
  }
  if (op === 'remove') return { op, path: target };

  if (!('value' in raw) || raw['value'] === undefined) return reject(`"${op}" needs a "value"`);
  const value = raw['value'];
  if (carriesProtoKey(value)) return reject('"value" must not contain a "__proto__" key');
  if (op === 'add') return { op, path: target, value };
  if (op === 'replace') return { op, path: target, value };
  return { op: 'test', path: target, value };
}

function readPointer(pointer: unknown, member: string, reject: (reason: string) => never): string {
  if (typeof pointer !== 'string') return reject(`"${member}" must be a JSON Pointer string`);
  let segments: string[];
  try {
    segments = parseJsonPointer(pointer);
  } catch {
    return reject(`"${member}" must be empty or start with "/" (got ${JSON.stringify(pointer)})`);
  }
  const forbidden = segments.find((segment) => FORBIDDEN_SEGMENTS.has(segment));
  if (forbidden !== undefined) return reject(`"${member}" must not go through "${forbidden}"`);
  return pointer;
}

function carriesProtoKey(value: unknown): boolean {
  if (Array.isArray(value)) return value.some(carriesProtoKey);
  if (typeof value !== 'object' || value === null) return false;
  return Object.entries(value).some(([key, item]) => key === '__proto__' || carriesProtoKey(item));
}

/** Errors that mean the patch itself is malformed rather than not fitting the config. */
const MALFORMED = new Set([
  'SEQUENCE_NOT_AN_ARRAY',
  'OPERATION_NOT_AN_OBJECT',
  'OPERATION_OP_INVALID',
  'OPERATION_PATH_INVALID',
  'OPERATION_FROM_REQUIRED',
  'OPERATION_VALUE_REQUIRED',
  'OPERATION_VALUE_CANNOT_CONTAIN_UNDEFINED',
]);

function translatePatchError(error: unknown, operations: Operation[]): Error {
  if (!(error instanceof jsonpatch.JsonPatchError)) {
    return error instanceof Error ? error : new Error(String(error));
  }
  const index = typeof error.index === 'number' ? error.index : undefined;
  const operation = index === undefined ? undefined : operations[index];
  const reason = firstLine(error.message);
  const where = operation === undefined ? '' : ` operation ${index} (${operation.op} ${operation.path || '/'})`;
  if (MALFORMED.has(error.name)) {
    return new BadRequestError(`invalid JSON Patch${where}: ${reason}`, { index, reason: error.name });
  }
  const message = error.name === 'TEST_OPERATION_FAILED' ? 'the test did not match the current config' : reason;
  return new InvalidConfigError(`patch could not be applied:${where}: ${message}`, [
    { path: operation?.path ?? '', message: `patch operation ${index ?? '?'} (${operation?.op ?? 'unknown'}): ${message}` },
  ]);
}

function firstLine(message: string): string {
  return message.split('\n')[0] ?? message;
}
