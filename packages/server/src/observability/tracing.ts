/**
 * OpenTelemetry tracing hooks (API only). Without a registered SDK every call
 * here returns the API's no-op spans, so the cost is a few object allocations
 * per publish. With an SDK (see docs/operations.md, "Tracing") the publish
 * pipeline yields:
 *
 *   herald.http <route>          SERVER span per API request (request id attribute)
 *     herald.publish             one per message: target kind, reliable, id
 *       herald.store             the inbox appends (engine.append), reliable only
 *       herald.fanout            local write + hand-off to the engine, ephemeral only
 *   herald.ack                   sampled: an ack of the newest message of a user,
 *                                linked to its herald.publish span
 *
 * Per-recipient deliver/ack spans are deliberately not created: a room
 * fan-out to 5,000 sockets would create 5,000 spans. Deliveries are recorded
 * as a span event with the recipient count, acks as the sampled span above
 * and as the herald_ack_latency_seconds histogram.
 */
import { context, propagation, trace, ProxyTracerProvider, INVALID_SPAN_CONTEXT, SpanKind, SpanStatusCode, type Attributes, type Context, type Span, type SpanContext, type Tracer } from '@opentelemetry/api';

export { SpanKind, type Span, type SpanContext };

/** The instrumentation scope name every Herald span carries. */
export const TRACER_NAME = '@herald/server';

// A ProxyTracer: it delegates to an SDK registered later, so caching is safe.
const tracer: Tracer = trace.getTracer(TRACER_NAME);

export function getTracer(): Tracer {
  return tracer;
}

function fail(span: Span, err: unknown): void {
  span.recordException(err instanceof Error ? err : String(err));
  span.setStatus({ code: SpanStatusCode.ERROR, message: err instanceof Error ? err.message : String(err) });
}

/**
 * Whether a tracer provider (an SDK) is registered. Without one every span is the API's no-op,
 * and the hot paths skip building spans, their attributes and the contexts that carry them
 * (issue 20: four no-op spans per publish were a measurable share of its cost). Read at each
 * call, so an SDK registered after start takes effect at the next request.
 */
export function tracingActive(): boolean {
  const p = trace.getTracerProvider();
  return !(p instanceof ProxyTracerProvider) || p.getDelegateTracer(TRACER_NAME) !== undefined;
}

/** What `fn` gets when nothing records: a non-recording span (isRecording() is false). */
export const NO_SPAN: Span = trace.wrapSpanContext(INVALID_SPAN_CONTEXT);

/** Runs `fn` inside an active span that ends when it settles (errors recorded); without an SDK, just runs it. */
export function inSpan<T>(name: string, attributes: Attributes, fn: (span: Span) => Promise<T>, kind: SpanKind = SpanKind.INTERNAL, parent?: Context): Promise<T> {
  if (!tracingActive()) return fn(NO_SPAN);
  return tracer.startActiveSpan(name, { kind, attributes }, parent ?? context.active(), async (span) => {
    try {
      return await fn(span);
    } catch (err) {
      fail(span, err);
      throw err;
    } finally {
      span.end();
    }
  });
}

/** The context carried by incoming W3C `traceparent`/`tracestate` headers (no-op without a propagator). */
export function extractContext(headers: Record<string, string | string[] | undefined>): Context {
  return propagation.extract(context.active(), headers);
}

/** The active span's context when it is being recorded (i.e. an SDK samples it). */
export function recordingSpanContext(): SpanContext | undefined {
  const span = trace.getActiveSpan();
  return span !== undefined && span.isRecording() ? span.spanContext() : undefined;
}

/** A finished span for an ack, linked to the publish span; start = publish time. */
export function recordAckSpan(publish: SpanContext, publishedAt: number, attributes: Attributes): void {
  tracer.startSpan('herald.ack', { kind: SpanKind.INTERNAL, startTime: publishedAt, links: [{ context: publish }], attributes }).end();
}
