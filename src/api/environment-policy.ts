/**
 * Which variables an instance's `environment` may not set. The environment is
 * handed to the server (and to whatever it starts) as is, so a variable that
 * changes how a program is loaded, which program runs or which code an
 * interpreter runs first would let whoever creates an instance run code on
 * the host: `LD_PRELOAD` is honoured by the loader, `NODE_OPTIONS` can
 * preload code into a Node-based server or wrapper, an instance's `PATH` would pick
 * the `drasi-server` that runs.
 *
 * The built-in list below always applies; an operator adds to it
 * (`--deny-env`), a request cannot take anything off it. Names are compared
 * ignoring case (Windows treats them so; refusing `ld_preload` costs nothing).
 * Pure: no I/O.
 */

/** One refused variable name (`NAME`) or family of names (`PREFIX*`), with why. */
export interface DeniedVariable {
  pattern: string;
  reason: string;
}

export const BUILT_IN_DENIED_ENVIRONMENT: readonly DeniedVariable[] = [
  // The dynamic loader and the C library.
  { pattern: 'LD_*', reason: 'the dynamic loader obeys LD_* variables: LD_PRELOAD and LD_AUDIT load libraries into the server, LD_LIBRARY_PATH chooses them' },
  { pattern: 'DYLD_*', reason: "the macOS loader's equivalent of LD_*: DYLD_INSERT_LIBRARIES loads libraries into the server" },
  { pattern: 'GLIBC_TUNABLES', reason: 'the loader parses it before the program starts (a buffer overflow in that parsing gave root: CVE-2023-4911)' },
  { pattern: 'GCONV_PATH', reason: 'glibc loads character-set converters (shared libraries) from this directory' },
  { pattern: 'GETCONF_DIR', reason: 'getconf runs programs from this directory' },
  { pattern: 'LOCPATH', reason: 'glibc reads locale data from this directory instead of the system one' },
  { pattern: 'NLSPATH', reason: 'glibc reads message catalogs from there, and their messages are used as format strings' },
  { pattern: 'MALLOC_TRACE', reason: "glibc's malloc tracing writes a file wherever this names" },
  { pattern: 'OPENSSL_CONF', reason: 'an OpenSSL config file can load engines and providers (shared libraries)' },
  { pattern: 'OPENSSL_ENGINES', reason: 'the directory where OpenSSL finds the engines (shared libraries) it loads' },
  { pattern: 'OPENSSL_MODULES', reason: 'the directory where OpenSSL finds the providers (shared libraries) it loads' },
  // Which program runs.
  { pattern: 'PATH', reason: 'it decides which program runs for a bare name: the server itself when its executable is a bare name, and whatever it or a wrapper starts' },
  // Interpreters the server, a wrapper script or a plugin may be.
  { pattern: 'NODE_OPTIONS', reason: 'Node.js preloads the modules its options name before the program runs' },
  { pattern: 'NODE_PATH', reason: 'Node.js looks up modules in these directories first' },
  { pattern: 'PYTHONPATH', reason: 'Python loads modules from these directories first' },
  { pattern: 'PYTHONHOME', reason: "it replaces Python's standard library" },
  { pattern: 'PYTHONSTARTUP', reason: 'a file Python runs before an interactive session' },
  { pattern: 'PYTHONUSERBASE', reason: "where Python finds user site-packages, whose .pth files run code at start" },
  { pattern: 'PYTHONWARNINGS', reason: 'a warning filter names a category that Python loads, i.e. runs' },
  { pattern: 'PYTHONBREAKPOINT', reason: 'it names a function Python loads and calls on breakpoint()' },
  { pattern: 'PERL5OPT', reason: 'command-line switches for every perl, e.g. -M to load a module' },
  { pattern: 'PERL5LIB', reason: 'Perl loads modules from these directories first' },
  { pattern: 'PERLLIB', reason: 'Perl loads modules from these directories first' },
  { pattern: 'PERL5DB', reason: 'code the Perl debugger runs' },
  { pattern: 'RUBYOPT', reason: 'command-line switches for every ruby, e.g. -r to load a library' },
  { pattern: 'RUBYLIB', reason: 'Ruby loads libraries from these directories first' },
  { pattern: 'JAVA_TOOL_OPTIONS', reason: 'options for every JVM, e.g. -javaagent to load code' },
  { pattern: '_JAVA_OPTIONS', reason: 'options for every JVM, e.g. -javaagent to load code' },
  { pattern: 'JDK_JAVA_OPTIONS', reason: 'options for the java launcher, e.g. -javaagent to load code' },
  { pattern: 'CLASSPATH', reason: 'where a JVM finds the classes it loads' },
  // Shells (a wrapper script, or anything the server starts through a shell).
  { pattern: 'BASH_ENV', reason: 'a file bash runs before every non-interactive script' },
  { pattern: 'ENV', reason: 'a file sh and ksh run at start' },
  { pattern: 'BASH_FUNC_*', reason: 'bash turns these into shell functions, which can stand in for any command' },
  { pattern: 'SHELLOPTS', reason: 'it turns bash options on in every script (xtrace expands PS4, which may run commands)' },
  { pattern: 'BASHOPTS', reason: 'it turns bash shopt options on in every script' },
  { pattern: 'PS4', reason: 'bash expands it, command substitutions included, for every traced command' },
  { pattern: 'IFS', reason: 'it changes how shells split words, so scripts run other commands than written' },
];

/** `NAME` or `PREFIX*`: letters, digits and `_`, as environment names are. */
const PATTERN = /^[A-Za-z_][A-Za-z0-9_]*\*?$/;

/** Checks an operator's `--deny-env` entry; throws a RangeError saying what is wrong. */
export function parseDeniedPattern(text: string): string {
  const pattern = text.trim();
  if (!PATTERN.test(pattern)) {
    throw new RangeError(`a denied environment variable is a NAME or a PREFIX* (letters, digits and "_"), got "${text}"`);
  }
  return pattern;
}

function matches(pattern: string, name: string): boolean {
  const upper = name.toUpperCase();
  const wanted = pattern.toUpperCase();
  return wanted.endsWith('*') ? upper.startsWith(wanted.slice(0, -1)) : upper === wanted;
}

/** Why `name` may not be set, or undefined. The built-in list first, then the operator's patterns. */
export function deniedVariableReason(name: string, operatorPatterns: readonly string[]): string | undefined {
  const builtIn = BUILT_IN_DENIED_ENVIRONMENT.find((entry) => matches(entry.pattern, name));
  if (builtIn) return builtIn.reason;
  const operator = operatorPatterns.find((pattern) => matches(pattern, name));
  return operator === undefined ? undefined : `the operator does not allow it (--deny-env ${operator})`;
}
