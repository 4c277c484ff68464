// The outgoing side of the cluster's links (hyperswarm-membership.ts owns the links and their incoming side): frames
// queued for a link during one tick leave in one stream write at its end, failure-detector messages ahead of data;
// heartbeats go as datagrams where the link has them.
import type Hyperswarm from 'hyperswarm';
import { FrameKind } from './admission.js';
import { packFrames, type ReceiveBuffer } from './link-buffer.js';
import type { LinkStats } from './membership.js';

/** secret-stream refuses writes of 16 MiB or more: larger batches are written in slices. */
const MAX_WRITE = 8 * 1024 * 1024;

/** One connection to one peer. */
export interface Link extends ReceiveBuffer {
  readonly conn: Hyperswarm.Connection;
  readonly id: string;
  readonly nonce: Buffer;
  gotHello: boolean;
  admitted: boolean;
  closed: boolean;
  url: string;
  timer: NodeJS.Timeout | null;
  /** Frames queued for the next flush: failure-detector messages go out ahead of data. */
  control: Buffer[];
  queue: Buffer[];
  queuedBytes: number;
  scheduled: boolean;
  /** The peer sent a datagram: it reads them, so heartbeats to it go only that way. */
  datagrams: boolean;
}

/** Per-link send queues, flushed once per tick; counts what it sends into the membership's counters. */
export class LinkWriter {
  private dirty: Link[] = [];
  private flushScheduled = false;

  constructor(private readonly counters: LinkStats, private readonly maxFrameBytes: number) {}

  /** Queues a DATA frame, or a CONTROL one (ahead of data), on `link`; false if it is not admitted and open or the frame is too large. */
  queue(link: Link | undefined, frame: Buffer, control: boolean): boolean {
    if (!link || !link.admitted || link.closed || frame.length > this.maxFrameBytes) return false;
    (control ? link.control : link.queue).push(frame);
    link.queuedBytes += 5 + frame.length;
    if (!link.scheduled) {
      link.scheduled = true;
      this.dirty.push(link);
      if (!this.flushScheduled) {
        this.flushScheduled = true;
        queueMicrotask(this.flush);
      }
    }
    return true;
  }

  /**
   * Sends a heartbeat as a datagram where the link has them (UDX): one packet, no stream write and no
   * acknowledgement, about half the packets of a stream frame, and never behind queued data. Until the peer has
   * sent one back (an older node ignores datagrams), the heartbeat also goes by stream.
   */
  beat(link: Link | undefined, payload: Buffer): void {
    if (!link || !link.admitted || link.closed) return;
    if (typeof link.conn.trySend === 'function') {
      const datagram = Buffer.allocUnsafe(1 + payload.length);
      datagram[0] = FrameKind.CONTROL;
      payload.copy(datagram, 1);
      link.conn.trySend(datagram);
      this.counters.controlSent++;
      this.counters.bytesSent += datagram.length;
      if (link.datagrams) return;
    }
    this.queue(link, payload, true);
  }

  /** Forgets every queued flush (the membership stopped). */
  clear(): void {
    this.dirty = [];
  }

  private readonly flush = (): void => {
    this.flushScheduled = false;
    const dirty = this.dirty;
    this.dirty = [];
    for (const link of dirty) {
      link.scheduled = false;
      if (link.closed || link.queuedBytes === 0) continue;
      const out = Buffer.allocUnsafe(link.queuedBytes);
      packFrames(out, packFrames(out, 0, FrameKind.CONTROL, link.control), FrameKind.DATA, link.queue);
      this.counters.controlSent += link.control.length;
      this.counters.framesSent += link.queue.length;
      link.control = [];
      link.queue = [];
      link.queuedBytes = 0;
      for (let at = 0; at < out.length; at += MAX_WRITE) this.write(link, out.subarray(at, at + MAX_WRITE));
    }
  };

  /** Writes `bytes` to the link's stream now (handshake frames, flushed batches). */
  write(link: Link, bytes: Buffer): void {
    this.counters.writes++;
    this.counters.bytesSent += bytes.length;
    link.conn.write(bytes);
  }
}
