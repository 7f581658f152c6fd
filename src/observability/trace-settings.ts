/**
 * Whether `draas` exports traces, read from the standard OpenTelemetry
 * variables. Off by default: only `OTEL_TRACES_EXPORTER` (other than `none`)
 * or an OTLP endpoint (`OTEL_EXPORTER_OTLP_ENDPOINT`,
 * `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) turns it on; `OTEL_SDK_DISABLED=true`
 * keeps it off. Pure: the SDK itself reads the rest (endpoint, headers,
 * sampler, batch sizes, resource attributes, service name).
 */

export const traceExporters = ['otlp', 'console'] as const;
export type TraceExporter = (typeof traceExporters)[number];

export interface TraceSettings {
  /** Empty: tracing off, the SDK is not loaded. */
  exporters: TraceExporter[];
}

type Env = Record<string, string | undefined>;

/** Throws an Error that names the variable on a value draas cannot honour. */
export function traceSettings(env: Env): TraceSettings {
  if ((env.OTEL_SDK_DISABLED ?? '').trim().toLowerCase() === 'true') return { exporters: [] };
  const named = (env.OTEL_TRACES_EXPORTER ?? '').split(',').map((name) => name.trim().toLowerCase()).filter((name) => name !== '');
  const endpoint = [env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, env.OTEL_EXPORTER_OTLP_ENDPOINT].some((value) => (value ?? '').trim() !== '');
  if (named.includes('none')) {
    if (named.length > 1) throw new Error(`OTEL_TRACES_EXPORTER: "none" cannot be combined with other exporters, got "${env.OTEL_TRACES_EXPORTER}"`);
    return { exporters: [] };
  }
  for (const name of named) {
    if (!(traceExporters as readonly string[]).includes(name)) {
      throw new Error(`OTEL_TRACES_EXPORTER must be ${traceExporters.join(', ')} or none (a comma list), got "${name}"`);
    }
  }
  const exporters = named.length > 0 ? [...new Set(named as TraceExporter[])] : endpoint ? (['otlp'] as TraceExporter[]) : [];
  if (exporters.includes('otlp')) {
    for (const variable of ['OTEL_EXPORTER_OTLP_TRACES_PROTOCOL', 'OTEL_EXPORTER_OTLP_PROTOCOL'] as const) {
      const protocol = env[variable]?.trim();
      if (protocol !== undefined && protocol !== '' && protocol !== 'http/protobuf') {
        throw new Error(`${variable}: draas exports OTLP traces as http/protobuf only, got "${protocol}"`);
      }
      if (protocol) break; // the traces-specific variable wins over the general one
    }
  }
  return { exporters };
}
