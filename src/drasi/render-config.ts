import { Document, isPair, isScalar, visit, type ToStringOptions } from 'yaml';
import type { DrasiServerConfig } from './config-schema.js';
import { containsEnvRef } from './env-ref.js';

/**
 * Renders config documents to YAML with the `yaml` library, never by string
 * concatenation, so that every value is quoted or block-formatted correctly:
 * `'*'`, `{{after.x}}` templates, strings that look like numbers or booleans,
 * multi-line queries (as `|` blocks). Keys keep the order they have in the
 * object.
 *
 * Two choices are about how Drasi Server reads the file:
 * - It expands `${VAR}` in the raw text before parsing. A reference is
 *   therefore written double-quoted, so the expanded value stays a string
 *   whatever it looks like (`"${DB_PASSWORD}"` with a password `123`) — except
 *   under boolean keys, where the expansion must become a YAML boolean.
 * - Strings that YAML 1.1 would read as something else (`yes`, `on`, `0755`)
 *   are quoted too, and repeated objects are written out, not aliased, so the
 *   output reads the same under any YAML parser.
 */
export function renderConfigYaml(config: DrasiServerConfig): string {
  return renderYaml(config);
}

/** Same as `renderConfigYaml`, for the full document handed to the server. */
export function renderServerConfigYaml(config: Record<string, unknown>): string {
  return renderYaml(config);
}

/** Keys whose values are booleans in the server's structs (see config-schema.ts). */
const BOOLEAN_KEYS = new Set(['persistConfig', 'persistIndex', 'enableUi', 'autoInstallPlugins', 'verifyPlugins', 'autoStart', 'enableBootstrap']);

const TO_STRING: ToStringOptions = { lineWidth: 0, minContentWidth: 0 };

function renderYaml(value: object): string {
  const document = new Document(value, { aliasDuplicateObjects: false, compat: 'yaml-1.1' });
  visit(document, {
    Scalar(_key, node, path) {
      if (typeof node.value !== 'string' || !containsEnvRef(node.value) || node.value.includes('\n')) return;
      const parent = path.at(-1);
      const isValueOfBooleanKey = isPair(parent) && parent.value === node && isScalar(parent.key) && BOOLEAN_KEYS.has(String(parent.key.value));
      node.type = isValueOfBooleanKey ? 'PLAIN' : 'QUOTE_DOUBLE';
    },
  });
  return document.toString(TO_STRING);
}
