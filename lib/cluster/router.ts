// Channel routing: rendezvous (highest-random-weight) hashing over the membership view.
// Pure functions, no I/O. Every node computes the same owner from the same member set, whatever its order.
// weight(member, channel) = a 64-bit pseudo-random permutation (3-round Feistel over two 32-bit halves,
// murmur3's fmix32 as round function) of hash64(channel) XOR hash64(member). A member's weight for a channel
// does not depend on the other members, so removing a node moves only its channels and adding one moves only
// the channels it now wins.

// Two-word results go through a scratch array to keep the hot path allocation-free.
const OUT = new Uint32Array(2);

/** Thrown when routing is asked with no members at all. */
export class NoMembersError extends Error {
  /** Stable error code. */
  readonly code = 'ERR_NO_MEMBERS';
  constructor() {
    super('cannot route a channel: the member list is empty');
    this.name = 'NoMembersError';
  }
}

/** The owner of `channel`: the member with the highest rendezvous weight. Throws on an empty list. */
export function ownerOf(channel: string, members: readonly string[]): string {
  const count = members.length;
  if (count === 0) throw new NoMembersError();
  if (count === 1) return members[0]!;
  hashString(channel);
  const ch = OUT[0]!;
  const cl = OUT[1]!;
  let best = '';
  let bestHi = -1;
  let bestLo = -1;
  for (let i = 0; i < count; i++) {
    const id = members[i]!;
    weigh(ch, cl, id);
    const hi = OUT[0]!;
    const lo = OUT[1]!;
    if (outranks(hi, lo, id, bestHi, bestLo, best)) {
      best = id;
      bestHi = hi;
      bestLo = lo;
    }
  }
  return best;
}

/** The `n` distinct members with the highest weights for `channel`, best first (so `[0]` is the owner). */
export function replicasOf(channel: string, members: readonly string[], n: number): string[] {
  if (members.length === 0) throw new NoMembersError();
  if (!Number.isInteger(n) || n < 0) throw new RangeError(`replicasOf: n must be a non-negative integer, got ${n}`);
  if (n === 0) return [];
  if (n === 1) return [ownerOf(channel, members)];
  hashString(channel);
  const ch = OUT[0]!;
  const cl = OUT[1]!;
  // Top-n selection by insertion: members lists are short, so this beats sorting them all.
  const ids: string[] = [];
  const his: number[] = [];
  const los: number[] = [];
  for (const id of members) {
    weigh(ch, cl, id);
    const hi = OUT[0]!;
    const lo = OUT[1]!;
    let at = ids.length;
    while (at > 0 && outranks(hi, lo, id, his[at - 1]!, los[at - 1]!, ids[at - 1]!)) at--;
    // A duplicate has the same weight and id, so it lands right after its twin: skip it.
    if (at >= n || (at > 0 && ids[at - 1] === id)) continue;
    ids.splice(at, 0, id);
    his.splice(at, 0, hi);
    los.splice(at, 0, lo);
    if (ids.length > n) {
      ids.pop();
      his.pop();
      los.pop();
    }
  }
  return ids;
}

/** True if weight (hi, lo) of member `id` ranks above (bhi, blo) of member `bid` (ties: the greater id). */
function outranks(hi: number, lo: number, id: string, bhi: number, blo: number, bid: string): boolean {
  return hi > bhi || (hi === bhi && (lo > blo || (lo === blo && id > bid)));
}

/** The rendezvous weight of `member` for `channel` as an unsigned 64-bit bigint (for tests and tooling). */
export function weightOf(channel: string, member: string): bigint {
  hashString(channel);
  weigh(OUT[0]!, OUT[1]!, member);
  return (BigInt(OUT[0]!) << 32n) | BigInt(OUT[1]!);
}

// Member ids repeat on every call: cache their 64-bit hashes (bounded, cleared when full).
const MEMBER_CACHE_MAX = 4096;
const memberHashes = new Map<string, { hi: number; lo: number }>();

/** Sets OUT to the weight of `member` for the channel whose hash is (ch, cl). */
function weigh(ch: number, cl: number, member: string): void {
  let m = memberHashes.get(member);
  if (m === undefined) {
    hashString(member);
    m = { hi: OUT[0]!, lo: OUT[1]! };
    if (memberHashes.size >= MEMBER_CACHE_MAX) memberHashes.clear();
    memberHashes.set(member, m);
  }
  // 3-round Feistel network: a pseudo-random permutation of the 64-bit value (ch ^ mh, cl ^ ml).
  let l = (ch ^ m.hi) >>> 0;
  let r = (cl ^ m.lo) >>> 0;
  r = (r ^ fmix32((l + 0x9e3779b9) | 0)) >>> 0;
  l = (l ^ fmix32((r + 0x7f4a7c15) | 0)) >>> 0;
  r = (r ^ fmix32((l + 0x85ebca6b) | 0)) >>> 0;
  OUT[0] = l;
  OUT[1] = r;
}

/** Sets OUT to two independent 32-bit hashes of `s` (FNV-1a and a murmur3-style lane), finalized. */
function hashString(s: string): void {
  let a = 0x811c9dc5;
  let b = 0x5bd1e995 ^ s.length;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193);
    let k = Math.imul(c, 0xcc9e2d51);
    k = (k << 15) | (k >>> 17);
    b ^= Math.imul(k, 0x1b873593);
    b = (b << 13) | (b >>> 19);
    b = (Math.imul(b, 5) + 0xe6546b64) | 0;
  }
  OUT[0] = fmix32(a ^ s.length);
  OUT[1] = fmix32(b);
}

/** murmur3's 32-bit finalizer: a bijection with full avalanche. */
function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}
