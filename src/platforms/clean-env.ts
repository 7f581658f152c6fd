/** Variables of the control plane's own environment that a server inherits. Nothing else leaks (notably not `RUST_LOG`). */
export const INHERITED_VARIABLES = ['PATH', 'HOME', 'LANG', 'LC_ALL', 'TZ'] as const;

/**
 * The complete environment of a server: the few inherited variables that are
 * set, then the instance's own `env` on top (which may set anything,
 * including `RUST_LOG` or `PATH`).
 */
export function cleanEnvironment(own: NodeJS.ProcessEnv, instanceEnv: Record<string, string>): Record<string, string> {
  const env: Record<string, string> = {};
  for (const name of INHERITED_VARIABLES) {
    const value = own[name];
    if (value !== undefined) env[name] = value;
  }
  for (const [name, value] of Object.entries(instanceEnv)) env[name] = String(value);
  return env;
}
