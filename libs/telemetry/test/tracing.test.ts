/**
 * startTracing: off without an endpoint (nothing of OpenTelemetry loaded or registered, nothing sent, helpers
 * no-ops), and on with one: spans exported over OTLP/HTTP, continuing a traceparent, linked, active inside withSpan.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { startOtlpReceiver, waitFor, type OtlpReceiver } from '@securecart/testing';
import {
  currentTraceparent, inSpan, parseTraceparent, startSpan, startTracing, tracesUrl, tracingEnabled, withSpan, type Tracing,
} from '../src/index.ts';

const OTEL_GLOBAL = Symbol.for('opentelemetry.js.api.1');
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function receiver(): Promise<OtlpReceiver> {
  const started = await startOtlpReceiver();
  cleanups.push(() => started.close());
  return started;
}

async function tracingTo(endpoint: string): Promise<Tracing> {
  const tracing = await startTracing({ serviceName: 'telemetry-test', endpoint });
  cleanups.push(() => tracing.shutdown());
  return tracing;
}

describe('startTracing', () => {
  it('without an endpoint starts nothing: no OpenTelemetry globals, no export, no-op spans', async () => {
    const collector = await receiver();
    const tracing = await startTracing({ serviceName: 'telemetry-test', endpoint: undefined, tracesEndpoint: undefined });
    expect(tracing.enabled).toBe(false);
    expect(tracingEnabled()).toBe(false);
    expect(OTEL_GLOBAL in globalThis).toBe(false);
    const result = await inSpan('work', { kind: 'internal', parent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' }, async (span) => {
      expect(span.traceparent).toBe('');
      expect(currentTraceparent()).toBeUndefined();
      return 42;
    });
    expect(result).toBe(42);
    await tracing.flush();
    await tracing.shutdown();
    expect(collector.requests).toBe(0);
    expect(OTEL_GLOBAL in globalThis).toBe(false);
  });

  it('posts to <endpoint>/v1/traces, or to the traces endpoint as it is', () => {
    expect(tracesUrl({ endpoint: 'http://localhost:4318' })).toBe('http://localhost:4318/v1/traces');
    expect(tracesUrl({ endpoint: 'http://localhost:4318/' })).toBe('http://localhost:4318/v1/traces');
    expect(tracesUrl({ endpoint: 'http://a:4318', tracesEndpoint: 'http://b:4318/custom' })).toBe('http://b:4318/custom');
    expect(tracesUrl({})).toBeUndefined();
  });

  it('with an endpoint exports spans that continue a traceparent, link, and are active inside withSpan', async () => {
    const collector = await receiver();
    const tracing = await tracingTo(collector.endpoint);
    expect(tracing.enabled).toBe(true);
    expect(tracingEnabled()).toBe(true);
    const parent = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
    const linked = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
    const span = startSpan('outer', { kind: 'consumer', parent, links: [linked, 'not-a-traceparent'], attributes: { 'a.b': 'c', skipped: undefined } });
    expect(parseTraceparent(span.traceparent)?.traceId).toBe('0af7651916cd43dd8448eb211c80319c');
    let inner = '';
    await withSpan(span, async () => {
      expect(currentTraceparent()).toBe(span.traceparent);
      await inSpan('inner', { kind: 'producer' }, async (child) => {
        inner = child.traceparent;
        expect(currentTraceparent()).toBe(child.traceparent);
      });
    });
    await expect(inSpan('failing', { kind: 'internal' }, async () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    span.end();
    expect(currentTraceparent()).toBeUndefined();

    await waitFor(
      async () => {
        await tracing.flush();
        return collector.spans.length >= 3;
      },
      { timeoutMs: 5_000, what: 'three spans exported' },
    );
    const byName = Object.fromEntries(collector.spans.map((s) => [s.name, s]));
    expect(byName.outer).toMatchObject({
      service: 'telemetry-test', kind: 'consumer', traceId: '0af7651916cd43dd8448eb211c80319c', parentSpanId: 'b7ad6b7169203331',
      links: [{ traceId: '4bf92f3577b34da6a3ce929d0e0e4736', spanId: '00f067aa0ba902b7' }], attributes: { 'a.b': 'c' },
    });
    expect(byName.outer!.attributes).not.toHaveProperty('skipped');
    expect(byName.inner).toMatchObject({ kind: 'producer', traceId: byName.outer!.traceId, parentSpanId: byName.outer!.spanId, spanId: parseTraceparent(inner)?.spanId });
    expect(byName.failing).toMatchObject({ status: 'error', parentSpanId: undefined });

    await tracing.shutdown();
    expect(tracingEnabled()).toBe(false);
  });
});
