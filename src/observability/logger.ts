/**
 * The logger components write to: level methods that take a message and the
 * fields it is about (`instanceId`, `commandId`, `workerId`, `requestId`,
 * `traceId`...), and `child(fields)` for a logger that adds them to every
 * line. `draas` gives components a pino logger (`pino-logger.ts`); a library
 * user may pass any object of this shape, or a plain `(message) => void`
 * function as before (it gets the messages of level info and above, without
 * their fields), or nothing (no log).
 *
 * Deliberately left out: formats, destinations and redaction, which belong to
 * the implementation; callers never pass credentials or request bodies.
 */

export const logLevels = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'] as const;
export type LogLevel = (typeof logLevels)[number];
/** What `--log-level` accepts: a level, or `silent` for no log at all. */
export type LogThreshold = LogLevel | 'silent';
export const logThresholds: readonly LogThreshold[] = [...logLevels, 'silent'];

/** `json`: one object a line, for a collector; `pretty`: one readable line, for a person. */
export const logFormats = ['json', 'pretty'] as const;
export type LogFormat = (typeof logFormats)[number];

/** What a line is about; values must be JSON (no credentials, no bodies). */
export type LogFields = Record<string, unknown>;
export type LogMethod = (message: string, fields?: LogFields) => void;

export interface Logger {
  trace: LogMethod;
  debug: LogMethod;
  info: LogMethod;
  warn: LogMethod;
  error: LogMethod;
  fatal: LogMethod;
  /** A logger that adds `bindings` to every line (and keeps this one's). */
  child(bindings: LogFields): Logger;
}

/** What the library's `log` options accept: a `Logger`, or a function that takes each message (info and above). */
export type LogOption = Logger | ((message: string) => void);

const ignore: LogMethod = () => undefined;

/** A logger that writes nothing. */
export const silentLogger: Logger = {
  trace: ignore,
  debug: ignore,
  info: ignore,
  warn: ignore,
  error: ignore,
  fatal: ignore,
  child: () => silentLogger,
};

export function isLogger(option: LogOption | undefined): option is Logger {
  return typeof option === 'object' && option !== null && typeof option.child === 'function';
}

/**
 * A `Logger` from a `log` option. A function gets the messages of level
 * info and above, as it did before levels existed (debug and trace chatter
 * is not for it); fields are dropped, the messages already name what they
 * are about.
 */
export function toLogger(option: LogOption | undefined): Logger {
  if (option === undefined) return silentLogger;
  if (isLogger(option)) return option;
  const write: LogMethod = (message) => option(message);
  const logger: Logger = { trace: ignore, debug: ignore, info: write, warn: write, error: write, fatal: write, child: () => logger };
  return logger;
}

/** A `(message) => void` that logs at `level`: for components that take a plain function. */
export function logAt(logger: Logger, level: LogLevel): (message: string) => void {
  return (message) => logger[level](message);
}
