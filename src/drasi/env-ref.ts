/**
 * Environment references in Drasi Server config values.
 *
 * Drasi Server expands `${VAR}` and `${VAR:-default}` (POSIX-style names,
 * see drasi-server `src/config/env_interpolation.rs`) before it uses a value.
 * DRaaS never expands them: the control plane does not know the environment
 * the server will run in, and secrets must stay out of stored configs. So a
 * typed field (port, logLevel, a boolean flag) that holds a reference cannot
 * be checked here and is accepted as is; the server checks it after expansion.
 */

/** One reference anywhere inside a string. Same grammar as the server's regex. */
const ENV_REF_INSIDE = /\$\{[A-Za-z_][A-Za-z0-9_]*(?::-[^}]*)?\}/;

/** A string that is exactly one reference and nothing else. */
const ENV_REF_WHOLE = /^\$\{[A-Za-z_][A-Za-z0-9_]*(?::-[^}]*)?\}$/;

/** True when `value` is a string made of a single `${VAR}` / `${VAR:-default}`. */
export function isEnvRef(value: unknown): value is string {
  return typeof value === 'string' && ENV_REF_WHOLE.test(value);
}

/** True when `value` is a string that mentions at least one reference. */
export function containsEnvRef(value: unknown): value is string {
  return typeof value === 'string' && ENV_REF_INSIDE.test(value);
}

/** Every reference in a string, with its name and default. */
const ENV_REF_ALL = /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;

/**
 * What the server makes of `value` in `environment`, as its resolver does: a
 * variable that is set (even to an empty string) gives its value, an unset
 * one its default. Undefined when a reference names a variable `environment`
 * does not set and gives no default (the server would fail, or take a value
 * from an environment DRaaS does not see).
 */
export function expandEnvRefs(value: string, environment: Readonly<Record<string, string>>): string | undefined {
  let unknown = false;
  const expanded = value.replace(ENV_REF_ALL, (_reference, name: string, fallback: string | undefined) => {
    if (Object.hasOwn(environment, name)) return environment[name] ?? '';
    if (fallback !== undefined) return fallback;
    unknown = true;
    return '';
  });
  return unknown ? undefined : expanded;
}
