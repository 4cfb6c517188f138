/**
 * One object per outgoing frame that holds all of its wire encodings: the v1
 * WebSocket text frame and the v2 binary frame per negotiated codec. Each is
 * built at the first recipient that needs it and then shared by every other
 * recipient (DESIGN.md §4: encode once per fan-out), whatever mix of v1 and
 * v2 connections the fan-out reaches. Server-Sent Events sessions share its
 * JSON text and SSE event the same way.
 */
import type { InboxMessage } from '../engine/types.js';
import { batchFrame, reliableFrame } from './serverFrames.js';
import { sseEventOfText } from './sseFrames.js';
import { V2Frames, type V2Session } from './v2Frames.js';
import { textWireFrame, type WireFrame } from './wireFrame.js';

/** What an EncodedFrame is built from (a tag, not closures: one small object per frame). */
const TEXT = 0;
const BATCH = 1;
const RELIABLE = 2;
type Kind = typeof TEXT | typeof BATCH | typeof RELIABLE;

export class EncodedFrame {
  private v1: WireFrame | undefined;
  private v2: V2Frames | undefined;
  private json: string | undefined;
  private event: string | undefined;

  private constructor(
    private readonly kind: Kind,
    /** Text: its v1 JSON text; Batch: the message frames; Reliable: the message. */
    private readonly source: string | readonly string[] | InboxMessage,
  ) {
    if (kind === TEXT) this.json = source as string;
  }

  /** A v1 server text frame (an ephemeral message, a presence event). */
  static ofText(text: string): EncodedFrame {
    return new EncodedFrame(TEXT, text);
  }

  /**
   * A room batch: several message frames in one WebSocket frame (v1 `batch`,
   * v2 Batch). Server-Sent Events get one event per message instead: an SSE
   * stream is a text stream already, so its readers see no new event shape.
   */
  static ofBatch(messages: readonly string[]): EncodedFrame {
    return new EncodedFrame(BATCH, messages);
  }

  /** A reliable message: the v2 header carries its seq. */
  static ofReliable(m: InboxMessage): EncodedFrame {
    return new EncodedFrame(RELIABLE, m);
  }

  /** The WebSocket frame for a connection speaking v1 (`session` undefined) or v2 with `session`'s codec. */
  frameFor(session: V2Session | undefined): WireFrame {
    if (session === undefined) return (this.v1 ??= textWireFrame(this.text()));
    return (this.v2 ??= this.v2Frames()).get(session);
  }

  /** The frame's v1 JSON text, built once. */
  text(): string {
    return (this.json ??= this.kind === BATCH ? batchFrame(this.source as readonly string[]) : reliableFrame(this.source as InboxMessage));
  }

  /** The frame as one Server-Sent Event (`id: <seq>` for a reliable message), built once. */
  sse(): string {
    if (this.event !== undefined) return this.event;
    if (this.kind === BATCH) return (this.event = (this.source as readonly string[]).map((m) => sseEventOfText(m)).join(''));
    return (this.event = sseEventOfText(this.text(), this.kind === RELIABLE ? (this.source as InboxMessage).seq : undefined));
  }

  private v2Frames(): V2Frames {
    if (this.kind === TEXT) return V2Frames.ofText(this.source as string);
    if (this.kind === BATCH) return V2Frames.ofBatch(this.source as readonly string[]);
    return V2Frames.ofReliable(this.source as InboxMessage);
  }
}

/**
 * The encodings of reliable messages, one per message object: every device of
 * a user — and every node-local read that returns the same object — shares
 * them. Weakly held: an encoding lives as long as its message is referenced.
 *
 * A live message is offered to the user's devices one after the other, right
 * after it is stored: `of(m, true)` shares its encoding through the last
 * message asked for, without a WeakMap entry (an insert per message cost more
 * than building the encoding, issue 20). A later read of it (replay, resend)
 * asks without `live` and keeps its encoding in the WeakMap from then on.
 */
export class ReliableEncodings {
  private readonly cache = new WeakMap<InboxMessage, EncodedFrame>();
  private last: InboxMessage | undefined;
  private lastFrame: EncodedFrame | undefined;

  of(m: InboxMessage, live = false): EncodedFrame {
    if (m === this.last) return this.lastFrame!;
    let e = this.cache.get(m);
    if (e === undefined) {
      e = EncodedFrame.ofReliable(m);
      if (!live) this.cache.set(m, e);
    }
    this.last = m;
    this.lastFrame = e;
    return e;
  }
}
