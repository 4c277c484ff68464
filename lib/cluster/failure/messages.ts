// Failure-detector messages: the payload of CONTROL frames on an admitted link (see hyperswarm-membership.ts).
// Payload = [type u8][fields], integers u32 big-endian, node ids as their 32 raw bytes.
//   HEARTBEAT 1  [incarnation]                         every heartbeat interval, to every peer
//   SUSPECT   2  [target 32][incarnation]              "I cannot hear target (at this incarnation)", to every peer
//   PING_REQ  3  [seq][target 32]                      "when did you last hear from target?"
//   PING_ACK  4  [seq][target 32][ago ms][incarnation] the answer; ago 0xffffffff = never (not a member here)

/** Message type bytes. */
export const ControlType = { HEARTBEAT: 1, SUSPECT: 2, PING_REQ: 3, PING_ACK: 4 } as const;

/** `agoMs` on the wire when the answering node has no contact with the target at all. */
export const NEVER = 0xffffffff;

/** One decoded failure-detector message. */
export type ControlMessage =
  | { type: 'heartbeat'; incarnation: number }
  | { type: 'suspect'; target: string; incarnation: number }
  | { type: 'ping-req'; seq: number; target: string }
  | { type: 'ping-ack'; seq: number; target: string; agoMs: number | null; incarnation: number };

const ID_BYTES = 32;
const u32 = (n: number): number => Math.max(0, Math.min(0xffffffff, Math.floor(n)));

/** Encodes `m`; ids must be 64 hex digits. */
export function encodeControl(m: ControlMessage): Buffer {
  switch (m.type) {
    case 'heartbeat': {
      const out = Buffer.allocUnsafe(5);
      out[0] = ControlType.HEARTBEAT;
      out.writeUInt32BE(u32(m.incarnation), 1);
      return out;
    }
    case 'suspect': {
      const out = Buffer.allocUnsafe(1 + ID_BYTES + 4);
      out[0] = ControlType.SUSPECT;
      out.write(m.target, 1, ID_BYTES, 'hex');
      out.writeUInt32BE(u32(m.incarnation), 1 + ID_BYTES);
      return out;
    }
    case 'ping-req': {
      const out = Buffer.allocUnsafe(1 + 4 + ID_BYTES);
      out[0] = ControlType.PING_REQ;
      out.writeUInt32BE(u32(m.seq), 1);
      out.write(m.target, 5, ID_BYTES, 'hex');
      return out;
    }
    case 'ping-ack': {
      const out = Buffer.allocUnsafe(1 + 4 + ID_BYTES + 8);
      out[0] = ControlType.PING_ACK;
      out.writeUInt32BE(u32(m.seq), 1);
      out.write(m.target, 5, ID_BYTES, 'hex');
      out.writeUInt32BE(m.agoMs === null ? NEVER : Math.min(NEVER - 1, u32(m.agoMs)), 5 + ID_BYTES);
      out.writeUInt32BE(u32(m.incarnation), 9 + ID_BYTES);
      return out;
    }
  }
}

/** Decodes a payload; null for an unknown type or a wrong length (a protocol violation). */
export function decodeControl(b: Buffer): ControlMessage | null {
  const id = (at: number): string => b.toString('hex', at, at + ID_BYTES);
  switch (b[0]) {
    case ControlType.HEARTBEAT:
      return b.length === 5 ? { type: 'heartbeat', incarnation: b.readUInt32BE(1) } : null;
    case ControlType.SUSPECT:
      return b.length === 1 + ID_BYTES + 4 ? { type: 'suspect', target: id(1), incarnation: b.readUInt32BE(1 + ID_BYTES) } : null;
    case ControlType.PING_REQ:
      return b.length === 1 + 4 + ID_BYTES ? { type: 'ping-req', seq: b.readUInt32BE(1), target: id(5) } : null;
    case ControlType.PING_ACK: {
      if (b.length !== 1 + 4 + ID_BYTES + 8) return null;
      const ago = b.readUInt32BE(5 + ID_BYTES);
      return { type: 'ping-ack', seq: b.readUInt32BE(1), target: id(5), agoMs: ago === NEVER ? null : ago, incarnation: b.readUInt32BE(9 + ID_BYTES) };
    }
    default:
      return null;
  }
}
