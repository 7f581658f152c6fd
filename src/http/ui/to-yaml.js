// @ts-check
/**
 * A tiny YAML emitter for plain JSON values (what the configuration API
 * answers), so the console can show a config as YAML without a library.
 * Block style throughout; a string is quoted (JSON-style, which YAML reads
 * the same) whenever a plain scalar would be read back as something else.
 * Pure: no DOM.
 */

/** Plain scalars YAML 1.1 or 1.2 readers would turn into booleans, nulls or numbers. */
const reserved = /^(?:null|Null|NULL|~|true|True|TRUE|false|False|FALSE|yes|Yes|YES|no|No|NO|on|On|ON|off|Off|OFF|y|Y|n|N)$/;
const numberLike = /^[-+]?(?:\.?[0-9][0-9_]*(?:\.[0-9_]*)?(?:[eE][-+]?[0-9]+)?|0x[0-9a-fA-F_]+|0o[0-7_]+|0b[01_]+|\.inf|\.Inf|\.INF|\.nan|\.NaN|\.NAN)$/;
/** Characters that may not start a plain scalar. */
const indicatorStart = /^[-?:,[\]{}#&*!|>'"%@`\s]/;

/**
 * A string as a scalar: plain when that reads back as the same string, else double-quoted.
 * @param {string} value
 */
function scalarString(value) {
  const plain =
    value !== '' &&
    !reserved.test(value) &&
    !numberLike.test(value) &&
    !indicatorStart.test(value) &&
    !/\s$/.test(value) &&
    !value.includes(': ') &&
    !value.includes(' #') &&
    !value.endsWith(':') &&
    // Only printable ASCII stays plain; anything else is escaped by JSON.stringify or kept safely inside quotes.
    /^[\x20-\x7e]*$/.test(value);
  return plain ? value : JSON.stringify(value);
}

/**
 * A key of a mapping.
 * @param {string} key
 */
function keyOf(key) {
  return scalarString(key);
}

/**
 * @param {unknown} value
 * @returns {string}
 */
function scalar(value) {
  if (value === null || value === undefined) return 'null';
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  if (typeof value === 'number') return Number.isFinite(value) ? String(value) : 'null';
  if (typeof value === 'string') return scalarString(value);
  return JSON.stringify(String(value));
}

/** @param {unknown} value */
function isCollection(value) {
  return typeof value === 'object' && value !== null;
}

/** @param {unknown} value */
function isEmptyCollection(value) {
  if (Array.isArray(value)) return value.length === 0;
  return isCollection(value) && Object.keys(/** @type {object} */ (value)).length === 0;
}

/**
 * Lines of a value nested at `indent` spaces.
 * @param {unknown} value
 * @param {number} indent
 * @returns {string[]}
 */
function block(value, indent) {
  const pad = ' '.repeat(indent);
  if (Array.isArray(value)) {
    return value.flatMap((item) => {
      if (isCollection(item) && !isEmptyCollection(item)) {
        // The first line of a nested collection shares the dash's line.
        const [first = '', ...rest] = block(item, indent + 2);
        return [`${pad}- ${first.slice(indent + 2)}`, ...rest];
      }
      return [`${pad}- ${inline(item)}`];
    });
  }
  return Object.entries(/** @type {Record<string, unknown>} */ (value)).flatMap(([key, item]) => {
    if (item === undefined) return [];
    if (isCollection(item) && !isEmptyCollection(item)) return [`${pad}${keyOf(key)}:`, ...block(item, indent + 2)];
    return [`${pad}${keyOf(key)}: ${inline(item)}`];
  });
}

/**
 * A scalar or an empty collection on one line.
 * @param {unknown} value
 */
function inline(value) {
  if (Array.isArray(value)) return '[]';
  if (isCollection(value)) return '{}';
  return scalar(value);
}

/**
 * The YAML text of a JSON value (ends with a newline).
 * @param {unknown} value
 * @returns {string}
 */
export function toYaml(value) {
  if (!isCollection(value) || isEmptyCollection(value)) return `${inline(value)}\n`;
  return `${block(value, 0).join('\n')}\n`;
}
