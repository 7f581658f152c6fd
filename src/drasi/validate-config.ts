import { parseDocument } from 'yaml';
import type { z } from 'zod';
import { InvalidConfigError, type ConfigIssue } from '../errors.js';
import { cloneTree } from './clone-tree.js';
import { drasiServerConfigSchema, type DrasiServerConfig } from './config-schema.js';
import { MAX_CONFIG_VALUES, MAX_JSON_DEPTH, measureJson } from './json-limits.js';
import { toJsonPointer } from './json-pointer.js';
import { isPlainObject } from './plain-object.js';
import { findReferenceIssues } from './references.js';

/**
 * Parses and validates a Drasi Server config document (already decoded from
 * JSON or YAML). Throws `InvalidConfigError` listing every problem found, each
 * located by a JSON Pointer, so a client can fix them all in one go.
 *
 * The result is a fresh copy of the input with every key kept in its original
 * order: nothing dropped, nothing defaulted (the server applies its own
 * defaults), so rendering it gives back the user's document.
 */
export function parseDrasiConfig(input: unknown): DrasiServerConfig {
  if (!isPlainObject(input)) {
    throw new InvalidConfigError('invalid Drasi Server config: the document must be a mapping', [
      { path: '', message: `the document must be a mapping of keys to values (got ${kindOf(input)})` },
    ]);
  }
  refuseOversized(input);
  const result = drasiServerConfigSchema.safeParse(input, { error: messageFor });
  const issues: ConfigIssue[] = result.success ? [] : result.error.issues.map(toConfigIssue);
  issues.push(...findReferenceIssues(input));
  if (!result.success || issues.length > 0) throw new InvalidConfigError(summarise(issues), issues);
  // The schema only checks (no transforms, no defaults), so a valid input is its
  // own parsed value; copying it keeps the user's key order, which zod would not.
  const validated: DrasiServerConfig = result.data;
  return cloneTree(input) as typeof validated;
}

/** Before any recursive walk (zod, the reference checks, `cloneTree`): a bounded tree, checked iteratively. */
function refuseOversized(input: unknown): void {
  const shape = measureJson(input, MAX_JSON_DEPTH);
  const problem = shape.tooDeep
    ? `the document is nested deeper than ${MAX_JSON_DEPTH} levels`
    : shape.values > MAX_CONFIG_VALUES
      ? `the document holds more than ${MAX_CONFIG_VALUES} values`
      : undefined;
  if (problem !== undefined) throw new InvalidConfigError(`invalid Drasi Server config: ${problem}`, [{ path: '', message: problem }]);
}

/**
 * Parses YAML (or JSON, a subset of YAML) text, then validates it like
 * `parseDrasiConfig`. Syntax errors and duplicate keys become
 * `InvalidConfigError` issues carrying the line and column.
 */
export function parseDrasiConfigYaml(text: string): DrasiServerConfig {
  const document = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (document.errors.length > 0) {
    const issues = document.errors.map((error): ConfigIssue => {
      const position = error.linePos?.[0];
      const where = position === undefined ? '' : `line ${position.line}, column ${position.col}: `;
      return { path: '', message: `${where}${firstLine(error.message)}` };
    });
    throw new InvalidConfigError(`config is not valid YAML: ${issues.map((issue) => issue.message).join('; ')}`, issues);
  }
  if (document.contents === null) {
    throw new InvalidConfigError('config is empty', [
      { path: '', message: 'the document is empty; an empty pipeline is written `{}`' },
    ]);
  }
  return parseDrasiConfig(document.toJS({ maxAliasCount: 100 }));
}

function toConfigIssue(issue: z.core.$ZodIssue): ConfigIssue {
  return { path: toJsonPointer(issue.path), message: issue.message };
}

/** Readable messages for the generic cases; schema-specific messages take precedence. */
function messageFor(issue: z.core.$ZodRawIssue): string | undefined {
  if (issue.code !== 'invalid_type') return undefined;
  const key = issue.path?.at(-1);
  if (issue.input === undefined) {
    return typeof key === 'string' ? `missing required key \`${key}\`` : 'missing required value';
  }
  return `must be ${article(issue.expected)} (got ${kindOf(issue.input)})`;
}

function summarise(issues: ConfigIssue[]): string {
  const shown = issues.slice(0, 5).map((issue) => `${issue.path || '/'}: ${issue.message}`);
  const more = issues.length > shown.length ? `; and ${issues.length - shown.length} more` : '';
  return `invalid Drasi Server config: ${shown.join('; ')}${more}`;
}

function article(expected: string): string {
  if (expected === 'array') return 'a list';
  if (expected === 'object') return 'a mapping';
  return /^[aeiou]/.test(expected) ? `an ${expected}` : `a ${expected}`;
}

function kindOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  return `${typeof value} ${JSON.stringify(value) ?? String(value)}`;
}

/** The yaml library's first message line, without its own trailing position. */
function firstLine(message: string): string {
  const line = message.split('\n')[0] ?? message;
  return line.replace(/\s+at line \d+, column \d+:?\s*$/, '');
}
