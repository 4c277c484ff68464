// Admission and framing of node links (see hyperswarm-membership.ts for the wire layout).
import { createHmac } from 'node:crypto';

/** Frame kinds on the wire (exported for tests that speak the protocol by hand). */
export const FrameKind = { HELLO: 1, PROOF: 2, DATA: 3, CONTROL: 4 } as const;
/** Version byte carried by HELLO; a peer speaking another version is not admitted (2: CONTROL frames). */
export const WIRE_VERSION = 2;

/** The 32-byte discovery topic of a cluster: clusters with different secrets never meet. */
export function clusterTopic(cluster: string, secret: string): Buffer {
  return createHmac('sha256', secret).update(`hashpub/topic/v1\0${cluster}`).digest();
}

/** The admission answer for `nonce`, proving `publicKey` knows the secret of `cluster` and advertises `url`. */
export function admissionProof(secret: string, nonce: Buffer, publicKey: Buffer, cluster: string, url: string): Buffer {
  const c = Buffer.from(cluster);
  const u = Buffer.from(url);
  const u16 = (n: number): Buffer => Buffer.from([n >>> 8, n & 0xff]);
  return createHmac('sha256', secret).update('hashpub/admit/v1\0').update(nonce).update(publicKey)
    .update(u16(c.length)).update(c).update(u16(u.length)).update(u).digest();
}

/** One wire frame: length prefix, kind, then the parts. */
export function frameOf(kind: number, ...parts: Buffer[]): Buffer {
  let body = 1;
  for (const part of parts) body += part.length;
  const out = Buffer.allocUnsafe(4 + body);
  out.writeUInt32BE(body, 0);
  out[4] = kind;
  let at = 5;
  for (const part of parts) at += part.copy(out, at);
  return out;
}

