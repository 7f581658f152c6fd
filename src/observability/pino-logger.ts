/**
 * The `Logger` of the `draas` command: pino, writing to stderr (stdout stays
 * free for what a command prints as its answer). `json`: one JSON object a
 * line, `level` as its name and `time` in ISO 8601, for a log collector;
 * `pretty`: one readable line each, for a person at a terminal. Every line
 * written while a span is active carries its `traceId` and `spanId`.
 */
import type { Writable } from 'node:stream';
import { pino, stdTimeFunctions, type Logger as Pino } from 'pino';
import pinoPretty from 'pino-pretty';
import type { LogFields, LogFormat, Logger, LogThreshold } from './logger.js';
import { traceFields } from './tracing.js';

export interface PinoLoggerOptions {
  level: LogThreshold;
  format: LogFormat;
  /** Where lines go; default stderr. */
  destination?: Writable;
  /** pretty only: colours (default: when the destination is a terminal). */
  colorize?: boolean;
}

/** Names that never reach a line even if a caller passes them by mistake. */
const REDACTED = ['authorization', 'password', 'token', 'headers.authorization', 'headers.cookie', '*.authorization', '*.password', '*.token'];

export function createPinoLogger(options: PinoLoggerOptions): Logger {
  const destination =
    options.format === 'pretty'
      ? pinoPretty({
          destination: options.destination ?? 2,
          sync: true,
          colorize: options.colorize ?? (options.destination === undefined && process.stderr.isTTY === true),
          singleLine: true,
          translateTime: 'SYS:HH:MM:ss.l',
          ignore: 'pid,hostname,role',
        })
      : (options.destination ?? pino.destination({ fd: 2, sync: true }));
  const root = pino(
    {
      level: options.level,
      timestamp: stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      redact: { paths: REDACTED, censor: '[redacted]' },
      mixin: () => traceFields(),
    },
    destination,
  );
  return wrap(root);
}

function wrap(logger: Pino): Logger {
  const at =
    (level: 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal') =>
    (message: string, fields?: LogFields): void => {
      if (fields === undefined) logger[level](message);
      else logger[level](fields, message);
    };
  return {
    trace: at('trace'),
    debug: at('debug'),
    info: at('info'),
    warn: at('warn'),
    error: at('error'),
    fatal: at('fatal'),
    child: (bindings) => wrap(logger.child(bindings)),
  };
}
