/**
 * OpenTelemetry tracing, switched on by configuration: startTracing() with an OTLP/HTTP endpoint (the ADOT
 * collector sidecar in ECS, any OTLP collector locally) loads the SDK, and spans go there in batches; without one
 * nothing is imported and every helper is a cheap no-op behind tracingEnabled().
 *
 * The tracer provider, context manager and propagator are process-wide by OpenTelemetry's design (the API's
 * globals), so the one started tracer is module state here too: a process starts tracing once, in its entry point,
 * and shuts it down (flushing the last spans) when it stops.
 */
import type * as Api from '@opentelemetry/api';
import { formatTraceparent, parseTraceparent } from './traceparent.ts';

export interface TracingOptions {
  /** the resource's service.name, e.g. "checkout" or "orders-worker" */
  serviceName: string;
  /** OTEL_EXPORTER_OTLP_ENDPOINT: the collector's base URL; spans are posted to <endpoint>/v1/traces */
  endpoint?: string | undefined;
  /** OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: the full URL spans are posted to (wins over endpoint) */
  tracesEndpoint?: string | undefined;
}

export interface Tracing {
  enabled: boolean;
  /** exports the spans ended so far (tests; shutdown flushes on its own) */
  flush(): Promise<void>;
  /** flushes, stops exporting and unregisters the globals */
  shutdown(): Promise<void>;
}

interface Started {
  api: typeof Api;
  tracer: Api.Tracer;
}

let started: Started | undefined;

/** One boolean check: what hot paths ask before doing anything about spans. */
export function tracingEnabled(): boolean {
  return started !== undefined;
}

/** The URL the exporter posts to, or undefined when tracing is off. */
export function tracesUrl(options: Pick<TracingOptions, 'endpoint' | 'tracesEndpoint'>): string | undefined {
  if (options.tracesEndpoint) return options.tracesEndpoint;
  if (options.endpoint) return `${options.endpoint.replace(/\/+$/, '')}/v1/traces`;
  return undefined;
}

const OFF: Tracing = { enabled: false, flush: async () => {}, shutdown: async () => {} };

export async function startTracing(options: TracingOptions): Promise<Tracing> {
  const url = tracesUrl(options);
  if (!url) return OFF;
  if (started) throw new Error('tracing is already started in this process');
  const [api, { AsyncLocalStorageContextManager }, { W3CTraceContextPropagator }, { OTLPTraceExporter }, { resourceFromAttributes }, sdk] =
    await Promise.all([
      import('@opentelemetry/api'),
      import('@opentelemetry/context-async-hooks'),
      import('@opentelemetry/core'),
      import('@opentelemetry/exporter-trace-otlp-http'),
      import('@opentelemetry/resources'),
      import('@opentelemetry/sdk-trace'),
    ]);
  const provider = new sdk.TracerProvider({
    resource: resourceFromAttributes({ 'service.name': options.serviceName }),
    spanProcessors: [new sdk.BatchSpanProcessor({ exporter: new OTLPTraceExporter({ url }) })],
  });
  const contextManager = new AsyncLocalStorageContextManager().enable();
  api.context.setGlobalContextManager(contextManager);
  api.propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  api.trace.setGlobalTracerProvider(provider);
  started = { api, tracer: provider.getTracer('@securecart/telemetry') };
  let stopping: Promise<void> | undefined;
  return {
    enabled: true,
    flush: () => provider.forceFlush(),
    shutdown: () => {
      stopping ??= (async () => {
        started = undefined;
        try {
          await provider.shutdown();
        } finally {
          api.trace.disable();
          api.propagation.disable();
          api.context.disable();
        }
      })();
      return stopping;
    },
  };
}

export type SpanKindName = 'server' | 'client' | 'producer' | 'consumer' | 'internal';
export type SpanAttributes = Record<string, string | number | boolean | undefined>;

