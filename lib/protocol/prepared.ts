import type { Message } from './types.js';

/**
 * A server frame serialized once and framed once per wire format, shared by every recipient
 * ("encode once, write many"). Each format is built on first use and cached.
 */
export class Prepared {
  private jsonText: string | undefined;
  private wsFrame: Buffer | undefined;
  private sseEvent: Buffer | undefined;

  /** `type` is the frame's type, which is also the SSE event name. */
  constructor(readonly type: string, readonly frame: object) {}

  /** The frame as one line of JSON (long-poll bodies, SSE data). */
  json(): string {
    return (this.jsonText ??= JSON.stringify(this.frame));
  }

  /** A complete unmasked WebSocket text frame (RFC 6455 5.2) holding the JSON. */
  ws(): Buffer {
    return (this.wsFrame ??= wsTextFrame(this.json()));
  }

  /**
   * `event:` and `data:` lines of an SSE event, ending with the blank line. JSON.stringify never emits
   * CR or LF (they are escaped inside strings), so data can never break the event framing.
   */
  sse(): Buffer {
    return (this.sseEvent ??= Buffer.from(`event: ${this.type}\ndata: ${this.json()}\n\n`));
  }
}

/** The client-facing frame of a stored message (drops internal fields such as `time`). */
export function messageFrame(m: Message): Prepared {
  const frame: Record<string, unknown> = { type: 'message', channel: m.channel, epoch: m.epoch, offset: m.offset, data: m.data };
  if (m.from !== undefined) frame.from = m.from;
  return new Prepared('message', frame);
}

/**
 * Frames text as a single final unmasked WebSocket frame. Hand-written rather than ws's internal
 * Sender.frame (not a public API): the header is 2, 4 or 10 bytes and fully specified by RFC 6455.
 */
export function wsTextFrame(text: string): Buffer {
  const len = Buffer.byteLength(text);
  const head = len < 126 ? 2 : len < 65536 ? 4 : 10;
  const buf = Buffer.allocUnsafe(head + len);
  buf[0] = 0x81; // FIN + opcode 1 (text)
  if (head === 2) buf[1] = len;
  else if (head === 4) { buf[1] = 126; buf.writeUInt16BE(len, 2); }
  else { buf[1] = 127; buf.writeUInt32BE(0, 2); buf.writeUInt32BE(len, 6); }
  buf.write(text, head);
  return buf;
}

/**
 * Several message frames for one subscriber, framed once and joined once, shared by every subscriber that takes
 * the whole run: a batch of messages costs each WebSocket one write.
 */
export class PreparedRun {
  private wsFrames: Buffer | undefined;

  constructor(readonly frames: readonly Prepared[]) {}

  /** The WebSocket frames of every message, back to back. */
  ws(): Buffer {
    return (this.wsFrames ??= this.frames.length === 1 ? this.frames[0]!.ws() : Buffer.concat(this.frames.map((f) => f.ws())));
  }
}
