/**
 * Starts the OpenTelemetry trace SDK for the `draas` command, when
 * `trace-settings.ts` says the environment asks for it. Loaded with a
 * dynamic import, so a process that does not trace never loads the SDK.
 * The exporter, sampler, batch processor and resource read their standard
 * `OTEL_*` variables themselves; the service name defaults to `draas`.
 */
import { envDetector, detectResources, hostDetector, processDetector, resourceFromAttributes } from '@opentelemetry/resources';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { BatchSpanProcessor, ConsoleSpanExporter, NodeTracerProvider, type SpanExporter } from '@opentelemetry/sdk-trace-node';
import { packageVersion } from '../package-version.js';
import type { TraceExporter, TraceSettings } from './trace-settings.js';

export interface TraceSdk {
  /** Exports what is buffered, then stops. Idempotent. */
  shutdown(): Promise<void>;
}

function exporterFor(name: TraceExporter): SpanExporter {
  return name === 'otlp' ? new OTLPTraceExporter() : new ConsoleSpanExporter();
}

/** Registers a global tracer provider (W3C trace context propagation, async-local context) exporting to `settings.exporters`. */
export function startTraceSdk(settings: TraceSettings, options: { role: string }): TraceSdk {
  const detected = detectResources({ detectors: [hostDetector, processDetector, envDetector] });
  // OTEL_SERVICE_NAME / OTEL_RESOURCE_ATTRIBUTES (the env detector) win over these defaults.
  const resource = resourceFromAttributes({ 'service.name': 'draas', 'service.version': packageVersion(), 'draas.role': options.role }).merge(detected);
  const provider = new NodeTracerProvider({
    resource,
    spanProcessors: settings.exporters.map((name) => new BatchSpanProcessor(exporterFor(name))),
  });
  provider.register();
  let stopping: Promise<void> | undefined;
  return { shutdown: () => (stopping ??= provider.shutdown()) };
}
