// A SWIM/Lifeguard failure detector for a full mesh of admitted links (hashicorp/memberlist's ideas, adapted to
// links that already exist between every pair of nodes):
// - every heartbeat interval, a HEARTBEAT (carrying this node's incarnation) goes to up to BEATS_PER_TICK peers,
//   taken in turn, so each peer gets one every `rounds` intervals (1 up to BEATS_PER_TICK peers): what a node
//   sends and reads per second stays bounded however large the cluster (a full mesh of 54 processes beating all
//   every 250 ms kept 2 cores busy); anything that arrives from a peer counts as a sign of life;
// - a peer silent for SUSPECT_AFTER_BEATS of its beats (intervals x rounds) is suspected: SUSPECT goes to every peer (the suspect too,
//   so that it can refute), PING_REQ asks up to INDIRECT_CHECKS other members when they last heard from it,
//   and its UDP address is probed (see port-probe.ts); a SUSPECT from another member also probes the address at
//   once, so a node whose own timeouts are scaled up by overload still finds a crashed peer as fast as the others;
// - the suspicion lasts between failureTimeoutMs and twice that, shorter as other members confirm they cannot
//   hear the peer either (their SUSPECT, or a PING_ACK older than the suspicion); see suspicion.ts;
// - it ends well if anything arrives from the peer, if another member heard from it well after this node last did,
//   or if the peer refutes (SUSPECT of itself at its current incarnation: it raises its incarnation and tells
//   everyone); it ends in death when the deadline passes or the peer's address refuses a probe;
// - local health (awareness.ts): late ticks, unanswered PING_REQs and refutations scale this node's timeouts up,
//   and the time this node itself was stalled is not counted as anyone's silence.
import { Awareness } from './awareness.js';
import { systemClock, type Clock } from './clock.js';
import type { DeathReason, DetectorLinks, FailureDetector, FailureStats } from './failure-detector.js';
import { decodeControl, encodeControl, type ControlMessage } from './messages.js';
import { probePort, type PeerAddress, type PortProbe } from './port-probe.js';
import { Suspicion } from './suspicion.js';

/** A peer silent for this many of its heartbeats is suspected. */
export const SUSPECT_AFTER_BEATS = 3;
/** Peers sent a heartbeat per interval, at most; with more peers each gets one every ceil(peers / this) intervals. */
export const BEATS_PER_TICK = 16;
/** Members asked to confirm a suspicion (PING_REQ); also the confirmations that bring it to its minimum. */
export const INDIRECT_CHECKS = 3;
/** A suspicion nobody confirms lasts this many times failureTimeoutMs. */
export const UNCONFIRMED_FACTOR = 2;

/** Options of a LifeguardDetector. */
export interface LifeguardOptions {
  /** This node's id (64 hex digits). */
  self: string;
  /** Where messages go and deaths are reported. */
  links: DetectorLinks;
  /** Heartbeat interval, ms. */
  heartbeatMs: number;
  /** A suspected peer is declared dead after this long once other members confirm (up to twice as long). */
  failureTimeoutMs: number;
  /** Time source. @default systemClock */
  clock?: Clock;
  /** Address probe; null turns probing off. @default probePort */
  probe?: PortProbe | null;
  /** Random numbers in [0, 1), to pick whom to ask. @default Math.random */
  random?: () => number;
}

type ProbeState = 'none' | 'calibrating' | 'usable' | 'unusable';

interface Peer {
  readonly id: string;
  readonly address: () => PeerAddress | null;
  /** Last direct contact (raw clock time). */
  heardAt: number;
  /** Last sign of life, direct or through another member, moved forward by the time this node was stalled. */
  aliveAt: number;
  /** Highest incarnation seen for this peer. */
  incarnation: number;
  suspicion: Suspicion | null;
  probe: ProbeState;
  probing: boolean;
  /** When the calibration probe was refused (then probes count only while nothing was heard since). */
  refusedAt: number;
}

interface PendingPing {
  target: string;
  asked: Set<string>;
  answered: number;
  deadline: number;
}

