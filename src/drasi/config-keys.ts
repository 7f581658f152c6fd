import type { z } from 'zod';
import { isPlainObject } from './plain-object.js';

/**
 * Unknown-key handling shared by the config schemas.
 *
 * Drasi Server deserialises its config with serde `rename_all = "camelCase"`
 * and `deny_unknown_fields` (drasi-server `src/config/types.rs`,
 * `src/api/models/queries/query.rs`), so a misspelt key is a start failure.
 * The messages here name the key and, when it is a different spelling of a
 * known key (`log_level`, `LogLevel`), the camelCase key to use instead.
 */

type Refinement = (value: unknown, ctx: z.RefinementCtx) => void;

/** Rejects every key that `known` does not list (the object is strict). */
export function rejectUnknownKeys(known: readonly string[], where: string): Refinement {
  const allowed = new Set(known);
  return (value, ctx) => {
    if (!isPlainObject(value)) return;
    for (const key of Object.keys(value)) {
      if (!allowed.has(key)) ctx.addIssue({ code: 'custom', path: [key], message: unknownKeyMessage(key, known, where) });
    }
  };
}

/**
 * Rejects only snake_case spellings of `known` keys; every other key belongs
 * to a plugin and passes through. This mirrors the server's source and
 * reaction deserialisers (drasi-server `src/api/models/source.rs`,
 * `reaction.rs`), which refuse `auto_start`, `bootstrap_provider` and
 * `identity_provider` and hand all other keys to the plugin.
 */
export function rejectSnakeCaseOf(known: readonly string[], where: string): Refinement {
  const allowed = new Set(known);
  return (value, ctx) => {
    if (!isPlainObject(value)) return;
    for (const key of Object.keys(value)) {
      if (!key.includes('_')) continue;
      const camel = snakeToCamel(key);
      if (camel !== key && allowed.has(camel)) {
        ctx.addIssue({ code: 'custom', path: [key], message: `unknown key \`${key}\` in ${where}: keys are camelCase, use \`${camel}\`` });
      }
    }
  };
}

/** The message for a key that a strict object does not accept. */
export function unknownKeyMessage(key: string, known: readonly string[], where: string): string {
  const wanted = normalise(key);
  const suggestion = known.find((candidate) => normalise(candidate) === wanted);
  if (suggestion !== undefined) return `unknown key \`${key}\` in ${where}: keys are camelCase, use \`${suggestion}\``;
  return `unknown key \`${key}\` in ${where} (allowed: ${known.join(', ')})`;
}

function snakeToCamel(key: string): string {
  return key.replace(/_+([a-zA-Z0-9])/g, (_match, letter: string) => letter.toUpperCase());
}

function normalise(key: string): string {
  return key.replace(/[_-]/g, '').toLowerCase();
}
