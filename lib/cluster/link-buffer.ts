// Reassembly of length-prefixed frames from the chunks a stream delivers (see hyperswarm-membership.ts).

/** Received bytes not yet parsed into frames. */
export interface ReceiveBuffer {
  chunks: Buffer[];
  buffered: number;
}

/** Reads the u32 length prefix at the start of the buffer (it may span chunks); needs buffered >= 4. */
export function peekLength(rx: ReceiveBuffer): number {
  const first = rx.chunks[0]!;
  if (first.length >= 4) return first.readUInt32BE(0);
  const head = Buffer.allocUnsafe(4);
  let offset = 0;
  for (const chunk of rx.chunks) {
    offset += chunk.copy(head, offset, 0, Math.min(chunk.length, 4 - offset));
    if (offset === 4) break;
  }
  return head.readUInt32BE(0);
}

/** Removes and returns the first `n` received bytes (a view if they lie in one chunk, a copy otherwise). */
export function take(rx: ReceiveBuffer, n: number): Buffer {
  rx.buffered -= n;
  const first = rx.chunks[0]!;
  if (first.length >= n) {
    if (first.length === n) rx.chunks.shift();
    else rx.chunks[0] = first.subarray(n);
    return first.subarray(0, n);
  }
  const out = Buffer.allocUnsafe(n);
  let offset = 0;
  while (offset < n) {
    const chunk = rx.chunks[0]!;
    const k = Math.min(chunk.length, n - offset);
    chunk.copy(out, offset, 0, k);
    offset += k;
    if (k === chunk.length) rx.chunks.shift();
    else rx.chunks[0] = chunk.subarray(k);
  }
  return out;
}

/** Writes queued frames as [u32 length][kind][frame] each, into one buffer of `bytes` (5 + length per frame). */
export function packFrames(out: Buffer, offset: number, kind: number, frames: readonly Buffer[]): number {
  for (const frame of frames) {
    out.writeUInt32BE(frame.length + 1, offset);
    out[offset + 4] = kind;
    frame.copy(out, offset + 5);
    offset += 5 + frame.length;
  }
  return offset;
}