export class LifeguardDetector implements FailureDetector {
  private readonly clock: Clock;
  private readonly probe: PortProbe | null;
  private readonly random: () => number;
  private readonly awareness: Awareness;
  private readonly peers = new Map<string, Peer>();
  /** SUSPECTs other members sent about a peer this node does not suspect (yet): target -> sender -> incarnation. */
  private readonly rumours = new Map<string, Map<string, { incarnation: number; at: number }>>();
  private readonly pings = new Map<number, PendingPing>();
  private readonly counters = { suspicions: 0, recovered: 0, refutations: 0, deaths: 0, refusedDeaths: 0 };
  private incarnation = 0;
  private seq = 0;
  /** Where the next tick's heartbeats start in the peer list (they go round it BEATS_PER_TICK at a time). */
  private beatCursor = 0;
  private lastTick: number | null = null;
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;

  constructor(private readonly o: LifeguardOptions) {
    this.clock = o.clock ?? systemClock;
    this.probe = o.probe === undefined ? probePort : o.probe;
    this.random = o.random ?? Math.random;
    this.awareness = new Awareness(this.clock, 8, 4 * o.heartbeatMs);
  }

  /** This node's incarnation: raised each time it refutes a suspicion of itself. */
  get selfIncarnation(): number {
    return this.incarnation;
  }

  add(id: string, address: () => PeerAddress | null): void {
    if (this.stopped || id === this.o.self) return;
    const now = this.clock.now();
    const peer: Peer = {
      id, address, heardAt: now, aliveAt: now, incarnation: 0, suspicion: null, probe: 'none', probing: false,
      refusedAt: -Infinity,
    };
    this.peers.set(id, peer);
    // Calibration: an address that refuses a probe while its peer is plainly alive (some NAT or firewall in
    // the way) proves nothing later, so probes are trusted only where the first one was not refused, or, if
    // it was, as long as nothing was heard from the peer since (it died just then).
    if (this.probe && address()) {
      peer.probe = 'calibrating';
      this.runProbe(peer, (refused) => {
        peer.probe = refused ? 'unusable' : 'usable';
        if (refused) peer.refusedAt = this.clock.now();
      });
    }
  }

  remove(id: string): void {
    this.peers.delete(id);
    this.rumours.delete(id);
  }

  heard(id: string): void {
    const peer = this.peers.get(id);
    if (!peer) return;
    const now = this.clock.now();
    peer.heardAt = now;
    if (now > peer.aliveAt) peer.aliveAt = now;
    if (peer.suspicion) this.recover(peer);
  }

  receive(from: string, payload: Buffer): boolean {
    const m = decodeControl(payload);
    if (!m) return false;
    if (!this.stopped) this.handle(from, m);
    return true;
  }

  lastHeard(id: string): number | undefined {
    if (id === this.o.self) return this.clock.now();
    return this.peers.get(id)?.heardAt;
  }

  stats(): FailureStats {
    return { ...this.counters, healthMultiplier: this.awareness.multiplier() };
  }

  start(): void {
    if (this.timer || this.stopped) return;
    this.lastTick = this.clock.now();
    this.timer = setInterval(() => this.tick(), this.o.heartbeatMs);
    this.timer.unref();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.peers.clear();
    this.rumours.clear();
    this.pings.clear();
  }