export interface SpanOptions {
  kind: SpanKindName;
  /** a traceparent to continue; without a valid one, the span's parent is the active span (if any) */
  parent?: string | undefined;
  /** traceparents the span is linked to (a batch span links to each of its messages) */
  links?: (string | undefined)[];
  attributes?: SpanAttributes;
}

/** A started span, with only what SecureCart's code does to spans. */
export interface SpanHandle {
  /** this span's context as a traceparent: what the work it causes carries on */
  readonly traceparent: string;
  setAttribute(key: string, value: string | number | boolean): void;
  /** marks the span failed, recording the error */
  fail(error: unknown): void;
  end(): void;
}

class StartedSpan implements SpanHandle {
  readonly traceparent: string;
  readonly context: Api.Context;
  private readonly span: Api.Span;
  private readonly api: typeof Api;

  constructor(api: typeof Api, span: Api.Span, context: Api.Context) {
    this.api = api;
    this.span = span;
    this.context = context;
    this.traceparent = formatTraceparent(span.spanContext());
  }

  setAttribute(key: string, value: string | number | boolean): void {
    this.span.setAttribute(key, value);
  }

  fail(error: unknown): void {
    const message = error instanceof Error ? error.message : String(error);
    if (error instanceof Error) this.span.recordException(error);
    this.span.setStatus({ code: this.api.SpanStatusCode.ERROR, message });
  }

  end(): void {
    this.span.end();
  }
}

const NOOP_SPAN: SpanHandle = { traceparent: '', setAttribute: () => {}, fail: () => {}, end: () => {} };

function spanContextOf(traceparent: string | undefined): Api.SpanContext | undefined {
  const parts = parseTraceparent(traceparent);
  return parts ? { ...parts, isRemote: true } : undefined;
}

const KINDS = { server: 'SERVER', client: 'CLIENT', producer: 'PRODUCER', consumer: 'CONSUMER', internal: 'INTERNAL' } as const;

/** Starts a span (not made active: see withSpan). A no-op span when tracing is off. */
export function startSpan(name: string, options: SpanOptions): SpanHandle {
  if (!started) return NOOP_SPAN;
  const { api, tracer } = started;
  const remote = spanContextOf(options.parent);
  const parentContext = remote ? api.trace.setSpanContext(api.ROOT_CONTEXT, remote) : api.context.active();
  const links: Api.Link[] = [];
  for (const traceparent of options.links ?? []) {
    const context = spanContextOf(traceparent);
    if (context) links.push({ context });
  }
  const attributes: Api.Attributes = {};
  for (const [key, value] of Object.entries(options.attributes ?? {})) if (value !== undefined) attributes[key] = value;
  const span = tracer.startSpan(name, { kind: api.SpanKind[KINDS[options.kind]], attributes, links }, parentContext);
  return new StartedSpan(api, span, api.trace.setSpan(parentContext, span));
}

/** Runs fn with `span` as the active span: what fn (and all it awaits) starts, or asks currentTraceparent() for, is under it. */
export function withSpan<T>(span: SpanHandle, fn: () => T): T {
  if (!started || !(span instanceof StartedSpan)) return fn();
  return started.api.context.with(span.context, fn);
}

/** Starts a span, runs fn inside it, marks it failed if fn throws, and ends it. */
export async function inSpan<T>(name: string, options: SpanOptions, fn: (span: SpanHandle) => Promise<T>): Promise<T> {
  const span = startSpan(name, options);
  try {
    return await withSpan(span, () => fn(span));
  } catch (error) {
    span.fail(error);
    throw error;
  } finally {
    span.end();
  }
}

/** The active span's context as a traceparent, or undefined (tracing off, or no span active). */
export function currentTraceparent(): string | undefined {
  if (!started) return undefined;
  const span = started.api.trace.getActiveSpan();
  if (!span) return undefined;
  const context = span.spanContext();
  return started.api.isSpanContextValid(context) ? formatTraceparent(context) : undefined;
}
