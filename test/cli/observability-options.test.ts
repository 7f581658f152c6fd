/** `--log-level`, `--log-format` and the OTEL_* variables as the command line reads them (pure). */
import test from 'ava';
import { parseCommandLine, usage, UsageError, type CliCommand } from '../../src/cli-options.js';

const redis = { DRAAS_REDIS_URL: 'redis://h:1' };
const observability = (command: CliCommand) => (command as Extract<CliCommand, { command: 'up' }>).observability;

test('defaults: info, the format decided at start (terminal or not), tracing off', (t) => {
  for (const argv of [['up'], ['control-plane'], ['worker']]) {
    t.deepEqual(observability(parseCommandLine(argv, redis)), { logLevel: 'info', tracing: { exporters: [] } }, argv.join(' '));
  }
});

test('--log-level and --log-format, or DRAAS_LOG_LEVEL and DRAAS_LOG_FORMAT; the flag wins', (t) => {
  t.like(observability(parseCommandLine(['up', '--log-level', 'debug', '--log-format', 'json'], {})), { logLevel: 'debug', logFormat: 'json' });
  t.like(observability(parseCommandLine(['worker'], { ...redis, DRAAS_LOG_LEVEL: 'silent', DRAAS_LOG_FORMAT: 'pretty' })), { logLevel: 'silent', logFormat: 'pretty' });
  t.like(observability(parseCommandLine(['control-plane', '--log-level', 'warn'], { ...redis, DRAAS_LOG_LEVEL: 'trace' })), { logLevel: 'warn' });
  t.is(observability(parseCommandLine(['up'], { DRAAS_LOG_FORMAT: '' })).logFormat, undefined, 'an empty variable is the default');
  for (const level of ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const) {
    t.is(observability(parseCommandLine(['up', '--log-level', level], {})).logLevel, level);
  }
});

test('bad log levels and formats are usage errors that name what is accepted', (t) => {
  t.throws(() => parseCommandLine(['up', '--log-level', 'verbose'], {}), { instanceOf: UsageError, message: '--log-level must be one of trace, debug, info, warn, error, fatal, silent, got "verbose"' });
  t.throws(() => parseCommandLine(['up', '--log-level', 'INFO'], {}), { instanceOf: UsageError, message: /--log-level must be one of/ });
  t.throws(() => parseCommandLine(['worker'], { ...redis, DRAAS_LOG_LEVEL: 'loud' }), { instanceOf: UsageError, message: /got "loud"/ });
  t.throws(() => parseCommandLine(['up', '--log-format', 'text'], {}), { instanceOf: UsageError, message: '--log-format must be json or pretty, got "text"' });
  t.throws(() => parseCommandLine(['machine', '--log-level', 'info'], {}), { instanceOf: UsageError });
});

test('tracing is on only when OTEL_* asks, and refuses what draas cannot export', (t) => {
  const tracing = (env: Record<string, string>) => observability(parseCommandLine(['up'], env)).tracing;
  t.deepEqual(tracing({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' }), { exporters: ['otlp'] });
  t.deepEqual(tracing({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://collector:4318/v1/traces' }), { exporters: ['otlp'] });
  t.deepEqual(tracing({ OTEL_TRACES_EXPORTER: 'console, otlp' }), { exporters: ['console', 'otlp'] });
  t.deepEqual(tracing({ OTEL_TRACES_EXPORTER: 'none', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' }), { exporters: [] }, 'none wins over an endpoint');
  t.deepEqual(tracing({ OTEL_SDK_DISABLED: 'true', OTEL_TRACES_EXPORTER: 'otlp' }), { exporters: [] });
  t.deepEqual(tracing({ OTEL_SERVICE_NAME: 'draas-eu' }), { exporters: [] }, 'a service name alone turns nothing on');
  t.deepEqual(tracing({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf' }), { exporters: ['otlp'] });
  t.deepEqual(tracing({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'http/protobuf', OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' }), { exporters: ['otlp'] }, 'the traces-specific protocol wins');
  t.throws(() => tracing({ OTEL_TRACES_EXPORTER: 'zipkin' }), { instanceOf: UsageError, message: 'OTEL_TRACES_EXPORTER must be otlp, console or none (a comma list), got "zipkin"' });
  t.throws(() => tracing({ OTEL_TRACES_EXPORTER: 'none,otlp' }), { instanceOf: UsageError, message: /"none" cannot be combined/ });
  t.throws(() => tracing({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4317', OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' }), { instanceOf: UsageError, message: 'OTEL_EXPORTER_OTLP_PROTOCOL: draas exports OTLP traces as http/protobuf only, got "grpc"' });
  t.deepEqual(tracing({ OTEL_TRACES_EXPORTER: 'console', OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' }), { exporters: ['console'] }, 'the protocol matters only to otlp');
});

test('the usage text lists the new flags', (t) => {
  t.regex(usage, /--log-level <level>/);
  t.regex(usage, /--log-format <f>/);
  t.regex(usage, /OTEL_TRACES_EXPORTER/);
});
