/** Variables of the control plane's own environment that a server inherits. Nothing else leaks (notably not `RUST_LOG`). */
export const INHERITED_VARIABLES = ['PATH', 'HOME', 'LANG', 'LC_ALL', 'TZ'] as const;

/** Inherited variables an instance's environment cannot replace: they decide which programs run. */
export const FIXED_VARIABLES: ReadonlySet<string> = new Set(['PATH']);

/**
 * The complete environment of a server: the few inherited variables that are
 * set, then the instance's own `env` on top (which may set `RUST_LOG`, `HOME`
 * or `LANG`, but not `PATH`: the control plane refuses an instance that
 * tries, see src/api/environment-policy.ts, and should one get here anyway
 * the worker's PATH stays).
 */
export function cleanEnvironment(own: NodeJS.ProcessEnv, instanceEnv: Record<string, string>): Record<string, string> {
  const env: Record<string, string> = {};
  for (const name of INHERITED_VARIABLES) {
    const value = own[name];
    if (value !== undefined) env[name] = value;
  }
  for (const [name, value] of Object.entries(instanceEnv)) {
    if (FIXED_VARIABLES.has(name.toUpperCase())) continue;
    env[name] = String(value);
  }
  return env;
}
