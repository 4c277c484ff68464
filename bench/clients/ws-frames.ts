/**
 * Just enough RFC 6455 for the bench's bare-socket load clients (lean-subscribers.ts, lean-storm-clients.ts): masked
 * client frames out (the mask key is zero, which RFC 6455 allows: the server XORs with it as with any other) and
 * unmasked server frames in.
 */

/** A masked client frame (FIN + opcode) with a zero mask key around `payload`. */
export function clientFrame(opcode: number, payload: Buffer): Buffer {
  const n = payload.length;
  const head = n < 126 ? 2 : 4;
  const out = Buffer.alloc(head + 4 + n);
  out[0] = 0x80 | opcode;
  if (n < 126) out[1] = 0x80 | n;
  else {
    out[1] = 0x80 | 126;
    out.writeUInt16BE(n, 2);
  }
  // bytes head..head+3: mask key 0,0,0,0 (Buffer.alloc zeroed them), so the payload goes as is
  payload.copy(out, head + 4);
  return out;
}
export const text = (s: string) => clientFrame(0x1, Buffer.from(s));

/**
 * Splits `data` (after any saved partial frame) into complete server frames and calls `onFrame(opcode,
 * payload)` for each; returns what is left of an incomplete frame (or null).
 */
export function frames(rest: Buffer | null, data: Buffer, onFrame: (opcode: number, payload: Buffer) => void): Buffer | null {
  let buf = rest ? Buffer.concat([rest, data]) : data;
  for (;;) {
    if (buf.length < 2) break;
    const opcode = buf[0]! & 0x0f;
    let len = buf[1]! & 0x7f;
    let at = 2;
    if (len === 126) {
      if (buf.length < 4) break;
      len = buf.readUInt16BE(2);
      at = 4;
    } else if (len === 127) {
      if (buf.length < 10) break;
      len = Number(buf.readBigUInt64BE(2));
      at = 10;
    }
    if (buf.length < at + len) break;
    onFrame(opcode, buf.subarray(at, at + len));
    buf = buf.subarray(at + len);
  }
  return buf.length > 0 ? Buffer.from(buf) : null;
}
