/**
 * Tracing hooks: with an OpenTelemetry SDK registered, an API publish yields
 * herald.http → herald.publish → herald.store (reliable) or herald.fanout
 * (ephemeral, with a herald.deliver event), and an ack of the newest message
 * yields a herald.ack span linked to the publish pipeline. Without an SDK the
 * same code runs on the API's no-op spans (every other test file).
 *
 * No SDK package is installed, so a minimal recording TracerProvider and an
 * AsyncLocalStorage context manager stand in for one (the API's contracts).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { AsyncLocalStorage } from 'node:async_hooks';
import { randomBytes } from 'node:crypto';
import {
  context,
  trace,
  ROOT_CONTEXT,
  TraceFlags,
  type Attributes,
  type Context,
  type ContextManager,
  type Link,
  type Span,
  type SpanContext,
  type SpanOptions,
  type SpanStatus,
  type Tracer,
  type TracerProvider,
} from '@opentelemetry/api';
import type { HeraldNode } from '../../src/node.js';
import { connect, publish, startNode, waitUntil } from '../helpers/harness.js';

class AlsContextManager implements ContextManager {
  private readonly als = new AsyncLocalStorage<Context>();
  active(): Context {
    return this.als.getStore() ?? ROOT_CONTEXT;
  }
  with<A extends unknown[], F extends (...args: A) => ReturnType<F>>(ctx: Context, fn: F, thisArg?: ThisParameterType<F>, ...args: A): ReturnType<F> {
    return this.als.run(ctx, () => fn.apply(thisArg, args));
  }
  bind<T>(_ctx: Context, target: T): T {
    return target;
  }
  enable(): this {
    return this;
  }
  disable(): this {
    this.als.disable();
    return this;
  }
}

class RecordedSpan implements Span {
  readonly ctx: SpanContext;
  readonly attributes: Attributes = {};
  readonly events: { name: string; attributes?: Attributes }[] = [];
  status: SpanStatus = { code: 0 };
  ended = false;
  constructor(
    public name: string,
    readonly parent: SpanContext | undefined,
    readonly options: SpanOptions,
  ) {
    this.ctx = { traceId: parent?.traceId ?? randomBytes(16).toString('hex'), spanId: randomBytes(8).toString('hex'), traceFlags: TraceFlags.SAMPLED };
    Object.assign(this.attributes, options.attributes ?? {});
  }
  spanContext(): SpanContext {
    return this.ctx;
  }
  setAttribute(k: string, v: Attributes[string]): this {
    this.attributes[k] = v;
    return this;
  }
  setAttributes(a: Attributes): this {
    Object.assign(this.attributes, a);
    return this;
  }
  addEvent(name: string, attributes?: Attributes): this {
    this.events.push({ name, ...(attributes && typeof attributes === 'object' && !(attributes instanceof Date) && !Array.isArray(attributes) ? { attributes: attributes as Attributes } : {}) });
    return this;
  }
  addLink(_l: Link): this {
    return this;
  }
  addLinks(_l: Link[]): this {
    return this;
  }
  setStatus(s: SpanStatus): this {
    this.status = s;
    return this;
  }
  updateName(n: string): this {
    this.name = n;
    return this;
  }
  end(): void {
    this.ended = true;
  }
  isRecording(): boolean {
    return !this.ended;
  }
  recordException(): void {}
}

const spans: RecordedSpan[] = [];

class RecordingTracer implements Tracer {
  startSpan(name: string, options: SpanOptions = {}, ctx: Context = context.active()): Span {
    const parent = options.root ? undefined : trace.getSpanContext(ctx);
    const s = new RecordedSpan(name, parent, options);
    spans.push(s);
    return s;
  }
  startActiveSpan<F extends (span: Span) => unknown>(name: string, ...args: unknown[]): ReturnType<F> {
    const fn = args.pop() as F;
    const [options, ctx] = args as [SpanOptions | undefined, Context | undefined];
    const parentCtx = ctx ?? context.active();
    const span = this.startSpan(name, options, parentCtx);
    return context.with(trace.setSpan(parentCtx, span), () => fn(span)) as ReturnType<F>;
  }
}

const provider: TracerProvider = { getTracer: () => new RecordingTracer() };

const nodes: HeraldNode[] = [];
before(() => {
  assert.ok(context.setGlobalContextManager(new AlsContextManager()));
  assert.ok(trace.setGlobalTracerProvider(provider));
});
after(async () => {
  await Promise.all(nodes.map((n) => n.close()));
  trace.disable();
  context.disable();
});

const byName = (name: string): RecordedSpan[] => spans.filter((s) => s.name === name);
const childOf = (child: RecordedSpan, parent: RecordedSpan): boolean => child.parent?.spanId === parent.ctx.spanId && child.ctx.traceId === parent.ctx.traceId;

test('a reliable publish: herald.http → herald.publish → herald.store; the ack is a linked herald.ack span', async () => {
  const n = await startNode();
  nodes.push(n);
  const c = await connect(n, 'tracy');
  spans.length = 0;
  const r = await publish(n, { to: { user: 'tracy' }, data: { hi: 1 } });
  assert.equal(r.status, 200);
  await c.waitFor((f) => f.type === 'message');

  const http = byName('herald.http publish');
  assert.equal(http.length, 1);
  assert.equal(http[0]!.options.kind, 1 /* SERVER */);
  assert.equal(http[0]!.attributes['herald.request_id'], r.headers.get('x-request-id'));
  assert.equal(http[0]!.attributes['http.response.status_code'], 200);
  const pub = byName('herald.publish')[0]!;
  assert.ok(childOf(pub, http[0]!), 'publish is a child of the HTTP span');
  assert.equal(pub.attributes['herald.target'], 'user');
  assert.equal(pub.attributes['herald.reliable'], true);
  assert.equal(pub.attributes['herald.message_id'], r.body.id);
  assert.equal(pub.attributes['herald.online'], 1);
  const store = byName('herald.store')[0]!;
  assert.ok(childOf(store, pub), 'store is a child of publish');
  assert.ok([http[0]!, pub, store].every((s) => s.ended));

  const ack = await waitUntil(() => byName('herald.ack')[0], 5000, 'the ack span');
  const links = ack.options.links ?? [];
  assert.equal(links.length, 1);
  assert.equal(links[0]!.context.spanId, store.ctx.spanId, 'linked to the pipeline that stored the message');
  assert.equal(ack.attributes['herald.seq'], 1);
  c.close();
});

test('an ephemeral room publish: herald.fanout with one herald.deliver event, no span per recipient', async () => {
  const n = await startNode();
  nodes.push(n);
  const members = await Promise.all(['a', 'b', 'c'].map((u) => connect(n, u)));
  for (const m of members) assert.equal((await m.request({ type: 'join', room: 'hall' })).type, 'reply');
  spans.length = 0;
  assert.equal((await publish(n, { to: { room: 'hall' }, data: 'hello' })).status, 200);
  await Promise.all(members.map((m) => m.waitFor((f) => f.type === 'message' && f.room === 'hall')));

  const fan = byName('herald.fanout');
  assert.equal(fan.length, 1);
  assert.ok(childOf(fan[0]!, byName('herald.publish')[0]!));
  assert.deepEqual(fan[0]!.events, [{ name: 'herald.deliver', attributes: { 'herald.local_recipients': 3 } }]);
  assert.equal(byName('herald.store').length, 0);
  assert.equal(spans.length, 3, `spans: ${spans.map((s) => s.name).join(', ')}`);
  for (const m of members) m.close();
});