  /** One heartbeat interval: measure own lateness, beat, suspect the silent, settle suspicions and asks. */
  tick(): void {
    if (this.stopped) return;
    const now = this.clock.now();
    const { heartbeatMs } = this.o;
    const late = this.lastTick === null ? 0 : Math.max(0, now - this.lastTick - heartbeatMs);
    this.lastTick = now;
    this.awareness.tick(late, heartbeatMs / 2);
    const beat = encodeControl({ type: 'heartbeat', incarnation: this.incarnation });
    const peers = [...this.peers.values()];
    if (late > 0) {
      for (const peer of peers) {
        // While this node was stalled nothing could be read: that time is not the peers' silence.
        peer.aliveAt = Math.min(now, peer.aliveAt + late);
        peer.suspicion?.pause(late);
      }
    }
    const beats = Math.min(BEATS_PER_TICK, peers.length);
    const links = this.o.links;
    for (let i = 0; i < beats; i++) {
      const id = peers[(this.beatCursor + i) % peers.length]!.id;
      if (links.beat) links.beat(id, beat);
      else links.send(id, beat);
    }
    this.beatCursor = peers.length > 0 ? (this.beatCursor + beats) % peers.length : 0;
    const suspectAfter = this.awareness.scale(SUSPECT_AFTER_BEATS * this.beatPeriod());
    for (const peer of [...this.peers.values()]) {
      if (this.peers.get(peer.id) !== peer) continue; // declared dead earlier in this loop
      if (!peer.suspicion) {
        if (now - peer.aliveAt > suspectAfter) this.suspect(peer, now);
      } else if (peer.suspicion.expired()) {
        this.declareDead(peer, 'timeout');
      } else if (probeable(peer) && !peer.probing) {
        this.probeSuspect(peer);
      }
    }
    for (const [seq, ping] of this.pings) {
      if (now < ping.deadline) continue;
      this.pings.delete(seq);
      // Nobody answered at all: more likely this node is slow than all of them (memberlist's missed nacks).
      if (ping.answered === 0) this.awareness.applyDelta(1);
    }
    const forgetBefore = now - UNCONFIRMED_FACTOR * this.o.failureTimeoutMs;
    for (const [target, from] of this.rumours) {
      for (const [id, r] of from) if (r.at < forgetBefore) from.delete(id);
      if (from.size === 0) this.rumours.delete(target);
    }
  }

  /**
   * How often a peer hears a heartbeat from this node, and so (every node seeing about the same members) how often
   * this node should hear one from each peer: the interval times the rounds it takes to beat every peer.
   */
  beatPeriod(): number {
    return this.o.heartbeatMs * Math.max(1, Math.ceil(this.peers.size / BEATS_PER_TICK));
  }

  private handle(from: string, m: ControlMessage): void {
    const now = this.clock.now();
    switch (m.type) {
      case 'heartbeat': {
        const peer = this.peers.get(from);
        if (peer && m.incarnation > peer.incarnation) peer.incarnation = m.incarnation;
        return;
      }
      case 'suspect': {
        if (m.target === this.o.self) return this.refute(from, m.incarnation);
        const peer = this.peers.get(m.target);
        if (!peer || m.incarnation < peer.incarnation || from === m.target) return; // stale: it refuted since
        if (peer.suspicion && m.incarnation >= peer.suspicion.incarnation) {
          peer.suspicion.confirm(from);
          return;
        }
        let heard = this.rumours.get(m.target);
        if (!heard) this.rumours.set(m.target, (heard = new Map()));
        heard.set(from, { incarnation: m.incarnation, at: now });
        // Another member cannot hear the peer: ask its address now. A refusal means its process is gone, so this
        // node does not wait for its own (health-scaled) suspicion: a busy node learns of a crash as fast as an
        // idle one. A live or stalled peer's port stays silent, and then nothing changes.
        if (!peer.suspicion && probeable(peer) && !peer.probing) {
          this.runProbe(peer, (refused) => {
            if (!refused || peer.suspicion || peer.heardAt >= now || this.peers.get(peer.id) !== peer) return;
            this.declareDead(peer, 'refused');
          });
        }
        return;
      }
      case 'ping-req': {
        const peer = this.peers.get(m.target);
        const agoMs = m.target === this.o.self ? 0 : peer ? Math.round(now - peer.heardAt) : null;
        const incarnation = m.target === this.o.self ? this.incarnation : peer?.incarnation ?? 0;
        this.o.links.send(from, encodeControl({ type: 'ping-ack', seq: m.seq, target: m.target, agoMs, incarnation }));
        return;
      }
      case 'ping-ack': {
        const ping = this.pings.get(m.seq);
        if (!ping || ping.target !== m.target || !ping.asked.delete(from)) return;
        ping.answered++;
        const peer = this.peers.get(m.target);
        const suspicion = peer?.suspicion;
        if (!peer || !suspicion) return;
        const contactAt = m.agoMs === null ? -Infinity : now - m.agoMs;
        // Every peer gets a heartbeat once per beat period: a member that heard from the suspect more than one
        // period after this node last did saw it alive since (this link is the problem); one that did not
        // cannot hear it either, and confirms.
        if (contactAt > peer.aliveAt + this.beatPeriod() || m.incarnation > suspicion.incarnation) {
          peer.aliveAt = Math.max(peer.aliveAt, Math.min(now, contactAt));
          this.recover(peer);
        } else {
          suspicion.confirm(from);
        }
        return;
      }
    }
  }

  /** Someone suspects this node: if at its current incarnation, raise it and tell every peer. */
  private refute(from: string, incarnation: number): void {
    if (incarnation < this.incarnation) {
      this.o.links.send(from, encodeControl({ type: 'heartbeat', incarnation: this.incarnation }));
      return;
    }
    this.incarnation = incarnation + 1;
    this.counters.refutations++;
    // Being suspected means others could not hear this node: most likely it was the slow one.
    this.awareness.applyDelta(1);
    const beat = encodeControl({ type: 'heartbeat', incarnation: this.incarnation });
    for (const id of this.peers.keys()) this.o.links.send(id, beat);
    if (!this.peers.has(from)) this.o.links.send(from, beat);
  }

  private suspect(peer: Peer, now: number): void {
    const others = [...this.peers.keys()].filter((id) => id !== peer.id);
    const expected = Math.min(INDIRECT_CHECKS, others.length);
    const min = this.awareness.scale(this.o.failureTimeoutMs);
    const suspicion = new Suspicion(peer.incarnation, expected, min, UNCONFIRMED_FACTOR * min, this.clock);
    for (const [from, r] of this.rumours.get(peer.id) ?? []) {
      if (r.incarnation >= peer.incarnation) suspicion.confirm(from);
    }
    this.rumours.delete(peer.id);
    peer.suspicion = suspicion;
    this.counters.suspicions++;
    const suspect = encodeControl({ type: 'suspect', target: peer.id, incarnation: peer.incarnation });
    for (const id of this.peers.keys()) this.o.links.send(id, suspect);
    const asked = pick(others, INDIRECT_CHECKS, this.random);
    if (asked.length > 0) {
      const seq = (this.seq = (this.seq + 1) >>> 0);
      this.pings.set(seq, {
        target: peer.id, asked: new Set(asked), answered: 0, deadline: now + this.awareness.scale(2 * this.o.heartbeatMs),
      });
      const ask = encodeControl({ type: 'ping-req', seq, target: peer.id });
      for (const id of asked) this.o.links.send(id, ask);
    }
    if (probeable(peer)) this.probeSuspect(peer);
  }

  private recover(peer: Peer): void {
    peer.suspicion = null;
    this.counters.recovered++;
  }

  private probeSuspect(peer: Peer): void {
    const suspicion = peer.suspicion;
    this.runProbe(peer, (refused) => {
      // Only a refusal while still suspected, with nothing heard since the suspicion began, is a death.
      if (!refused || peer.suspicion !== suspicion || !suspicion || peer.heardAt >= suspicion.since) return;
      if (this.peers.get(peer.id) === peer) this.declareDead(peer, 'refused');
    });
  }

  private runProbe(peer: Peer, then: (refused: boolean) => void): void {
    const address = peer.address();
    if (!this.probe || !address || peer.probing) return;
    peer.probing = true;
    this.probe(address, Math.min(this.o.heartbeatMs, 500)).then((refused) => {
      peer.probing = false;
      if (!this.stopped) then(refused);
    }, () => { peer.probing = false; });
  }

  private declareDead(peer: Peer, reason: DeathReason): void {
    this.peers.delete(peer.id);
    this.rumours.delete(peer.id);
    this.counters.deaths++;
    if (reason === 'refused') this.counters.refusedDeaths++;
    this.o.links.dead(peer.id, reason);
  }
}

/** Whether a refused probe of `peer` would mean its process is gone (see the calibration in add()). */
function probeable(peer: Peer): boolean {
  return peer.probe === 'usable' || (peer.probe === 'unusable' && peer.heardAt < peer.refusedAt);
}

/** Up to `k` distinct entries of `from`, chosen at random. */
function pick(from: readonly string[], k: number, random: () => number): string[] {
  const pool = from.slice();
  const out: string[] = [];
  while (out.length < k && pool.length > 0) {
    const i = Math.floor(random() * pool.length);
    out.push(pool[i]!);
    pool[i] = pool[pool.length - 1]!;
    pool.pop();
  }
  return out;
}
